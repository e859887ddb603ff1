"""``ConsentMiddleware``: the one thing a site owner mounts.

Pure ASGI. Requests under the route prefix (and ``/.well-known/gpc.json``) are answered
by ``routes.ConsentRoutes``; every other HTTP request goes to the host application
through a ``responder.PageResponder``, which enforces the visitor's decision on the
response and queues the page request. The lifespan's shutdown flushes the event sink.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consentlog.asgi.assets import Asset
from consentlog.asgi.core import ConsentCore
from consentlog.asgi.responder import PageResponder
from consentlog.asgi.routes import GPC_PATH, ConsentRoutes
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
                await PageResponder(self.app, self.core, scope)(receive, send)
        elif scope["type"] == "lifespan":
            await self.app(scope, receive, self._lifespan_send(send))
        else:
            await self.app(scope, receive, send)

    def _lifespan_send(self, send: Send) -> Send:
        """Flush the event sink when the server shuts down, before it reports completion."""

        async def lifespan_send(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                self.core.sink.stop()
            await send(message)

        return lifespan_send
