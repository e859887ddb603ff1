"""The import contract (pyproject ``[tool.importlinter]``): layers point one way, and the
consent decision stays pure."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT

# import-linter's own command, run by this interpreter (its script may not be on PATH)
LINT_IMPORTS = [
    sys.executable,
    "-c",
    "import sys; from importlinter.cli import lint_imports_command as run; sys.exit(run())",
]


def _lint_imports(cwd: Path, package_root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LINT_IMPORTS, "--no-cache"],
        cwd=cwd,
        env={"PYTHONPATH": str(package_root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_package_keeps_its_contracts() -> None:
    """Every contract is kept by the package as it is."""
    result = _lint_imports(ROOT, ROOT / "middleware")
    assert 0 == result.returncode, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


def _copy_with(tmp_path: Path, module: str, line: str) -> Path:
    """A copy of the package and its contract, with ``line`` added to ``module``."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(
        ROOT / "middleware" / "consentlog",
        tmp_path / "middleware" / "consentlog",
        ignore=shutil.ignore_patterns("__pycache__", "static", "sql", "templates"),
    )
    target = tmp_path / "middleware" / "consentlog" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")
    return tmp_path


def test_a_lower_layer_importing_a_higher_one_is_refused(tmp_path: Path) -> None:
    """The ingest layer importing the ASGI layer breaks the layers contract, by name."""
    copy = _copy_with(tmp_path, "ingest/spool.py", "import consentlog.asgi.middleware")
    result = _lint_imports(copy, copy / "middleware")
    assert 1 == result.returncode, result.stdout + result.stderr
    assert "Layers: each imports only from the layers below it BROKEN" in result.stdout
    assert "consentlog.ingest.spool -> consentlog.asgi.middleware" in result.stdout


def test_the_consent_decision_may_not_reach_storage(tmp_path: Path) -> None:
    """A consent module importing the ClickHouse driver breaks the purity contract."""
    copy = _copy_with(tmp_path, "consent/visit.py", "import clickhouse_connect")
    result = _lint_imports(copy, copy / "middleware")
    assert 1 == result.returncode, result.stdout + result.stderr
    assert "no storage, no network, no logging BROKEN" in result.stdout
