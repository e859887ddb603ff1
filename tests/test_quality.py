"""Repository-wide checks: lint, strict typing, and the banner's size budget."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff_is_clean() -> None:
    """`ruff check` and `ruff format --check` find nothing."""
    lint = _run(sys.executable, "-m", "ruff", "check", ".")
    assert 0 == lint.returncode, lint.stdout + lint.stderr
    fmt = _run(sys.executable, "-m", "ruff", "format", "--check", ".")
    assert 0 == fmt.returncode, fmt.stdout + fmt.stderr


def test_mypy_strict_is_clean() -> None:
    """`mypy --strict` on the package finds nothing."""
    result = _run(sys.executable, "-m", "mypy", "--strict")
    assert 0 == result.returncode, result.stdout + result.stderr


def test_banner_assets_are_fresh_and_within_budget() -> None:
    """The served banner JS/CSS are the build of js/src and within their gzip budgets."""
    node = shutil.which("node")
    assert node is not None, "node is needed to build the banner assets"
    result = _run(node, "js/build.mjs", "--check")
    print(result.stdout)
    assert 0 == result.returncode, result.stdout + result.stderr
    assert "banner.js" in result.stdout
    assert "banner.css" in result.stdout
