"""A site behind ``ConsentMiddleware`` with the dashboard beside it, not inside it.

Mounted inside the middleware, the dashboard's pages would be logged as page requests
and get the consent banner; beside it, they are the analyst's tool and nothing else.
``SiteWithDashboard`` sends requests under its path to the dashboard and everything else
— the lifespan too, so the writer is flushed on shutdown — to the site.
"""

from __future__ import annotations

from starlette.routing import Mount, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.ingest.events import EventSink
from consentlog.settings import Settings
from consentlog.store import Store


class SiteWithDashboard:
    """ASGI app: ``dashboard`` at ``path``, ``site`` (the middleware-wrapped app) elsewhere.

    ``writer`` and ``settings`` are the site middleware's, so code that ran the bare
    middleware (flushing the writer, reading the database name) keeps working.
    """

    def __init__(
        self, site: ConsentMiddleware, dashboard: ASGIApp, *, path: str = "/analytics"
    ) -> None:
        if not path.startswith("/") or path.endswith("/"):
            raise ValueError(f"path={path!r}: must start with '/' and not end with '/'")
        self.site = site
        self.path = path
        # a Router gives the dashboard Starlette's mount semantics (root_path, and a
        # redirect from /analytics to /analytics/)
        self.dashboard = Router(routes=[Mount(path, app=dashboard)])

    @property
    def writer(self) -> EventSink:
        """The site's event sink (its background writer)."""
        return self.site.writer

    @property
    def store(self) -> Store:
        """The site's ClickHouse store (the dashboard reads it too)."""
        return self.site.store

    @property
    def settings(self) -> Settings:
        """The site's consentlog settings."""
        return self.site.settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in {"http", "websocket"}:
            path: str = scope["path"]
            if path == self.path or path.startswith(self.path + "/"):
                await self.dashboard(scope, receive, send)
                return
        await self.site(scope, receive, send)
