"""`consentlog serve` as an operator runs it: a dedicated owner of an embedded store."""

from __future__ import annotations

import base64
import json
import signal
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from consentlog.store.serving.users import CREDENTIALS_FILE
from tests.helpers import cli_env, free_port, wait_for

pytestmark = pytest.mark.slow  # each test starts processes that open chDB

CLI = [sys.executable, "-m", "consentlog.cli"]


def _get(
    url: str, user: str = "", password: str = "", data: bytes | None = None
) -> tuple[int, str]:
    request = urllib.request.Request(url, data=data)
    if user:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


class Served:
    def __init__(
        self, process: subprocess.Popen[str], base: str, store: Path, head: str = ""
    ) -> None:
        self.process, self.base, self.store = process, base, store
        self.head = head  # what it printed before the test began

    def stop(self) -> tuple[int, str, str]:
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=60)
        return self.process.returncode, self.head + out, err


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    port = free_port()
    store = tmp_path / "store"
    process = subprocess.Popen(
        [*CLI, "serve", "--clickhouse-url", f"chdb://{store}", "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    base = f"http://127.0.0.1:{port}"
    assert process.stdout is not None
    # the first line comes once the store is migrated and served (/ping answers earlier)
    assert process.stdout.readline().startswith("serving chdb:")
    yield Served(process, base, store)
    if process.poll() is None:
        process.kill()
        process.communicate(timeout=30)


def test_serve_answers_as_clickhouse_does_and_shows_generated_passwords_once(
    served: Served,
) -> None:
    """`/ping` is `Ok.`; the generated passwords are printed once and kept 0600; the analyst
    reads but cannot write; SIGTERM stops it cleanly; a second start prints none."""
    assert served.process.stdout is not None
    shown = served.process.stdout.readline()  # after the "serving …" line
    assert (200, "Ok.\n") == _get(served.base + "/ping")
    passwords = json.loads((served.store / CREDENTIALS_FILE).read_text())
    assert 0o600 == stat.S_IMODE((served.store / CREDENTIALS_FILE).stat().st_mode)
    status, body = _get(
        served.base + "/?query=SELECT+count()+FROM+system.tables+WHERE+database%3D'consentlog'",
        "analyst",
        passwords["analyst"],
    )
    assert 200 == status
    assert int(body) >= 3  # serve migrated the schema
    status, body = _get(
        served.base + "/",
        "analyst",
        passwords["analyst"],
        b"CREATE TABLE x (a Int8) ENGINE = Memory",
    )
    assert (403, True) == (status, "READONLY" in body)
    assert 401 == _get(served.base + "/?query=SELECT+1", "analyst", "wrong")[0]
    code, out, err = served.stop()
    assert 0 == code
    assert "" == err
    assert "consentlog serve: stopped" in out
    assert passwords["consentlog"] in shown
    assert passwords["analyst"] in shown
    port = free_port()
    again = subprocess.Popen(
        [
            *CLI,
            "serve",
            "--clickhouse-url",
            f"chdb://{served.store}",
            "--listen",
            f"127.0.0.1:{port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    wait_for(f"http://127.0.0.1:{port}/ping")
    code, out, err = Served(again, "", served.store).stop()
    assert (0, "") == (code, err)
    assert passwords["analyst"] not in out


def test_a_second_serve_is_refused_in_one_line(served: Served) -> None:
    """While one process owns the store, `serve` names it and exits 1."""
    other = subprocess.run(
        [*CLI, "serve", "--clickhouse-url", f"chdb://{served.store}", "--listen", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=60,
        check=False,
    )
    assert 1 == other.returncode
    assert f"pid {served.process.pid}" in other.stderr
    assert 1 == len(other.stderr.strip().splitlines()), other.stderr


def test_the_cli_works_through_serve(served: Served) -> None:
    """`consentlog sql` on the served store goes through `serve`."""
    done = subprocess.run(
        [*CLI, "sql", "SELECT 6 * 7 AS answer", "--clickhouse-url", f"chdb://{served.store}"],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=60,
        check=False,
    )
    assert 0 == done.returncode, done.stderr
    assert "42" in done.stdout


@pytest.mark.parametrize(
    ("env", "extra", "says"),
    [
        ({}, [], "needs explicit passwords"),
        (
            {"CONSENTLOG_SERVE_PASSWORD": "a" * 24, "CONSENTLOG_SERVE_ANALYST_PASSWORD": "b" * 24},
            [],
            "needs TLS",
        ),
    ],
)
def test_beyond_loopback_needs_passwords_and_tls(
    tmp_path: Path, env: dict[str, str], extra: list[str], says: str
) -> None:
    """A non-loopback address is refused without explicit passwords, then without TLS or
    --behind-proxy — before anything listens."""
    done = subprocess.run(
        [
            *CLI,
            "serve",
            "--clickhouse-url",
            f"chdb://{tmp_path / 's'}",
            "--listen",
            "0.0.0.0:0",
            *extra,
        ],
        capture_output=True,
        text=True,
        env={**cli_env(), **env},
        timeout=60,
        check=False,
    )
    assert 1 == done.returncode
    assert says in done.stderr
    assert not (tmp_path / "s").exists()


def test_serve_refuses_a_server_url(tmp_path: Path) -> None:
    """A ClickHouse server serves itself: `serve` says so."""
    done = subprocess.run(
        [*CLI, "serve", "--clickhouse-url", "http://127.0.0.1:1"],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=60,
        check=False,
    )
    assert 1 == done.returncode
    assert "serves an embedded store" in done.stderr


def test_loopback_is_an_address_not_a_prefix() -> None:
    """Only loopback addresses (and localhost) count as loopback; a name that starts with
    127. does not."""
    from consentlog.store.serving.server import is_loopback

    assert [True, True, True, False, False] == [
        is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "127.evil.example", "0.0.0.0")
    ]
