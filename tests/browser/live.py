"""Support for the real-browser tests: the demo site served live, one shared Chromium.

``live_server(**options)`` starts ``create_demo_app`` under uvicorn in a background thread on
127.0.0.1 (a free port, bound before the server starts, so there is no race for it). Every
server of a test writes into that test's database on the session's embedded store (chDB
allows one store per process). ``browser`` is a Chromium shared by a test module;
``new_context`` gives a fresh, isolated browser context per call, closed after the test;
``page`` is a page in one such context that fails the test if the page throws an uncaught
error.

Test modules load this file with ``pytest_plugins = ["tests.browser.live"]`` (so its asserts are
rewritten too) and import from it only for type checking. Playwright is imported only when
a test needs a browser, so the suite is collected (and ``-m "not browser"`` runs) without it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
import uvicorn

from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.demo.app import create_demo_app
from consentlog.store import Store

if TYPE_CHECKING:  # Playwright is imported when a browser starts, not to collect tests
    from playwright.sync_api import Browser, BrowserContext, Page

SECRET = "browser-test-secret-key-long-enough-0123"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000  # a step that takes longer than this is broken, not slow


@dataclass
class LiveServer:
    """One demo app served by uvicorn in a background thread."""

    app: ConsentMiddleware
    url: str  # "http://127.0.0.1:PORT", no trailing slash
    server: uvicorn.Server
    thread: threading.Thread

    def __call__(self, path: str = "/") -> str:
        """The absolute URL of ``path`` on this server."""
        return self.url + path

    def stop(self) -> None:
        """Shut down (the lifespan shutdown flushes the app's writer) and wait for it."""
        self.server.should_exit = True
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), f"uvicorn at {self.url} did not stop"


def serve(app: ConsentMiddleware) -> LiveServer:
    """Serve ``app`` on a free loopback port; return once uvicorn accepts connections."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive():
            sock.close()
            raise RuntimeError(f"uvicorn on port {port} exited before it started")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise TimeoutError(f"uvicorn on port {port} did not start within 15 s")
        time.sleep(0.01)
    return LiveServer(app, f"http://127.0.0.1:{port}", server, thread)


StartServer = Callable[..., LiveServer]


@pytest.fixture
def live_server(store_url: str, store: Store, database: str) -> Iterator[StartServer]:
    """Start demo servers for this test: ``live_server(policy_revision=2, ...)``.

    Every server uses the test's database and the same secret unless told otherwise, so
    a consent cookie from one verifies on another. All are stopped after the test.
    """
    started: list[LiveServer] = []

    def start(**options: Any) -> LiveServer:
        options.setdefault("secret_keys", [SECRET])
        options.setdefault("flush_interval", 0.05)
        app = create_demo_app(clickhouse_url=store_url, database=database, **options)
        started.append(serve(app))
        return started[-1]

    yield start
    for live in reversed(started):
        live.stop()


@pytest.fixture
def live(live_server: StartServer) -> LiveServer:
    """The demo site at policy revision 1."""
    return live_server()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, shared by the tests of one module.

    Not session-wide: while Playwright's sync API is started, the main thread counts as
    running an event loop, so ``asyncio.run`` in any later test module would fail.
    """
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    finally:
        playwright.stop()


NewContext = Callable[..., "BrowserContext"]


@pytest.fixture
def new_context(browser: Browser) -> Iterator[NewContext]:
    """Fresh browser contexts (own cookies, cache, storage): ``new_context(**options)``."""
    contexts: list[BrowserContext] = []

    def make(**options: Any) -> BrowserContext:
        context = browser.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def context(new_context: NewContext) -> BrowserContext:
    """A fresh default browser context (1280x720, JavaScript on)."""
    return new_context()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A page in ``context``; an uncaught error thrown in it fails the test."""
    errors: list[str] = []
    tab = context.new_page()
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    assert [] == errors, "the page threw"
