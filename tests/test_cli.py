"""The `consentlog` command as a user runs it, in separate processes."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from consentlog.store.schema import MIGRATIONS
from tests.helpers import cli_env, free_port, wait_for

CLI = [sys.executable, "-m", "consentlog.cli"]


def _run(args: list[str], cwd: Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_demo_serves_logs_and_sql_reads_it(tmp_path: Path) -> None:
    """`consentlog demo` serves pages into ./.consentlog; `sql` and `status` work while it
    runs (through the demo, which owns the store); after SIGTERM, `sql` reads them."""
    port = free_port()
    demo = subprocess.Popen(
        [*CLI, "demo", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(base + "/")
        for path in ("/docs", "/pricing"):
            with urllib.request.urlopen(base + path) as response:
                body = response.read().decode()
                assert 'id="cl-banner"' in body
                assert response.headers.get_all("set-cookie") is None
        meanwhile = _run(["sql", "SELECT 40 + 2 AS answer"], tmp_path)
        assert 0 == meanwhile.returncode, meanwhile.stderr
        assert "42" in meanwhile.stdout
        assert "" == meanwhile.stderr
        # the writer leaves its figures after each cycle (ingest/status.py): on a busy
        # machine the first may not have ended yet
        deadline = time.monotonic() + 30
        while True:
            status = _run(["status", "--format", "json"], tmp_path)
            assert 0 == status.returncode, status.stderr
            figures = json.loads(status.stdout)
            if figures["writers"] or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert 1 <= figures["writers"]
        assert "running, owner" in figures[f"writer {demo.pid}"]
        for command in (
            ["report", "--days", "1"],
            ["export", "--visitor", "0" * 32],
            ["forget", "--visitor", "0" * 32],
        ):
            done = _run(command, tmp_path)
            assert 0 == done.returncode, (command, done.stderr)
    finally:
        demo.send_signal(signal.SIGTERM)
        out, _ = demo.communicate(timeout=60)
    assert f"http://127.0.0.1:{port}/" in out
    assert (tmp_path / ".consentlog").is_dir()
    result = _run(
        [
            "sql",
            "--format",
            "json",
            "SELECT path, consent_state, visitor_id FROM consentlog.page_requests ORDER BY ts",
        ],
        tmp_path,
    )
    assert 0 == result.returncode, result.stderr
    assert [
        {"path": "/", "consent_state": "unknown", "visitor_id": ""},
        {"path": "/docs", "consent_state": "unknown", "visitor_id": ""},
        {"path": "/pricing", "consent_state": "unknown", "visitor_id": ""},
    ] == json.loads(result.stdout)


def test_sql_table_output_and_errors(tmp_path: Path) -> None:
    """`sql` prints a table; a bad query is one line on stderr and exit 1."""
    url = f"chdb://{tmp_path / 'store'}"
    table = _run(["sql", "--clickhouse-url", url, "SELECT 1 AS one, 'x' AS letter"], tmp_path)
    assert 0 == table.returncode, table.stderr
    assert ["one  letter", "---  ------", "1    x"] == table.stdout.splitlines()
    bad = _run(["sql", "--clickhouse-url", url, "SELEC nonsense"], tmp_path)
    assert 1 == bad.returncode
    assert 1 == len(bad.stderr.strip().splitlines())


def test_migrate_is_idempotent(tmp_path: Path) -> None:
    """`migrate` applies version 1 once, then reports the schema up to date."""
    url = f"chdb://{tmp_path / 'store'}"
    first = _run(["migrate", "--clickhouse-url", url], tmp_path)
    assert 0 == first.returncode, first.stderr
    assert f"applied {[m.version for m in MIGRATIONS]}" in first.stdout
    second = _run(["migrate", "--clickhouse-url", url], tmp_path)
    assert "schema is up to date" == second.stdout.strip()


def test_store_commands_ignore_page_options(tmp_path: Path) -> None:
    """A bad variable for a page option (not the store's) does not stop a store command."""
    env = {**cli_env(), "CONSENTLOG_SECURE_COOKIES": "sometimes"}
    done = subprocess.run(
        [*CLI, "migrate", "--dry-run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert 0 == done.returncode, done.stderr
    assert "CREATE TABLE IF NOT EXISTS consentlog.page_requests" in done.stdout


def test_version_is_printed() -> None:
    """`consentlog --version` names the package version."""
    import consentlog

    done = subprocess.run([*CLI, "--version"], capture_output=True, text=True, check=False)
    assert f"consentlog {consentlog.__version__}" == done.stdout.strip()


def test_an_unknown_option_is_reported_by_its_command(tmp_path: Path) -> None:
    """The subcommand that got an unknown option says so, with its own usage line."""
    done = _run(["sql", "--bogus", "SELECT 1"], tmp_path)
    assert 2 == done.returncode
    assert "consentlog sql: error: unrecognized arguments: --bogus" in done.stderr
    assert "usage: consentlog sql" in done.stderr


def test_read_only_commands_never_create_a_store(tmp_path: Path) -> None:
    """`status` and `report` on a mistyped store path fail in one line and create nothing."""
    typo = tmp_path / "typo"
    for command in (["status"], ["report", "--days", "7"], ["export", "--visitor", "v"]):
        done = _run([*command, "--clickhouse-url", f"chdb:{typo}"], tmp_path)
        assert 1 == done.returncode, command
        assert [f"consentlog: no consentlog store at {typo}: check --clickhouse-url /"
                " CONSENTLOG_CLICKHOUSE_URL, or create it with `consentlog migrate`"] == (
            done.stderr.strip().splitlines()
        )  # fmt: skip
    assert not typo.exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--days", "0"], "--days 0: use a number of days from 1 to 1098"),
        (["--days", "-3"], "--days -3: use a number of days"),
        (["--start", "2026-01-05", "--end", "2026-01-01"], "is after --end 2026-01-01: swap"),
        (["--start", "2026-01-05", "--days", "3"], "give --start (with --end) or --days"),
        (["--start", "2020-01-01", "--end", "2026-01-01"], "is longer than 1098 days"),
    ],
)
def test_report_ranges_are_checked(tmp_path: Path, options: list[str], message: str) -> None:
    """`report` refuses a range the dashboard would refuse, in one line, before any query."""
    done = _run(["report", *options], tmp_path)
    assert 1 == done.returncode
    assert message in done.stderr
    assert 1 == len(done.stderr.strip().splitlines())


def test_demo_on_a_busy_port_is_one_line(tmp_path: Path) -> None:
    """A port in use is one line and exit 1, and no URL is printed for a server not there."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = _run(["demo", "--port", str(port)], tmp_path)
    assert 1 == done.returncode
    assert [
        f"consentlog: cannot listen on 127.0.0.1:{port}: [Errno 98] Address already in use"
    ] == (done.stderr.strip().splitlines())
    assert "http://" not in done.stdout
    bad = _run(["demo", "--port", "99999"], tmp_path)
    assert 2 == bad.returncode
    assert "'99999' is not a port" in bad.stderr


def test_stored_control_characters_are_printed_escaped(tmp_path: Path) -> None:
    """An ANSI escape or newline in stored data reaches the terminal as text, not as control."""
    url = f"chdb://{tmp_path / 'store'}"
    done = _run(["sql", "--clickhouse-url", url, "SELECT 'a\\x1b[31mred\\nb' AS v"], tmp_path)
    assert 0 == done.returncode, done.stderr
    escaped = "a\\x1b[31mred\\x0ab"
    assert ["v", "-" * len(escaped), escaped] == done.stdout.splitlines()


def test_forget_and_rollup_never_make_a_database(tmp_path: Path) -> None:
    """On a mistyped --database, `forget` and `rollup` fail in one line and create nothing."""
    url = f"chdb://{tmp_path / 'store'}"
    assert 0 == _run(["migrate", "--clickhouse-url", url], tmp_path).returncode
    for command in (["forget", "--visitor", "v"], ["rollup"]):
        done = _run([*command, "--clickhouse-url", url, "--database", "typo"], tmp_path)
        assert 1 == done.returncode, command
        assert "database typo is at schema version 0" in done.stderr
    status = _run(["status", "--clickhouse-url", url, "--database", "typo"], tmp_path)
    assert "0 (latest" in status.stdout
