"""Lifespan: shutdown flushes the event sink however the host application takes the
lifespan scope — speaking it, failing in it, or (like Django) refusing it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.store import embedded_path, ownership
from tests.asgi.test_frameworks import django_app  # noqa: F401 - the fixture
from tests.helpers import ROOT, MakeApp, cli_env

SECRET_40 = "lifespan-test-secret-key-of-forty-bytes!"


class RecordingSink:
    """An event sink that notes when it is stopped, relative to the server's messages."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def submit(self, event: object) -> None:
        self.log.append("event")

    def flush(self, timeout: float = 30.0) -> bool:
        return True

    def stop(self, timeout: float = 10.0) -> bool:
        self.log.append("flushed")
        return True


def run_lifespan(app: Any, log: list[str]) -> None:
    """Play a server's side of lifespan: startup, then shutdown once startup is answered."""
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]

    async def receive() -> Message:
        if not incoming:
            await asyncio.sleep(3600)  # a server sends nothing after shutdown
        return incoming.pop(0)

    async def send(message: Message) -> None:
        log.append(message["type"])

    asyncio.run(asyncio.wait_for(app({"type": "lifespan"}, receive, send), 5))


def _wrapped(host: Any, log: list[str]) -> ConsentMiddleware:
    return ConsentMiddleware(host, secret_keys=[SECRET_40], writer=RecordingSink(log))


async def _refuses(scope: Scope, receive: Receive, send: Send) -> None:
    raise ValueError("Django can only handle ASGI/HTTP connections, not lifespan.")


async def _ignores(scope: Scope, receive: Receive, send: Send) -> None:
    return None


async def _fails_in_shutdown(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "lifespan.startup.complete"})
    await receive()
    raise RuntimeError("cleanup broke")


async def _reports_shutdown_failed(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "lifespan.startup.complete"})
    await receive()
    await send({"type": "lifespan.shutdown.failed", "message": "cleanup broke"})


def test_an_app_that_refuses_lifespan_still_gets_a_flush() -> None:
    """An inner app raising on the lifespan scope: consentlog answers startup and
    shutdown itself, flushing before it reports shutdown complete."""
    for host in (_refuses, _ignores):
        log: list[str] = []
        run_lifespan(_wrapped(host, log), log)
        assert ["lifespan.startup.complete", "flushed", "lifespan.shutdown.complete"] == log


def test_shutdown_failed_flushes_too() -> None:
    """``lifespan.shutdown.failed`` — sent by the app, or for an app that raised in
    shutdown — goes out after the flush."""
    log: list[str] = []
    run_lifespan(_wrapped(_reports_shutdown_failed, log), log)
    assert ["lifespan.startup.complete", "flushed", "lifespan.shutdown.failed"] == log
    log = []
    with pytest.raises(RuntimeError, match="cleanup broke"):
        run_lifespan(_wrapped(_fails_in_shutdown, log), log)
    assert ["lifespan.startup.complete", "flushed", "lifespan.shutdown.failed"] == log


async def _fails_to_start(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    raise RuntimeError("no database")


def test_a_startup_failure_stays_the_apps() -> None:
    """An app that read the startup message and raised failed to start: its error goes
    to the server unchanged, and consentlog does not claim a startup."""
    log: list[str] = []
    with pytest.raises(RuntimeError, match="no database"):
        run_lifespan(_wrapped(_fails_to_start, log), log)
    assert [] == log


def _page_count(middleware: ConsentMiddleware) -> int:
    sql = f"SELECT count() FROM {middleware.settings.database}.page_requests"
    return int(middleware.store.query(sql)[1][0][0])


def test_django_under_testclient_as_context_manager(
    make_stored_app: MakeApp,
    django_app: Any,  # noqa: F811 - the fixture
) -> None:
    """Django inside the middleware, under ``with TestClient(...)``: the lifespan runs
    without an error, and every page is in chDB once the client has exited."""
    middleware = make_stored_app(django_app, flush_interval=60)
    with TestClient(middleware) as client:
        for i in range(5):
            assert 200 == client.get(f"/articles/a{i}/").status_code
    assert 5 == _page_count(middleware)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_django_under_uvicorn_sigterm_loses_nothing(tmp_path: Path) -> None:
    """Django inside the middleware under uvicorn: after SIGTERM every page answered
    is in the store (the middleware flushed although Django refuses lifespan)."""
    port = _free_port()
    env = cli_env()
    env |= {
        "CONSENTLOG_CLICKHOUSE_URL": f"chdb://{tmp_path / 'store'}",
        "CONSENTLOG_SECRET_KEYS": SECRET_40,
        "CONSENTLOG_FLUSH_INTERVAL": "60",  # nothing is written before the shutdown
        "PYTHONPATH": os.pathsep.join([str(ROOT), env["PYTHONPATH"]]),  # for tests.asgi
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--port", str(port), "--lifespan", "auto",
         "tests.asgi.django_site.asgi:app"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    answered = 0
    deadline = time.monotonic() + 60
    while answered < 20 and time.monotonic() < deadline:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/articles/a{answered}/", headers={"host": "testserver"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                answered += response.status == 200
        except (urllib.error.URLError, ConnectionError):
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            time.sleep(0.2)
    assert 20 == answered
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=60) in {0, -signal.SIGTERM}
    result = subprocess.run(
        [sys.executable, "-m", "consentlog.cli", "sql", "--format", "json",
         "SELECT count() AS n FROM consentlog.page_requests"],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert [{"n": 20}] == json.loads(result.stdout)


def test_shutdown_gives_the_embedded_store_up(make_stored_app: MakeApp) -> None:
    """Lifespan shutdown, after the writer's last batch, closes the store the middleware
    writes to: an embedded store's owner stops serving it and releases its lock then,
    not at ``atexit`` (which a process ended by uvicorn's re-raised SIGTERM never runs),
    so the next process takes the store over at once. The next call opens it again."""
    middleware = make_stored_app(flush_interval=60)
    path = embedded_path(middleware.settings.clickhouse_url)
    assert path is not None
    with TestClient(middleware) as client:
        assert 200 == client.get("/docs/a").status_code
        middleware.store.query("SELECT 1")
        assert ownership.owns(path)  # this process owns the session's store
    assert not ownership.owns(path)
    assert ownership.read_owner(path) is None
    assert 1 == _page_count(middleware)  # written before the store was given up
    assert ownership.owns(path)
