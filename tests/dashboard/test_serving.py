"""The dashboard served: mounted beside the demo site (behind its login, without the
banner, not logged), and by the ``consentlog dashboard`` command."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from tests.dashboard.support import PASSWORD, SECRET
from tests.helpers import cli_env


def test_demo_mounts_the_dashboard_beside_the_site(
    store_url: str, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo serves the dashboard at /analytics: behind its login, without the banner,
    and not logged as page requests; the site keeps its banner and logging."""
    from consentlog.demo.app import create_demo_app

    monkeypatch.setenv("CONSENTLOG_DASHBOARD_PASSWORD", PASSWORD)
    demo = create_demo_app(
        clickhouse_url=store_url, database=database, secret_keys=[SECRET], flush_interval=0.05
    )
    try:
        client = TestClient(demo)
        assert 'id="cl-banner"' in client.get("/docs").text
        assert demo.writer.flush()  # the writer creates the tables
        response = client.get("/analytics/", follow_redirects=False)
        assert "/analytics/login?next=/analytics/" == response.headers["location"]
        client.post("/analytics/login", data={"secret": PASSWORD})
        page = client.get("/analytics/pages")
        assert 200 == page.status_code
        assert "Page usefulness" in page.text
        assert "cl-banner" not in page.text
        assert demo.writer.flush()
        _, rows = demo.writer.store.query(
            f"SELECT path FROM {demo.settings.database}.page_requests"
        )
        assert [("/docs",)] == rows
    finally:
        demo.writer.stop()


def _cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "consentlog.cli", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_dashboard_command_refuses_to_start_without_a_password(tmp_path: Path) -> None:
    """`consentlog dashboard` without a password or token: one line on stderr, exit 2."""
    process = _cli("dashboard", env=cli_env(), cwd=tmp_path)
    _, err = process.communicate(timeout=60)
    assert 2 == process.returncode
    assert 1 == len(err.strip().splitlines()), err
    assert "CONSENTLOG_DASHBOARD_PASSWORD" in err


def test_dashboard_command_serves_the_dashboard(tmp_path: Path) -> None:
    """`consentlog dashboard --port N` serves the login form, and the password logs in."""
    url = f"chdb://{tmp_path / 'store'}"
    assert 0 == _cli("migrate", "--clickhouse-url", url, env=cli_env(), cwd=tmp_path).wait(60)
    (tmp_path / "password").write_text(PASSWORD + "\n", encoding="utf-8")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = _cli(
        "dashboard", "--clickhouse-url", url, "--port", str(port),
        "--password-file", str(tmp_path / "password"), env=cli_env(), cwd=tmp_path,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/login", timeout=2) as response:
                    assert "Password or token" in response.read().decode()
                    break
            except OSError:
                assert process.poll() is None, process.communicate()[1]
                assert time.monotonic() < deadline
                time.sleep(0.2)
        with httpx.Client(base_url=base) as client:
            client.post("/login", data={"secret": PASSWORD})
            assert 200 == client.get("/api/overview").status_code
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
    assert f"consentlog dashboard: http://127.0.0.1:{port}/" in out
