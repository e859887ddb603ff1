"""``ConsentMiddleware``: the one thing a site owner mounts.

Pure ASGI. Requests under the route prefix (and ``/.well-known/gpc.json``) are answered
by ``routes.ConsentRoutes``; every other HTTP request goes to the host application
through a ``responder.PageResponder``, which enforces the visitor's decision on the
response and queues the page request. The lifespan's shutdown flushes the event sink
and gives the store up (``ConsentCore.shutdown``) — also for a host application that
does not speak lifespan (Django's ASGI handler raises on it): the middleware then answers
the server itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consentlog.asgi.assets import Asset
from consentlog.asgi.core import ConsentCore
from consentlog.asgi.responder import PageResponder
from consentlog.asgi.routes import GPC_PATH, ConsentRoutes
from consentlog.exceptions import first_line
from consentlog.ingest.events import EventSink
from consentlog.settings import Settings
from consentlog.store import Store


class ConsentMiddleware:
    """Cookie consent, server-side cookie enforcement and traffic logging for an ASGI app.

    Options are the fields of ``Settings``, as keywords (``secret_keys=[...]``) or
    ``CONSENTLOG_*`` environment variables; or pass a ready ``settings=``. ``writer=``
    replaces the background writer with another event sink (tests, or several
    middlewares sharing one).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings | None = None,
        writer: EventSink | None = None,
        **options: Any,
    ) -> None:
        self.app = app
        self.core = ConsentCore(settings or Settings.from_env(**options), sink=writer)
        self.routes = ConsentRoutes(self.core)
        self._prefix = self.core.settings.prefix
        self._prefix_slash = self._prefix + "/"

    @property
    def settings(self) -> Settings:
        """The options this middleware runs with."""
        return self.core.settings

    @property
    def writer(self) -> EventSink:
        """The event sink: the background ``Writer`` unless another was given."""
        return self.core.sink

    @property
    def store(self) -> Store:
        """The ClickHouse store events go to."""
        return self.core.store

    @property
    def script(self) -> Asset:
        """The banner script as served."""
        return self.core.script

    @property
    def stylesheet(self) -> Asset:
        """The banner stylesheet as served."""
        return self.core.stylesheet

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path == self._prefix or path.startswith(self._prefix_slash) or path == GPC_PATH:
                await self.routes(scope, receive, send)
            else:
                responder = PageResponder(self.core, scope, send)
                await self.app(scope, receive, responder.send_page)
        elif scope["type"] == "lifespan":
            await Lifespan(self.app, self.core.shutdown, receive, send).run(scope)
        else:
            await self.app(scope, receive, send)


class Lifespan:
    """One lifespan scope: the host application's, with ``stop`` (the event sink flushed,
    the store given up) run before shutdown is reported (complete or failed), and the
    protocol carried to its end by consentlog wherever the application leaves it.

    An application that returns or raises without having read a message does not speak
    lifespan (Django raises ``ValueError``): startup and shutdown are answered here, as
    if it had no lifespan of its own. One that read the startup message and then raised
    failed to start: its error goes to the server unchanged. One that raises later is
    reported as ``lifespan.shutdown.failed`` once the server asks for shutdown.
    """

    __slots__ = ("app", "heard", "over", "receive", "send", "started", "stop", "stopping")

    def __init__(
        self, app: ASGIApp, stop: Callable[[], None], receive: Receive, send: Send
    ) -> None:
        self.app, self.stop, self.receive, self.send = app, stop, receive, send
        self.heard = self.started = self.stopping = self.over = False

    async def run(self, scope: Scope) -> None:
        """Run the application's lifespan, then finish what it left undone."""
        try:
            await self.app(scope, self._receive, self._send)
        except Exception as exc:
            if not self.heard:  # it does not speak lifespan
                await self._finish()
                return
            if not self.started:  # it failed to start: the server decides what follows
                raise
            await self._finish(failure=first_line(exc))
            raise
        await self._finish()

    async def _receive(self) -> Message:
        message = await self.receive()
        self.heard = True
        if message["type"] == "lifespan.shutdown":
            self.stopping = True
        return message

    async def _send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "lifespan.startup.complete":
            self.started = True
        elif kind == "lifespan.startup.failed":
            self.over = True
        elif kind in {"lifespan.shutdown.complete", "lifespan.shutdown.failed"}:
            self.stop()  # before the server hears it may exit
            self.over = True
        await self.send(message)

    async def _finish(self, failure: str = "") -> None:
        """Answer the messages the application did not: startup, then shutdown."""
        if self.over:
            return
        if not self.started:
            if not self.heard:
                await self._receive()  # lifespan.startup
            await self._send({"type": "lifespan.startup.complete"})
        while not self.stopping:
            await self._receive()
        if failure:
            await self._send({"type": "lifespan.shutdown.failed", "message": failure})
        else:
            await self._send({"type": "lifespan.shutdown.complete"})
