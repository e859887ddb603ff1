"""``PageResponder``: one page request on its way through the middleware.

Per-request state lives on this small object (as Starlette's ``GZipResponder`` does),
not in a closure. On ``http.response.start`` it removes ``Set-Cookie`` headers of
categories the visitor has not accepted, adds the traffic-log and consent cookies the
decision calls for, and — for a 200 HTML page in an ASCII-compatible charset that may get
the banner — holds the start until the body arrives; on the final body it puts in the
banner, corrects Content-Length, and queues the page request's Site Information. A body
the server sends itself (``http.response.pathsend`` / ``zerocopy``) releases the held
start unchanged. A response that now depends on the visitor's cookies is made
``Cache-Control: private`` and ``Vary: Cookie``. Nothing here waits on ClickHouse.
"""

from __future__ import annotations

import codecs
import functools
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consentlog.asgi.banner import inject
from consentlog.asgi.core import ConsentCore
from consentlog.asgi.plans import Key, Plan
from consentlog.consent.decision import Decision
from consentlog.consent.http import header_map
from consentlog.consent.randomness import random_hex
from consentlog.consent.visit import Identifiers, Visit, cookie_changes
from consentlog.ingest.events import (
    MAX_ACCEPT_LANGUAGE,
    MAX_FORWARDED,
    MAX_HOST,
    MAX_QUERY,
    MAX_REFERRER,
    MAX_USER_AGENT,
    ConsentState,
    PageSeen,
)
from consentlog.settings import ANALYTICS

_NO_IDS = Identifiers()
# Bodies the server reads from a file itself: nothing to put a banner into.
_FILE_BODIES = frozenset(("http.response.pathsend", "http.response.zerocopy"))


class PageResponder:
    """Carries one request's decision from the response start to its last body chunk."""

    __slots__ = (
        "accepted", "app", "caching", "clock", "core", "decision", "encoding", "headers",
        "held", "ids", "key", "length", "new_decision", "page", "pageview_id",
        "pageview_token", "plan", "scope", "send", "sent_bytes", "started", "status",
        "varies", "visit",
    )  # fmt: skip

    def __init__(self, app: ASGIApp, core: ConsentCore, scope: Scope) -> None:
        self.started, self.clock = time.time(), time.perf_counter()
        self.app = app
        self.core = core
        self.scope = scope
        self.headers = headers = header_map(scope)
        # a returning visitor: what their cookies were found to mean last time (``plans``)
        self.key: Key | None = core.plans.key(scope, headers)
        self.plan: Plan | None = core.plans.get(self.key, core.codec)
        self.visit: Visit | None = None
        if self.plan is not None:
            self.decision: Decision | None = self.plan.decision
            self.new_decision = False
        else:
            self.visit = core.visit(scope, headers)
            self.decision, self.new_decision = core.effective_decision(self.visit)
        self.accepted = self.decision.accepted if self.decision is not None else frozenset()
        self.held: Message | None = None  # the response start, while waiting for the body
        self.encoding = "utf-8"  # the page's charset, as a Python codec
        self.varies = False  # the response depends on the visitor's cookies
        self.caching = False  # the host's answer has headers for caches
        self.length = 0  # the host's Content-Length, for bodies sent from a file
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
        """The host application's ``send``, seen by consentlog. The work is done by plain
        methods; this one awaits each send once (every coroutine layer costs)."""
        kind = message["type"]
        if kind == "http.response.start":
            if self._start(message):
                await self.send(self._final(message))
            return
        held = self.held
        if kind == "http.response.body":
            final = not message.get("more_body", False)
            if held is not None:
                self.held = None
                if final:
                    self._put_banner(held, message)
                await self.send(self._final(held))  # a streamed page is left alone
            self.sent_bytes += len(message.get("body", b""))
            await self.send(message)
            if self.page and final:
                self._log_page()
            return
        # pathsend, zerocopy, trailers …: not ours to change, but after the start
        if held is not None:
            self.held = None
            await self.send(self._final(held))
        await self.send(message)
        if kind in _FILE_BODIES and not message.get("more_body", False):
            self.sent_bytes = self.length
            if self.page:
                self._log_page()

    def _start(self, message: Message) -> bool:
        """Filter and add cookies; True to send the start now, False to hold it for the
        body (it may get the banner)."""
        core, scope = self.core, self.scope
        allows, accepted = core.cookie_filter.allows, self.accepted
        self.status = message["status"]
        raw: list[tuple[bytes, bytes]] = []
        # one pass over the host's headers: its cookies filtered, the few it is read for
        found: dict[bytes, bytes] = {}
        for key, value in message.get("headers", ()):
            name = key.lower()
            if name == b"set-cookie":
                if not allows(value, frozenset()):
                    # a cookie of an optional category: its presence depends on the consent
                    self.varies = True
                    if not allows(value, accepted):
                        continue
            elif name in _READ and name not in found:
                found[name] = value
            raw.append((key, value))
        message["headers"] = raw
        self.caching = not _CACHING.isdisjoint(found)
        content_type = found.get(b"content-type", b"").decode("latin-1").lower()
        if not content_type.startswith("text/html"):
            return True
        self.page = self._is_page(content_type)
        length = found.get(b"content-length", b"")
        self.length = int(length) if length.isdigit() else 0
        plan = self.plan
        if plan is not None:
            changes: list[bytes] | tuple[bytes, ...] = plan.cookies
            self.ids = plan.ids
        else:
            changes = self._cookie_changes()
        raw.extend((b"set-cookie", c) for c in changes)
        self.varies = self.varies or bool(changes)
        if self.page:
            if self.ids.session_id:  # the beacon may report on this page view
                self.pageview_id, self.pageview_token = core.pageviews.issue(
                    self.ids.session_id, scope["path"], self.ids.visitor_id
                )
            else:
                self.pageview_id = random_hex(16)
        encoding = _encoding(content_type)
        if (
            core.settings.inject_banner
            and self.status == 200  # not a range (206), an error page or a body-less answer
            and encoding is not None
            and scope["method"] != "HEAD"
            and not found.get(b"content-encoding")
            and not found.get(b"content-range")
        ):
            self.encoding = encoding
            self.held = message  # wait for the body: it may get the banner
            return False
        return True

    def _cookie_changes(self) -> list[bytes]:
        """The ``Set-Cookie`` values of this answer, worked out (no plan was remembered);
        remembered for the visitor's next pages when they depend only on what the
        request's headers proved."""
        core, visit, decision = self.core, self.visit, self.decision
        assert visit is not None
        changes, self.ids = cookie_changes(
            visit, decision, core.settings, core.cookie_writer, core.cookie_filter
        )
        if self.new_decision and decision is not None:
            changes.append(core.consent_cookie(visit, decision))
            if core.records_signal(visit):
                core.record_decision(visit, decision, decision.source, self.ids)
        elif self.key is not None and visit.decision is not None:
            proven = visit.proven_ids(core.settings)
            if (self.ids.visitor_id, self.ids.session_id) == (
                proven.visitor_id,
                proven.session_id,
            ):  # no id issued now: the same header brings the same answer
                core.plans.remember(
                    self.key,
                    visit.decision,
                    self.ids,
                    changes,
                    core.banner_state(visit, decision),
                )
        return changes

    def _put_banner(self, start: Message, message: Message) -> None:
        """The banner into the final body ``message`` of a held ``start``."""
        body = inject(message.get("body", b""), self._snippet(), self.encoding)
        if body is not None:
            self.varies = True  # the banner shows this visitor's state
            _set_length(start, len(body))
            message["body"] = body

    def _final(self, start: Message) -> Message:
        """The response start as it goes out: private when it depends on the cookies."""
        if self.varies:
            headers = start["headers"]
            # without caching headers of the host's, ``private`` would only add these two
            start["headers"] = private(headers) if self.caching else [*headers, *_PRIVATE]
        return start

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
        plan, visit = self.plan, self.visit
        if plan is not None:
            state = plan.banner
        else:
            assert visit is not None
            state = self.core.banner_state(visit, self.decision)
        next_url = ""  # a decided visitor's page has no banner form to return from
        if not state.decided:
            query = scope.get("query_string", b"")
            # raw_path keeps %-escapes: /docs/a%3Fb must come back as itself, not /docs/a?b
            raw_path = scope.get("raw_path")
            path = raw_path.decode("latin-1") if raw_path else scope["path"]
            next_url = path + ("?" + query.decode("latin-1") if query else "")
        scope_state = scope.get("state")
        snippet = self.core.banner.snippet(
            state, next_url, str(scope_state.get("csp_nonce", "")) if scope_state else ""
        )
        if self.pageview_token:
            return b"".join((snippet, _PV_OPEN, self.pageview_token.encode(), _PV_CLOSE))
        return snippet

    def _log_page(self) -> None:
        """Queue the page request's raw inputs; the writer makes the row of them."""
        scope, ids, settings, headers = self.scope, self.ids, self.core.settings, self.headers
        state = _consent_state(self.decision)
        granted = state == "granted"
        client = scope.get("client")
        hops = settings.trusted_proxy_hops
        self.core.sink.submit(
            PageSeen(
                self.started,
                self.pageview_id,
                # cut to what a row keeps (or what reading a proxy's list needs), so
                # that a queue of events is no larger than its rows
                headers.get(b"host", b"")[:MAX_HOST],
                headers.get(b"referer", b"")[:MAX_REFERRER],
                headers.get(b"user-agent", b"")[:MAX_USER_AGENT],
                headers.get(b"accept-language", b"")[:MAX_ACCEPT_LANGUAGE],
                headers.get(b"x-forwarded-for", b"")[:MAX_FORWARDED] if hops else b"",
                headers.get(b"x-forwarded-proto", b"")[:MAX_FORWARDED] if hops else b"",
                headers.get(b"x-forwarded-host", b"")[:MAX_FORWARDED] if hops else b"",
                str(scope.get("scheme", "http")),
                str(client[0]) if client else "",
                scope.get("server"),
                scope["path"],
                str(getattr(scope.get("route"), "path", "")),
                scope["method"],
                self.status,
                self.sent_bytes,
                (time.perf_counter() - self.clock) * 1000,
                scope.get("query_string", b"")[:MAX_QUERY],
                state,
                ids.visitor_id if granted else "",
                ids.session_id if granted else "",
                hops,
                settings.trust_forwarded_host,
            )
        )


def _consent_state(decision: Decision | None) -> ConsentState:
    if decision is None:
        return "unknown"
    return "granted" if ANALYTICS in decision.accepted else "denied"


_ASCII = bytes(range(128))
_ASCII_TEXT = _ASCII.decode("ascii")


@functools.lru_cache(maxsize=64)  # content types come from the host application: few
def _encoding(content_type: str) -> str | None:
    """The codec to write the banner in for an HTML ``content_type``: UTF-8 when it names
    no charset; None when its charset is unknown or not ASCII-compatible (UTF-16, UTF-32,
    UTF-7, the stateful ISO-2022 family), where ``</body>`` cannot be found as bytes."""
    charset = ""
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip() == "charset":
            charset = value.strip().strip('"')
    if not charset:
        return "utf-8"
    try:
        codec = codecs.lookup(charset).name
        # every ASCII character is the same byte both ways: the snippet can go in as bytes
        compatible = _ASCII.decode(codec) == _ASCII_TEXT and _ASCII_TEXT.encode(codec) == _ASCII
    except (LookupError, UnicodeError):  # unknown, or a bytes-to-bytes codec (base64 …)
        return None
    return codec if compatible and not codec.startswith("iso2022") else None


# a Cache-Control directive: a token, optionally = a token or a quoted string
_DIRECTIVE = re.compile(rb'\s*([^\s=,]+)(?:\s*=\s*("(?:[^"\\]|\\.)*"|[^,]*))?\s*(?:,|$)')
_FOR_SHARED_CACHES = frozenset((b"public", b"s-maxage", b"proxy-revalidate", b"private"))
_SHARED_CACHE_HEADERS = frozenset((b"cdn-cache-control", b"surrogate-control"))
_CACHING = frozenset((b"cache-control", b"vary", *_SHARED_CACHE_HEADERS))  # what ``private`` edits
_PRIVATE = ((b"cache-control", b"private"), (b"vary", b"Cookie"))
_PV_OPEN, _PV_CLOSE = b'<i id="cl-pv" data-pv="', b'" hidden></i>'  # the page-view token
# the host's response headers read on the way (the first of each)
_READ = frozenset(
    (b"content-type", b"content-length", b"content-encoding", b"content-range", *_CACHING)
)


def private(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` of a response that depends on the visitor's cookies (a cookie set or
    withheld for them, their banner): ``Cache-Control: private`` followed by the host's
    directives for the browser's cache (max-age, no-cache, no-store, …) but none for
    shared caches (public, s-maxage, proxy-revalidate, nor ``CDN-Cache-Control`` /
    ``Surrogate-Control``, which a CDN would obey over ``private``); ``Vary`` gains
    ``Cookie``."""
    kept: list[tuple[bytes, bytes]] = []
    directives = [b"private"]
    vary: list[bytes] = []
    for key, value in headers:
        name = key.lower()
        if name == b"cache-control":
            for match in _DIRECTIVE.finditer(value):
                if match.group(1).lower() not in _FOR_SHARED_CACHES:
                    directives.append(match.group(0).strip().rstrip(b",").strip())
        elif name == b"vary":
            vary += [token.strip() for token in value.split(b",") if token.strip()]
        elif name not in _SHARED_CACHE_HEADERS:
            kept.append((key, value))
    if not {b"*", b"cookie"} & {token.lower() for token in vary}:
        vary.append(b"Cookie")
    kept.append((b"cache-control", b", ".join(directives)))
    kept.append((b"vary", b", ".join(vary)))
    return kept


def _set_length(message: Message, length: int) -> None:
    headers = [(k, v) for k, v in message["headers"] if k.lower() != b"content-length"]
    headers.append((b"content-length", str(length).encode()))
    message["headers"] = headers
