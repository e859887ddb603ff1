"""``ConsentMiddleware``: the one thing a site owner mounts.

Pure ASGI. For each HTTP request it reads the consent cookie, lets the host application
answer, and on the way out: removes ``Set-Cookie`` headers of categories the visitor has
not accepted, sets or expires traffic-log cookies, puts the banner into HTML pages, and
queues the page request's Site Information for the background writer. Requests under the
route prefix are answered by ``routes.ConsentRoutes``. Nothing here waits on ClickHouse.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consentlog.asgi.assets import load_asset
from consentlog.asgi.banner import BannerRenderer, BannerState, inject
from consentlog.asgi.routes import GPC_PATH, ConsentRoutes
from consentlog.consent.cookies import CookieFilter, CookieWriter
from consentlog.consent.decision import ConsentCodec, Decision
from consentlog.consent.http import first_language, header_map, text
from consentlog.consent.pageviews import PageviewTokens
from consentlog.consent.visit import Identifiers, Visit, cookie_changes
from consentlog.ingest.events import ConsentRecord, PageRequest
from consentlog.ingest.writer import Writer
from consentlog.settings import ANALYTICS, Settings
from consentlog.store import open_store

log = structlog.get_logger("consentlog")

_NO_BODY_STATUSES = frozenset((204, 304))
_NO_IDS = Identifiers()


class ConsentMiddleware:
    """Cookie consent, server-side cookie enforcement and traffic logging for an ASGI app.

    Options are the fields of ``Settings``, as keywords (``secret_keys=[...]``) or
    ``CONSENTLOG_*`` environment variables; or pass a ready ``settings=``. ``writer=``
    replaces the background writer (tests, or several middlewares sharing one).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings | None = None,
        writer: Writer | None = None,
        **options: Any,
    ) -> None:
        self.app = app
        self.settings = s = settings or Settings.from_env(**options)
        self.codec = ConsentCodec(
            s.secret_keys, policy_revision=s.policy_revision, max_age=s.consent_max_age
        )
        self.cookie_writer = CookieWriter(s.cookie_domain)
        self.cookie_filter = CookieFilter(s.categories)
        self.writer = writer or Writer(
            open_store(s.clickhouse_url),
            database=s.database,
            spool_dir=Path(s.spool_dir).resolve() if s.spool_dir else None,
            queue_size=s.queue_size,
            batch_size=s.batch_size,
            flush_interval=s.flush_interval,
            retention_months=s.retention_months,
            rollup_interval=s.rollup_interval,
        )
        self.script = load_asset("banner.js")
        self.stylesheet = load_asset("banner.css")
        self.banner = BannerRenderer(s, self.script, self.stylesheet)
        self.pageviews = PageviewTokens(s.secret_keys)
        self.routes = ConsentRoutes(self)
        self._prefix_slash = s.prefix + "/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if (
                path == self.settings.prefix
                or path.startswith(self._prefix_slash)
                or (path == GPC_PATH)
            ):
                await self.routes(scope, receive, send)
            else:
                await self._page(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self.app(scope, receive, self._lifespan_send(send))
        else:
            await self.app(scope, receive, send)

    def _lifespan_send(self, send: Send) -> Send:
        """Flush the writer when the server shuts down, before it reports completion."""

        async def lifespan_send(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                self.writer.stop()
            await send(message)

        return lifespan_send

    # -- decisions shared with the routes ---------------------------------------------

    def effective_decision(self, visit: Visit) -> tuple[Decision | None, bool]:
        """The decision that governs this request, and whether it is new (taken now from
        a GPC / DNT signal, so it must be stored and remembered)."""
        if visit.decision is not None:
            return visit.decision, False
        if visit.signal is not None:
            return self.codec.new_decision((), visit.signal, visit.cookie), True
        return None, False

    def record_decision(
        self, visit: Visit, decision: Decision, action: str, ids: Identifiers
    ) -> None:
        """Queue the proof of a decision for ``consent_records``."""
        consented = ANALYTICS in decision.accepted
        self.writer.submit(
            ConsentRecord(
                ts=time.time(),
                consent_id=decision.consent_id,
                action=action,
                categories=tuple(sorted(decision.accepted)),
                policy_revision=decision.policy_revision,
                source=decision.source,
                visitor_id=ids.visitor_id if consented else "",
                client_ip=visit.origin.client_ip if consented else "",
                user_agent=text(visit.headers, b"user-agent", 512),
            )
        )

    def consent_cookie(self, visit: Visit, decision: Decision) -> bytes:
        """The ``Set-Cookie`` value that remembers ``decision``."""
        return self.cookie_writer.set(
            self.settings.consent_cookie,
            self.codec.dumps(decision),
            max_age=self.settings.consent_max_age,
            secure=visit.secure(self.settings),
            http_only=False,
        )

    # -- page requests ----------------------------------------------------------------

    def _is_page(self, scope: Scope, content_type: str) -> bool:
        path: str = scope["path"]
        custom = self.settings.page_filter
        if custom is not None:
            return custom(path, content_type)
        return (
            scope["method"] == "GET"
            and content_type.startswith("text/html")
            and path not in self.settings.exclude_paths
        )

    async def _page(self, scope: Scope, receive: Receive, send: Send) -> None:
        started, clock = time.time(), time.perf_counter()
        s = self.settings
        visit = Visit.read(scope, header_map(scope), s, self.codec)
        decision, new_decision = self.effective_decision(visit)
        accepted = decision.accepted if decision is not None else frozenset()
        allows = self.cookie_filter.allows
        held: Message | None = None
        page = False
        pageview_id = ""
        pageview_token = ""
        sent_bytes = 0
        status = 0
        ids = _NO_IDS

        async def consent_send(message: Message) -> None:
            nonlocal held, page, sent_bytes, status, ids, pageview_id, pageview_token
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                raw = message["headers"] = [
                    (k, v)
                    for k, v in message.get("headers", ())
                    if k.lower() != b"set-cookie" or allows(v, accepted)
                ]
                content_type = _header(raw, b"content-type")
                if not content_type.startswith("text/html"):
                    await send(message)
                    return
                page = self._is_page(scope, content_type)
                changes, ids = cookie_changes(
                    visit, decision, s, self.cookie_writer, self.cookie_filter
                )
                if new_decision and decision is not None:
                    changes.append(self.consent_cookie(visit, decision))
                    self.record_decision(visit, decision, decision.source, ids)
                raw.extend((b"set-cookie", c) for c in changes)
                if page:
                    if ids.session_id:  # the beacon may report on this page view
                        pageview_id, pageview_token = self.pageviews.issue(
                            ids.session_id, scope["path"]
                        )
                    else:
                        pageview_id = os.urandom(16).hex()
                if (
                    s.inject_banner
                    and status not in _NO_BODY_STATUSES
                    and scope["method"] != "HEAD"
                    and not _header(raw, b"content-encoding")
                ):
                    held = message  # wait for the body: it may get the banner
                    return
                await send(message)
            elif kind == "http.response.body":
                final = not message.get("more_body", False)
                if held is not None:
                    start, held = held, None
                    if final:
                        snippet = self._snippet(visit, decision, scope)
                        if pageview_token:
                            snippet += b'<i id="cl-pv" data-pv="%s" hidden></i>' % (
                                pageview_token.encode()
                            )
                        body = inject(message.get("body", b""), snippet)
                        if body is not None:
                            _set_length(start, len(body))
                            message["body"] = body
                    await send(start)  # a streamed page is left alone
                sent_bytes += len(message.get("body", b""))
                await send(message)
                if page and final:
                    self._log_page(
                        scope, visit, decision, ids, pageview_id, status, sent_bytes, started, clock
                    )
            else:
                await send(message)

        await self.app(scope, receive, consent_send)

    def _snippet(self, visit: Visit, decision: Decision | None, scope: Scope) -> bytes:
        query = scope.get("query_string", b"")
        # raw_path keeps %-escapes: /docs/a%3Fb must come back as itself, not /docs/a?b
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else scope["path"]
        next_url = path + ("?" + query.decode("latin-1") if query else "")
        scope_state = scope.get("state")
        return self.banner.snippet(
            self.banner_state(visit, decision),
            next_url,
            str(scope_state.get("csp_nonce", "")) if scope_state else "",
        )

    def banner_state(self, visit: Visit, decision: Decision | None) -> BannerState:
        """What the banner shows this visitor: open without a decision, hidden with one."""
        return BannerState(
            language=visit.language(self.settings),
            visible=decision is None,
            accepted=decision.accepted if decision is not None else frozenset(),
            decided=decision is not None,
            policy_changed=visit.cookie.stale,
        )

    def _log_page(
        self,
        scope: Scope,
        visit: Visit,
        decision: Decision | None,
        ids: Identifiers,
        pageview_id: str,
        status: int,
        sent_bytes: int,
        started: float,
        clock: float,
    ) -> None:
        headers = visit.headers
        granted = decision is not None and ANALYTICS in decision.accepted
        state = "unknown" if decision is None else ("granted" if granted else "denied")
        route = scope.get("route")
        self.writer.submit(
            PageRequest(
                started,
                pageview_id,
                visit.origin.host,
                scope["path"][:1024],
                str(getattr(route, "path", ""))[:255],
                scope["method"],
                status,
                sent_bytes,
                (time.perf_counter() - clock) * 1000,
                headers.get(b"referer", b"")[:2048].decode("latin-1"),
                scope.get("query_string", b"")[:4096].decode("latin-1"),
                headers.get(b"user-agent", b"")[:512].decode("latin-1"),
                first_language(headers.get(b"accept-language", b"")[:256].decode("latin-1")),
                state,
                ids.visitor_id if granted else "",
                ids.session_id if granted else "",
                visit.origin.client_ip if granted else "",
            )
        )


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1").lower()
    return ""


def _set_length(message: Message, length: int) -> None:
    headers = [(k, v) for k, v in message["headers"] if k.lower() != b"content-length"]
    headers.append((b"content-length", str(length).encode()))
    message["headers"] = headers
