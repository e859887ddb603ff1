"""``PageResponder``: one page request on its way through the middleware.

Per-request state lives on this small object (as Starlette's ``GZipResponder`` does),
not in a closure. On ``http.response.start`` it removes ``Set-Cookie`` headers of
categories the visitor has not accepted; an HTML answer then gets what its ``Plan`` holds
(``asgi/plans.py``: a returning visitor's remembered one, or one made for the request) —
the traffic-log and consent cookies the decision calls for, a page-view token — and, for
a 200 page in an ASCII-compatible charset that may get the banner, the start is held
until the body arrives; on the final body it puts in the plan's tags (or the banner),
corrects Content-Length, and queues the page request's raw inputs (``PageSeen``). A body
the server sends itself (``http.response.pathsend`` / ``zerocopy``) releases the held
start unchanged. A response that now depends on the visitor's cookies is made
``Cache-Control: private`` and ``Vary: Cookie``. Nothing here waits on ClickHouse.
"""

from __future__ import annotations

import codecs
import functools
import re
import time

from starlette.types import Message, Scope, Send

from consentlog.asgi.core import ConsentCore, consent_state
from consentlog.asgi.document import inject
from consentlog.asgi.embeds import marked
from consentlog.asgi.plans import Key, Plan
from consentlog.consent.decision import Decision
from consentlog.consent.http import header_map, origin_of, text
from consentlog.consent.visit import Identifiers, Visit, cookie_changes
from consentlog.ingest.bots import HEADERS
from consentlog.ingest.events import (
    MAX_ACCEPT_LANGUAGE,
    MAX_COUNTRY,
    MAX_FORWARDED,
    MAX_HOST,
    MAX_PATH,
    MAX_QUERY,
    MAX_REFERRER,
    MAX_USER_AGENT,
    Goal,
    PageSeen,
    live_agent,
    safe_text,
)
from consentlog.settings import GoalRule

# Bodies the server reads from a file itself: nothing to put a banner into.
_FILE_BODIES = frozenset(("http.response.pathsend", "http.response.zerocopy"))
_new_tuple = tuple.__new__  # a NamedTuple made without its Python-level ``__new__``
_REPEATED = -2  # ``length_at`` of an answer with more than one Content-Length
NO_IDS = Identifiers("", "")


class PageResponder:
    """Carries one request's decision from the response start to its last body chunk.

    What an HTML answer gets comes from a ``Plan``: a returning visitor's remembered one,
    or one worked out for this request (``_make_plan``) once the answer proves to be
    HTML — not before, since working it out may issue ids and record a decision."""

    __slots__ = (
        "caching",
        "check_token",
        "clock",
        "core",
        "decision",
        "encoding",
        "headers",
        "held",
        "key",
        "length",
        "length_at",
        "new_decision",
        "page",
        "pageview_id",
        "pageview_token",
        "plan",
        "scope",
        "send",
        "sent_bytes",
        "started",
        "status",
        "varies",
        "visit",
    )  # fmt: skip

    def __init__(self, core: ConsentCore, scope: Scope, send: Send) -> None:
        self.started, self.clock = time.time(), time.perf_counter()
        self.core = core
        self.scope = scope
        self.send = send
        self.headers = headers = header_map(scope)
        plans = core.plans
        # a returning visitor: what their cookies were found to mean last time (``plans``)
        self.key: Key | None = plans.key(scope, headers)
        self.plan: Plan | None = plans.get(self.key, core.codec)
        self.visit: Visit | None = None
        if self.plan is not None:
            self.decision: Decision | None = self.plan.decision
            self.new_decision = False
        else:
            self.visit = core.visit(scope, headers)
            self.decision, self.new_decision = core.effective_decision(self.visit)
        self.held: Message | None = None  # the response start, while waiting for the body
        self.varies = False  # the response depends on the visitor's cookies
        self.page = False  # a page view: its request is queued once its body is sent
        self.sent_bytes = 0

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
            if final and self.page:
                self._log_page()
            return
        # pathsend, zerocopy, trailers …: not ours to change, but after the start
        if held is not None:
            self.held = None
            await self.send(self._final(held))
        await self.send(message)
        if kind in _FILE_BODIES and not message.get("more_body", False) and self.page:
            self.sent_bytes = int(self.length) if self.length.isdigit() else 0
            self._log_page()

    def _start(self, message: Message) -> bool:
        """Filter and add cookies; True to send the start now, False to hold it for the
        body (it may get the banner). Then the server goals this answer reaches."""
        send_now = self._answer(message)
        rules = self.core.goal_rules.get(self.scope["method"])
        if rules:
            self._reach_goals(rules)
        return send_now

    def _answer(self, message: Message) -> bool:
        self.status = status = message["status"]
        raw: list[tuple[bytes, bytes]] = []
        # one pass over the host's headers: its cookies filtered, the few it is read for
        content_type: bytes | None = None
        length = b""
        length_at = -1
        caching = coded = repeated = False
        for pair in message.get("headers", ()):
            name = pair[0].lower()
            if name == b"content-type":
                if content_type is None:  # the first one decides, as a client reads it
                    content_type = pair[1]
            elif name == b"content-length":
                if length_at < 0:
                    length, length_at = pair[1], len(raw)
                else:  # another one: all are replaced if the body gets the banner
                    repeated = True
            elif name == b"set-cookie":
                if not self._keeps(pair[1]):
                    continue
            elif name in _CACHING:
                caching = True
            elif name in _CODED:
                coded = coded or bool(pair[1])
            raw.append(pair)
        message["headers"] = raw
        self.caching = caching
        self.length_at = _REPEATED if repeated else length_at
        html = _html_type(content_type or b"")
        if html is None:
            return True
        content, encoding = html
        scope = self.scope
        self.page = page = self._is_page(content)
        self.length = length
        plan = self.plan = self.plan or self._make_plan()
        if plan.set_cookies:
            raw += plan.set_cookies
            self.varies = True
        if page:
            tokens = plan.tokens
            if tokens is not None:  # the beacon may report on this page view
                self.pageview_id, self.pageview_token = tokens.issue(scope["path"])
                self.check_token = ""
            else:  # the script, if it runs, says so: a verified browser view
                self.pageview_id, self.check_token = self.core.checks.issue()
                self.pageview_token = ""
        else:
            self.pageview_token = self.check_token = ""
        if (
            status == 200  # not a range (206), an error page or a body-less answer
            and encoding is not None
            and not coded  # Content-Encoding, Content-Range
            and scope["method"] != "HEAD"
            and self.core.settings.inject_banner
        ):
            self.encoding = encoding
            self.held = message  # wait for the body: it may get the banner
            return False
        return True

    def _reach_goals(self, rules: tuple[GoalRule, ...]) -> None:
        """Queue a ``Goal`` for each server goal this answer reaches: once per goal name,
        never for an excluded path. Only the rules of the request's method are asked,
        status first (a few comparisons), then one linear match of the path."""
        scope, status = self.scope, self.status
        method, path = scope["method"], scope["path"]
        names = {r.name for r in rules if r.matches(method, path, status)}
        if not names or path in self.core.settings.exclude_paths:
            return
        core, plan = self.core, self.plan
        if plan is not None:  # an HTML answer's: its ids are the page's (a new session too)
            state, ids = plan.state, Identifiers(plan.visitor_id, plan.session_id)
            origin = origin_of(scope, self.headers, core.settings.trusted_proxy_hops,
                               forwarded_host=core.settings.trust_forwarded_host)  # fmt: skip
        else:
            visit = self.visit or core.visit(scope, self.headers)
            state = consent_state(self.decision)
            ids = visit.proven_ids(core.settings) if state == "granted" else NO_IDS
            origin = visit.origin
        host = origin.host
        agent = live_agent(safe_text(text(self.headers, b"user-agent", MAX_USER_AGENT)))
        bot = "" if core.browser_headers <= self.headers.keys() else HEADERS
        for name in sorted(names):
            core.sink.submit(
                Goal(
                    time.time(), name, "server", safe_text(host), safe_text(path[:MAX_PATH]),
                    "", safe_text(method[:16]), status, state, ids.visitor_id, ids.session_id,
                    agent, (), bot, origin.client_ip,
                )
            )  # fmt: skip

    def _keeps(self, cookie: bytes) -> bool:
        """Whether a host's ``Set-Cookie`` goes out under the visitor's decision."""
        allows = self.core.cookie_filter.allows
        if allows(cookie, frozenset()):  # a necessary cookie
            return True
        self.varies = True  # a cookie of an optional category: it depends on the consent
        decision = self.decision
        return allows(cookie, decision.accepted if decision is not None else frozenset())

    def _make_plan(self) -> Plan:
        """The plan of this request's answer (no remembered one): the ``Set-Cookie``
        values worked out, a new decision recorded; remembered for the visitor's next
        pages when it depends only on what the request's headers proved."""
        core, visit, decision = self.core, self.visit, self.decision
        assert visit is not None
        changes, ids = cookie_changes(
            visit, decision, core.settings, core.cookie_writer, core.cookie_filter
        )
        if self.new_decision and decision is not None:
            changes.append(core.consent_cookie(visit, decision))
            if core.records_signal(visit):
                core.record_decision(visit, decision, decision.source, ids)
        plan = core.plan(visit, decision, ids, changes)
        if self.key is not None and visit.decision is not None and not self.new_decision:
            proven = visit.proven_ids(core.settings)
            if (ids.visitor_id, ids.session_id) == (proven.visitor_id, proven.session_id):
                # no id issued now: the same header brings the same answer
                core.plans.remember(self.key, plan)
        return plan

    def _put_banner(self, start: Message, message: Message) -> None:
        """The banner into the final body ``message`` of a held ``start``, and the page's
        embeds as the visitor's decision allows (``asgi/embeds.py``)."""
        original = body = message.get("body", b"")
        extra = b""
        if self.core.settings.embeds and marked(body):
            body, extra = self._rewrite_embeds(body)
        # a fragment without </body> gets no banner, but its embeds rewritten, with the
        # placeholders' forms and module after them
        injected = inject(body, self._snippet() + extra, self.encoding, self._head(body), extra)
        body = injected if injected is not None else body
        if body is not original:
            self.varies = True  # the banner (or an embed) shows this visitor's state
            length = (b"content-length", str(len(body)).encode())
            headers: list[tuple[bytes, bytes]] = start["headers"]  # ``_start``'s own list
            at = self.length_at
            if at >= 0:
                headers[at] = length
            else:
                if at == _REPEATED:
                    headers[:] = [h for h in headers if h[0].lower() != b"content-length"]
                headers.append(length)
            message["body"] = body

    def _final(self, start: Message) -> Message:
        """The response start as it goes out: private when it depends on the cookies."""
        if self.varies:
            headers: list[tuple[bytes, bytes]] = start["headers"]  # ``_start``'s own list
            if self.caching:
                start["headers"] = private(headers)
            else:  # without caching headers of the host's, ``private`` would add these two
                headers += _PRIVATE
        return start

    def _is_page(self, content_type: str) -> bool:
        scope, settings = self.scope, self.core.settings
        path: str = scope["path"]
        if settings.page_filter is not None:
            return settings.page_filter(path, content_type)
        return scope["method"] == "GET" and path not in settings.exclude_paths

    def _snippet(self) -> bytes:
        """What goes before ``</body>``: the tags (a decided visitor) or the banner, and
        the page-view token."""
        plan = self.plan
        assert plan is not None  # made by ``_start``, which held the start
        nonce = self._nonce()
        banner = plan.banner
        if banner.decided and not nonce:
            snippet = plan.tags
        else:
            # a decided visitor's page has no banner form to return from
            next_url = "" if banner.decided else self._next_url()
            snippet = self.core.banner.snippet(banner, next_url, nonce)
        if self.pageview_token:
            return b"".join((snippet, _PV_OPEN, self.pageview_token.encode(), _PV_CLOSE))
        if self.check_token:
            return b"".join((snippet, _CHECK_OPEN, self.check_token.encode(), _PV_CLOSE))
        return snippet

    def _rewrite_embeds(self, body: bytes) -> tuple[bytes, bytes]:
        """``body`` with its marked embeds rewritten, and the tags of the embeds module
        when a placeholder needs it."""
        plan, core = self.plan, self.core
        assert plan is not None  # made by ``_start``, which held the start
        decision = plan.decision
        rewritten = core.embeds.rewrite(
            body,
            decision.accepted if decision is not None else frozenset(),
            core.banner.texts(plan.banner.language),
            self._next_url(),
            self.encoding,
        )
        if not rewritten.placeholders:
            return rewritten.body, b""
        self.varies = True  # what loads depends on the visitor's decision
        return rewritten.body, rewritten.forms + core.embed_tags(self._nonce())

    def _next_url(self) -> str:
        """The page's own path and query, to return to after a form on it posts."""
        scope = self.scope
        query = scope.get("query_string", b"")
        # raw_path keeps %-escapes: /docs/a%3Fb must come back as itself
        raw_path = scope.get("raw_path")
        path: str = raw_path.decode("latin-1") if raw_path else scope["path"]
        return path + ("?" + query.decode("latin-1") if query else "")

    def _head(self, body: bytes) -> bytes:
        """What goes at the start of ``<head>``: the Consent Mode script, if this page
        gets it (``consent_mode``)."""
        renderer = self.core.consent_mode
        if renderer is None or not renderer.wanted(body):
            return b""
        assert self.plan is not None  # made by ``_start``, which held the start
        decision = self.plan.decision
        return renderer.snippet(decision.accepted if decision is not None else None, self._nonce())

    def _nonce(self) -> str:
        """The page's CSP nonce, set by the host app in ``request.state.csp_nonce``."""
        state = self.scope.get("state")
        return str(state.get("csp_nonce", "")) if state else ""

    def _log_page(self) -> None:
        """Queue the page request's raw inputs; the writer makes the row of them."""
        scope, plan, core = self.scope, self.plan, self.core
        assert plan is not None
        get = self.headers.get
        hops = core.settings.trusted_proxy_hops
        host = get(b"host", b"")[:MAX_HOST]
        client = scope.get("client")
        core.sink.submit(
            _new_tuple(
                PageSeen,
                (
                    self.started,
                    self.pageview_id,
                    # cut to what a row keeps (or what reading a proxy's list needs), so
                    # that a queue of events is no larger than its rows
                    host,
                    get(b"referer", b"")[:MAX_REFERRER],
                    get(b"user-agent", b"")[:MAX_USER_AGENT],
                    get(b"accept-language", b"")[:MAX_ACCEPT_LANGUAGE],
                    get(b"x-forwarded-for", b"")[:MAX_FORWARDED] if hops else b"",
                    get(b"x-forwarded-proto", b"")[:MAX_FORWARDED] if hops else b"",
                    get(b"x-forwarded-host", b"")[:MAX_FORWARDED] if hops else b"",
                    scope.get("scheme"),
                    client[0] if type(client) is tuple and client else _host_of(client),
                    None if host else scope.get("server"),
                    scope["path"],
                    getattr(scope.get("route"), "path", ""),  # not the app's object
                    scope["method"],
                    self.status,
                    self.sent_bytes,
                    (time.perf_counter() - self.clock) * 1000,
                    scope.get("query_string", b"")[:MAX_QUERY],
                    plan.state,
                    plan.visitor_id,
                    plan.session_id,
                    hops,
                    core.settings.trust_forwarded_host,
                    get(core.country_header, b"")[:MAX_COUNTRY] if core.country_header else b"",
                    core.browser_headers <= self.headers.keys(),
                ),
            )
        )


def _host_of(client: object) -> object:
    """The host of a scope's ``client`` that is not a tuple: a list's first item (Daphne),
    else nothing (ASGI allows any iterable; no container goes into the queue)."""
    return client[0] if type(client) is list and client else None


_ASCII = bytes(range(128))
_ASCII_TEXT = _ASCII.decode("ascii")


@functools.lru_cache(maxsize=64)  # content types come from the host application: few
def _html_type(content_type: bytes) -> tuple[str, str | None] | None:
    """For an HTML ``Content-Type``: the type as lower-case text, and the codec of its
    charset (``_encoding``); None for any other type."""
    content = content_type.decode("latin-1").lower()
    return (content, _encoding(content)) if content.startswith("text/html") else None


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
_CODED = frozenset((b"content-encoding", b"content-range"))  # no banner goes into those
_PV_OPEN, _PV_CLOSE = b'<i id="cl-pv" data-pv="', b'" hidden></i>'  # the page-view token
_CHECK_OPEN = b'<i id="cl-pv" data-check="'  # a page served without consent: its check token


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
