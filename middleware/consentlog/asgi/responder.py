"""``PageResponder``: one page request on its way through the middleware.

Per-request state lives on this small object (as Starlette's ``GZipResponder`` does),
not in a closure. On ``http.response.start`` it removes ``Set-Cookie`` headers of
categories the visitor has not accepted, adds the traffic-log and consent cookies the
decision calls for, and — for an HTML page that may get the banner — holds the start
until the body arrives; on the final body it puts in the banner, corrects
Content-Length, and queues the page request's Site Information. Nothing here waits on
ClickHouse.
"""

from __future__ import annotations

import os
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consentlog.asgi.banner import inject
from consentlog.asgi.core import ConsentCore
from consentlog.consent.visit import Identifiers, cookie_changes
from consentlog.ingest.events import MAX_QUERY, ConsentState, page_request
from consentlog.settings import ANALYTICS

_NO_BODY_STATUSES = frozenset((204, 304))
_NO_IDS = Identifiers()


class PageResponder:
    """Carries one request's decision from the response start to its last body chunk."""

    __slots__ = (
        "accepted", "app", "clock", "core", "decision", "held", "ids", "new_decision",
        "page", "pageview_id", "pageview_token", "scope", "send", "sent_bytes", "started",
        "status", "visit",
    )  # fmt: skip

    def __init__(self, app: ASGIApp, core: ConsentCore, scope: Scope) -> None:
        self.started, self.clock = time.time(), time.perf_counter()
        self.app = app
        self.core = core
        self.scope = scope
        self.visit = core.visit(scope)
        self.decision, self.new_decision = core.effective_decision(self.visit)
        self.accepted = self.decision.accepted if self.decision is not None else frozenset()
        self.held: Message | None = None  # the response start, while waiting for the body
        self.page = False
        self.pageview_id = ""
        self.pageview_token = ""
        self.sent_bytes = 0
        self.status = 0
        self.ids = _NO_IDS

    async def __call__(self, receive: Receive, send: Send) -> None:
        """Let the host application answer, through ``send_page``."""
        self.send = send
        await self.app(self.scope, receive, self.send_page)

    async def send_page(self, message: Message) -> None:
        """The host application's ``send``, seen by consentlog."""
        kind = message["type"]
        if kind == "http.response.start":
            await self._start(message)
        elif kind == "http.response.body":
            await self._body(message)
        else:
            await self.send(message)

    async def _start(self, message: Message) -> None:
        core, scope = self.core, self.scope
        allows, accepted = core.cookie_filter.allows, self.accepted
        self.status = message["status"]
        raw = message["headers"] = [
            (k, v)
            for k, v in message.get("headers", ())
            if k.lower() != b"set-cookie" or allows(v, accepted)
        ]
        content_type = _header(raw, b"content-type")
        if not content_type.startswith("text/html"):
            await self.send(message)
            return
        self.page = self._is_page(content_type)
        changes, self.ids = cookie_changes(
            self.visit, self.decision, core.settings, core.cookie_writer, core.cookie_filter
        )
        if self.new_decision and self.decision is not None:
            changes.append(core.consent_cookie(self.visit, self.decision))
            core.record_decision(self.visit, self.decision, self.decision.source, self.ids)
        raw.extend((b"set-cookie", c) for c in changes)
        if self.page:
            if self.ids.session_id:  # the beacon may report on this page view
                self.pageview_id, self.pageview_token = core.pageviews.issue(
                    self.ids.session_id, scope["path"]
                )
            else:
                self.pageview_id = os.urandom(16).hex()
        if (
            core.settings.inject_banner
            and self.status not in _NO_BODY_STATUSES
            and scope["method"] != "HEAD"
            and not _header(raw, b"content-encoding")
        ):
            self.held = message  # wait for the body: it may get the banner
            return
        await self.send(message)

    async def _body(self, message: Message) -> None:
        final = not message.get("more_body", False)
        if self.held is not None:
            start, self.held = self.held, None
            if final:
                body = inject(message.get("body", b""), self._snippet())
                if body is not None:
                    _set_length(start, len(body))
                    message["body"] = body
            await self.send(start)  # a streamed page is left alone
        self.sent_bytes += len(message.get("body", b""))
        await self.send(message)
        if self.page and final:
            self._log_page()

    def _is_page(self, content_type: str) -> bool:
        scope, settings = self.scope, self.core.settings
        path: str = scope["path"]
        if settings.page_filter is not None:
            return settings.page_filter(path, content_type)
        return (
            scope["method"] == "GET"
            and content_type.startswith("text/html")
            and path not in settings.exclude_paths
        )

    def _snippet(self) -> bytes:
        scope = self.scope
        query = scope.get("query_string", b"")
        # raw_path keeps %-escapes: /docs/a%3Fb must come back as itself, not /docs/a?b
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else scope["path"]
        next_url = path + ("?" + query.decode("latin-1") if query else "")
        scope_state = scope.get("state")
        snippet = self.core.banner.snippet(
            self.core.banner_state(self.visit, self.decision),
            next_url,
            str(scope_state.get("csp_nonce", "")) if scope_state else "",
        )
        if self.pageview_token:
            snippet += b'<i id="cl-pv" data-pv="%s" hidden></i>' % self.pageview_token.encode()
        return snippet

    def _log_page(self) -> None:
        decision, scope = self.decision, self.scope
        state: ConsentState = (
            "unknown"
            if decision is None
            else ("granted" if ANALYTICS in decision.accepted else "denied")
        )
        self.core.sink.submit(
            page_request(
                self.visit,
                self.ids,
                consent_state=state,
                ts=self.started,
                pageview_id=self.pageview_id,
                path=scope["path"],
                route=str(getattr(scope.get("route"), "path", "")),
                method=scope["method"],
                status=self.status,
                response_bytes=self.sent_bytes,
                duration_ms=(time.perf_counter() - self.clock) * 1000,
                query=scope.get("query_string", b"")[:MAX_QUERY].decode("latin-1"),
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
