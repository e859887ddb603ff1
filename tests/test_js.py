"""The banner script's own checks: its unit tests under node and its JSDoc types."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _node(*arguments: str) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    assert node is not None, (
        "node is needed for the JS checks: install Node.js, then npm ci --prefix js"
    )
    return subprocess.run([node, *arguments], cwd=ROOT, capture_output=True, text=True, check=False)


@pytest.mark.slow
def test_js_unit_tests_pass() -> None:
    """`node --test js/test/` runs the script's unit tests and all of them pass."""
    result = _node("--test", "js/test/")
    output = result.stdout + result.stderr
    assert 0 == result.returncode, output
    # The closing count, as the tap ("# tests 28") or spec ("ℹ tests 28") reporter prints it.
    ran = re.search(r"^(?:#|ℹ) tests (\d+)$", result.stdout, re.MULTILINE)
    assert ran is not None, output
    assert 0 < int(ran.group(1)), output


def test_js_type_checks() -> None:
    """`tsc --noEmit -p js` finds no type error in js/src."""
    tsc = ROOT / "js" / "node_modules" / "typescript" / "bin" / "tsc"
    assert tsc.is_file(), f"{tsc} is missing: run npm ci --prefix js"
    result = _node(str(tsc.relative_to(ROOT)), "--noEmit", "-p", "js")
    assert 0 == result.returncode, result.stdout + result.stderr
