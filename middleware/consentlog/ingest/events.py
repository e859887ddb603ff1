"""The events the request path queues, as raw as the request gave them.

A served page is queued as a ``PageSeen``: the few request headers a row is made of, as
received, and scalars copied out of the scope and the response — nothing parsed. The
writer makes the rows of a batch of them column by column (``columns.seen_table``), off
the request path; user-agent parsing, IP masking and URL splitting happen there too (see
``parsing.py``). A ``PageRequest`` (or a consent record, an engagement) holds no more
than the tables may, so neither does any copy of it — the spool, quarantine: fields that
consent does not allow are empty strings from the start, the query keeps only its
campaign parameters, and the referrer only its origin — plus its path with consent. The
writer reduces the user agent and the IP to what enrichment needs before an event goes to
disk (``Enricher.for_disk``). A ``PageSeen`` never goes to disk.

``page_request`` builds a ``PageRequest`` from a ``Visit`` (the beacon, for single-page-app
views); ``PageSeen.request`` from the raw inputs: the length limits and the consent
masking live in one function for both. A new field goes at the end of its tuple, with a
default, so that spool files written before it still replay (``spool.py`` reads fields by
name).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from typing import Literal, NamedTuple, Protocol
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from consentlog.consent.http import Origin, first_language, origin_from, text
from consentlog.consent.visit import Identifiers, Visit
from consentlog.ingest.channels import CLICK_IDS

ConsentState = Literal["granted", "denied", "unknown"]

# Longest stored value of each raw input, in characters: enough for any real request,
# short enough that one visitor cannot make a row large.
MAX_PATH = 1024
MAX_ROUTE = 255
MAX_REFERRER = 2048
MAX_QUERY = 4096
MAX_USER_AGENT = 512
MAX_ACCEPT_LANGUAGE = 256
MAX_HOST = 255
MAX_FORWARDED = 2048  # X-Forwarded-* lists, as ``text`` reads them
MAX_COUNTRY = 8  # a CDN's country header: two letters

# A user agent reduced to its families, as spool files keep it, starts with this mark
# (``parsing.reduced_agent``). No browser sends one: a request that does claims families
# for itself, so it is read as this — a bot's, by its agent — wherever a request's own
# user agent is read (``live_agent``); only a spool file's is read as families.
AGENT_MARK = "consentlog-agent:"
CLAIMED_AGENT = AGENT_MARK + "Other/Other/bot/agent"


def live_agent(user_agent: str) -> str:
    """A request's user agent as the writer may read it: itself, unless it claims the
    spool's reduced form (then ``CLAIMED_AGENT``)."""
    return CLAIMED_AGENT if user_agent.startswith(AGENT_MARK) else user_agent


# What no stored string may hold: C0 and C1 control characters, DEL, and lone surrogates
# (which cannot be encoded as UTF-8, so no row could carry them).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


# The query parameters the tables keep: the campaign tags, and of an ad click id only
# that it came (its value names one click, so one person).
CAMPAIGN_TAGS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "ref")
MAX_TAG = 200  # characters of a tag's value a row keeps
_CLICK_ASSIGNMENTS = tuple(f"{name}=" for name in CLICK_IDS)


def campaign_query(query: str) -> str:
    """The campaign part of a query string, no more than the rows keep of it: each tag's
    first value, cut to ``MAX_TAG`` characters, and the names of the ad click ids present
    — ``a=1&utm_source=x&utm_source=y&gclid=Cj0`` → ``utm_source=x&gclid=``. A query may
    hold an e-mail address or a reset token; a click id's value is dropped, also where a
    tag carries one (``utm_source=x;gclid=Cj0``: the tag is cut before it)."""
    if "=" not in query:
        return ""
    try:  # what a %-escape or the text itself holds is made safe first (urlencode needs it)
        pairs = [
            (safe_text(k), safe_text(v))
            for k, v in parse_qsl(safe_text(query[:MAX_QUERY]), keep_blank_values=True)
        ]
    except ValueError:
        return ""
    first: dict[str, str] = {}
    clicks = {name for name, _ in pairs if name in CLICK_IDS}
    for name, value in pairs:
        if name in CAMPAIGN_TAGS and name not in first:
            value, click = _without_click_id(value[:MAX_TAG])
            first[name] = value
            if click:
                clicks.add(click)
    kept = [(name, first[name]) for name in CAMPAIGN_TAGS if name in first]
    kept += [(name, "") for name in CLICK_IDS if name in clicks]
    return urlencode(kept, quote_via=quote)


def _without_click_id(value: str) -> tuple[str, str]:
    """``value`` cut before the first ad click id assigned in it, and that id's name."""
    lowered = value.lower()
    if "=" not in lowered:
        return value, ""
    found = [(lowered.find(a), a[:-1]) for a in _CLICK_ASSIGNMENTS if a in lowered]
    if not found:
        return value, ""
    at, name = min(found)
    return value[:at].rstrip(";&,| "), name


def stored_referrer(referrer: str, granted: bool) -> str:
    """What a Referer header may leave: its origin (``https://mail.example``), and with
    consent its path too — never its query, fragment or credentials."""
    if not referrer:
        return ""
    try:
        parts = urlsplit(referrer[:MAX_REFERRER])
    except ValueError:
        return ""
    host = parts.netloc.rpartition("@")[2]
    if not host:
        return ""
    scheme = f"{parts.scheme}:" if parts.scheme else ""
    return f"{scheme}//{host}{parts.path if granted else ''}"


def unsafe_text(value: str) -> bool:
    """True if ``value`` holds a control character or a lone surrogate: refused at the
    edge where a client sent it, and an event holding one is never written."""
    return _UNSAFE.search(value) is not None


def safe_text(value: str) -> str:
    """``value`` with every control character and lone surrogate replaced by U+FFFD: what
    a page request or consent record keeps of a header the visitor sent, so the event is
    written (a page is never refused for its headers, and the proof of a decision never
    lost) and no row holds what it may not. Printable ASCII, nearly every header, is
    returned as it is after one C check. A ``str`` subclass is read as the plain string
    of its characters (its own methods are not asked); anything else is refused."""
    if type(value) is not str:
        value = str.__str__(value)  # TypeError for what is no string at all
    if value.isascii() and value.isprintable():
        return value
    return _UNSAFE.sub("\ufffd", value)


_HEX = b"0123456789abcdefABCDEF"
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))


def _only(text: str, allowed: bytes) -> bool:
    """Whether ``text`` is ASCII made of the bytes ``allowed`` (one C pass, no regex)."""
    return text.isascii() and not text.encode("ascii").translate(None, allowed)


def page_view_ids(ids: Sequence[object]) -> bool:
    """Whether every value is a page-view id: a UUID, as issued (32 hex digits) or in its
    canonical 8-4-4-4-12 form. The tables hold them as UUIDs, and ClickHouse would refuse
    the whole batch for one that is not."""
    try:
        joined = "".join(ids)  # type: ignore[arg-type]
    except TypeError:
        return False
    lengths = set(map(len, ids))  # type: ignore[arg-type]
    if lengths <= {32}:
        return _only(joined, _HEX)  # the request path's own ids: one C pass
    return lengths <= {32, 36} and all(_uuid_text(i) for i in ids)  # type: ignore[arg-type]


def _uuid_text(text: str) -> bool:
    if len(text) == 36:
        if not text[8] == text[13] == text[18] == text[23] == "-":
            return False
        text = text.replace("-", "")
    return len(text) == 32 and _only(text, _HEX)


class UnsafeEvents(ValueError):
    """A batch holds a value no row may hold (see ``events.unsafe_text``)."""


def refuse_unsafe(texts: Sequence[Sequence[object]], ids: Sequence[object] = ()) -> None:
    """Raise ``UnsafeEvents`` if a value of the string columns ``texts`` is unsafe, or one
    of ``ids`` is not a page-view id. One pass over the columns joined (nearly every batch
    is printable ASCII, checked in C), so a clean batch costs no per-event check."""
    try:
        joined = "".join(itertools.chain.from_iterable(texts))  # type: ignore[arg-type]
    except TypeError:  # a value of the wrong type (a damaged spool file)
        raise UnsafeEvents("a string field holds another type") from None
    if not _only(joined, _PRINTABLE_ASCII) and unsafe_text(joined):
        raise UnsafeEvents("a string holds a control character or a lone surrogate")
    if ids and not page_view_ids(ids):
        raise UnsafeEvents("a page-view id is not a UUID")


class PageRequest(NamedTuple):
    """One page request, as seen by the middleware."""

    ts: float  # unix seconds when the request arrived
    pageview_id: str  # uuid4 hex
    host: str
    path: str
    route: str
    method: str
    status: int
    response_bytes: int
    duration_ms: float
    referrer: str
    query: str
    user_agent: str
    language: str
    consent_state: str  # a ConsentState: 'granted' | 'denied' | 'unknown'
    visitor_id: str  # '' unless analytics was accepted
    session_id: str  # '' unless analytics was accepted
    client_ip: str  # '' unless analytics was accepted
    # the page on which the visitor accepted, logged again with consent: already counted
    # as an anonymous view, so view counts leave it out; sessions and engagement count it
    consented_copy: bool = False
    # the country: a CDN's header value as it came (the writer keeps it if it is a country
    # code), or, in a spool file, the code the writer derived from the full IP
    country: str = ""
    # what besides its user agent marks the request automated (``bots.py``): 'headers'
    # (it lacked a header every browser sends) or 'datacentre' (worked out from the full
    # IP before a spool file cut it); '' for neither
    bot_signal: str = ""


class ConsentRecord(NamedTuple):
    """One consent decision: the proof that it was given, refused or withdrawn."""

    ts: float
    consent_id: str
    action: str  # accept_all | reject_all | custom | withdraw | gpc | dnt | region | erase
    categories: tuple[str, ...]
    policy_revision: int
    source: str
    visitor_id: str  # '' unless analytics was accepted
    client_ip: str  # '' unless analytics was accepted
    user_agent: str
    # the banner as shown when it was decided: banner_revisions.revision (a SHA-256)
    banner_revision: str = ""


class Engagement(NamedTuple):
    """What the beacon reported for one page view of a consented visitor."""

    ts: float
    pageview_id: str
    visitor_id: str
    session_id: str
    host: str
    path: str
    engaged_ms: int  # visible and focused time so far
    scroll_pct: int  # deepest scroll so far, 0-100
    useful: bool | None  # the visitor's "was this page useful?" vote, if any


class BrowserCheck(NamedTuple):
    """The banner script ran on a page view served without consent: its first request
    names the page view (``asgi/checks.py``), and nothing else — it makes the view a
    verified browser view."""

    ts: float
    pageview_id: str


class Goal(NamedTuple):
    """A goal reached: a *server* goal (a request the site answered the way a configured
    goal names, no script needed) or a *client* goal (a ``data-consent-goal`` link or form,
    or ``consentlog.track``) that a consented visitor's beacon reported."""

    ts: float
    name: str
    kind: str  # 'server' | 'client'
    host: str
    path: str  # the request's path (server) or the page's it happened on (client)
    pageview_id: str  # the page view a client goal happened on; '' for a server goal
    method: str  # the request's method and status (server goals); '' and 0 for client ones
    status: int
    consent_state: str  # a ConsentState
    visitor_id: str  # '' unless analytics was accepted
    session_id: str  # '' unless analytics was accepted
    user_agent: str  # reduced to its families before a batch goes to disk
    props: tuple[tuple[str, str], ...] = ()  # a custom event's properties (client goals)
    # what besides the user agent marks it a bot's, as for a page (``bots.py``): 'headers'
    # from the request path, 'datacentre' worked out from ``client_ip`` before disk
    bot_signal: str = ""
    # the client's full address, with or without consent: in memory only, for the
    # data-centre check — never stored, and '' in any copy on disk (``for_disk``)
    client_ip: str = ""


class PageSeen(NamedTuple):
    """A served page as the request path saw it: its raw inputs, copied out of the scope,
    the headers and the response, nothing parsed. The writer makes the rows of a batch
    of them column by column (``columns.seen_table``); ``request`` makes the one row of
    one, the same (a property test holds the two together), for a batch going to disk. It
    never leaves memory: the queue and a ``Batch`` hold it, a spool file only the
    ``PageRequest`` it becomes (``Batch.resolved``).

    Strings, bytes and numbers only, no container (the request's header dict would do
    as well, but a queue of thousands of containers is what the garbage collector then
    walks again and again, which costs the serving thread; and the queue keeps no
    object of the scope's or the application's alive). ``server`` is the one container,
    kept only for a request without a Host header."""

    ts: float
    pageview_id: str
    host: bytes  # the request headers the row is made of, as received
    referer: bytes
    user_agent: bytes
    accept_language: bytes
    forwarded_for: bytes  # X-Forwarded-* (read only behind a trusted proxy)
    forwarded_proto: bytes
    forwarded_host: bytes
    scheme: object  # the scope's values as the server and the application set them
    peer: object  # the client's host (a proxy's, behind one), or None
    server: object  # (host, port) the server listens on; None when a Host header came
    path: str
    route: object  # the path of the route that answered ('' for none), as the app set it
    method: str
    status: int
    response_bytes: int
    duration_ms: float
    query: bytes
    consent_state: ConsentState
    visitor_id: str  # '' unless analytics was accepted
    session_id: str  # '' unless analytics was accepted
    trusted_hops: int  # the settings the origin is read with
    trust_forwarded_host: bool
    country: bytes  # the CDN's country header, when one is configured
    browser_headers: bool  # the request had every header browsers send (``bots.py``)

    def request(
        self,
        country: Callable[[str, str], str] | None = None,
        datacentre: Callable[[str], bool] | None = None,
    ) -> PageRequest:
        """The ``PageRequest`` this page view is stored as; ``country(ip, header)`` (the
        writer's ``Countries``) gives its country and ``datacentre(ip)`` whether it came
        from a data centre, from the full IP, which the event keeps only with consent."""
        headers = {
            b"host": self.host,
            b"referer": self.referer,
            b"user-agent": self.user_agent,
            b"accept-language": self.accept_language,
            b"x-forwarded-for": self.forwarded_for,
            b"x-forwarded-proto": self.forwarded_proto,
            b"x-forwarded-host": self.forwarded_host,
        }
        origin = origin_from(
            str(self.scheme or "http"),
            peer_text(self.peer),
            address(self.server),
            headers,
            self.trusted_hops,
            forwarded_host=self.trust_forwarded_host,
        )
        header = safe_text(self.country[:MAX_COUNTRY].decode("latin-1"))
        return _page_request(
            headers,
            origin,
            country=country(origin.client_ip, header) if country else header,
            consent_state=self.consent_state,
            ts=self.ts,
            pageview_id=self.pageview_id,
            path=self.path,
            route=str(self.route),
            method=self.method,
            status=self.status,
            response_bytes=self.response_bytes,
            duration_ms=self.duration_ms,
            query=self.query[:MAX_QUERY].decode("latin-1"),
            visitor_id=self.visitor_id,
            session_id=self.session_id,
            bot_signal=("" if self.browser_headers else "headers")
            or ("datacentre" if datacentre and datacentre(origin.client_ip) else ""),
        )


def peer_text(peer: object) -> str:
    """The client's host of a scope as text ('' for none)."""
    return peer if type(peer) is str else "" if peer is None else str(peer)


def address(value: object) -> tuple[str, int | None] | None:
    """A scope's ``client`` or ``server`` as ``origin_from`` reads it: (host, port) from
    a tuple or list (Daphne sends lists; a raw IPv6 sockaddr has four items), or None."""
    if not isinstance(value, (tuple, list)) or not value:
        return None
    port = value[1] if len(value) > 1 else None
    return str(value[0]), port if isinstance(port, int) else None


Event = PageRequest | ConsentRecord | Engagement | Goal | BrowserCheck
Queued = Event | PageSeen  # what the request path hands the sink
EventType = (
    type[PageRequest] | type[ConsentRecord] | type[Engagement] | type[Goal] | type[BrowserCheck]
)

# The spool's name for the events of each type, as batches group them.
KINDS: dict[str, EventType] = {
    "pages": PageRequest,
    "consents": ConsentRecord,
    "engagements": Engagement,
    "goals": Goal,
    "checks": BrowserCheck,
}


def page_request(
    visit: Visit,
    ids: Identifiers,
    *,
    consent_state: ConsentState,
    ts: float,
    pageview_id: str,
    path: str,
    route: str = "",
    method: str = "GET",
    status: int = 200,
    response_bytes: int = 0,
    duration_ms: float = 0.0,
    query: str = "",
    consented_copy: bool = False,
    country: str = "",
    referrer: str | None = None,
) -> PageRequest:
    """The ``PageRequest`` of one page view of ``visit``: raw inputs cut to their limits,
    and identifiers and the client IP only when analytics consent was ``granted``;
    ``referrer`` replaces the request's Referer (a page's own, sent by the script)."""
    headers = visit.headers
    if referrer is not None:
        headers = {**headers, b"referer": referrer[:MAX_REFERRER].encode("latin-1", "replace")}
    request = _page_request(
        headers,
        visit.origin,
        country=safe_text(country[:MAX_COUNTRY]),
        consent_state=consent_state,
        ts=ts,
        pageview_id=pageview_id,
        path=path,
        route=route,
        method=method,
        status=status,
        response_bytes=response_bytes,
        duration_ms=duration_ms,
        query=query,
        visitor_id=ids.visitor_id,
        session_id=ids.session_id,
    )
    return request._replace(consented_copy=True) if consented_copy else request


def _page_request(
    headers: dict[bytes, bytes],
    origin: Origin,
    *,
    country: str,
    consent_state: ConsentState,
    ts: float,
    pageview_id: str,
    path: str,
    route: str,
    method: str,
    status: int,
    response_bytes: int,
    duration_ms: float,
    query: str,
    visitor_id: str,
    session_id: str,
    bot_signal: str = "",
) -> PageRequest:
    """The one place the limits and the consent masking of a page request live."""
    granted = consent_state == "granted"
    return PageRequest(
        ts,
        pageview_id,
        safe_text(origin.host),
        safe_text(path[:MAX_PATH]),
        safe_text(route[:MAX_ROUTE]),
        safe_text(method),
        status,
        response_bytes,
        duration_ms,
        safe_text(stored_referrer(text(headers, b"referer", MAX_REFERRER), granted)),
        safe_text(campaign_query(query)),
        live_agent(safe_text(text(headers, b"user-agent", MAX_USER_AGENT))),
        first_language(text(headers, b"accept-language", MAX_ACCEPT_LANGUAGE)),
        consent_state,
        visitor_id if granted else "",
        session_id if granted else "",
        origin.client_ip if granted else "",
        False,
        country,
        bot_signal,
    )


class EventSink(Protocol):
    """Where the request path hands its events: the background ``Writer``, or in tests
    ``consentlog.testing.MemorySink``. ``submit`` never blocks and never does I/O."""

    def submit(self, event: Queued) -> None:
        """Queue ``event``."""
        ...

    def flush(self, timeout: float = 30.0) -> bool:
        """Write what is queued; False if some is still waiting after ``timeout`` s."""
        ...

    def stop(self, timeout: float = 10.0) -> bool:
        """Flush, then stop; True if everything was written."""
        ...
