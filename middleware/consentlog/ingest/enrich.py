"""Turning a batch of raw events into an Arrow table, off the request path.

User agents become browser / OS / device families (parsed by ua-parser, cached), IPs
become prefixes, referrers lose what consent does not allow, query strings give UTM tags.
Work is column-wise: the batch is transposed once, and each derived column is computed
once per *distinct* input value (a batch has few distinct user agents, referrers, IPs).

``Enricher.tables`` isolates bad events: an event holding a string no row may hold
(``events.unsafe_text``), or one the enrichment fails on, is left out and counted, and
the rest of its batch becomes rows. ``Enricher.for_disk`` is what the writer spools
instead of a batch: user agents reduced to their families and IPs to their prefixes, so
a spool file holds no more than the tables would.
"""

from __future__ import annotations

import functools
import itertools
import socket
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeVar
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pyarrow as pa
import pyarrow.compute as pc
import structlog
from ua_parser import parse as parse_user_agent

from consentlog.ingest.columns import Columns, seen_columns
from consentlog.ingest.events import ConsentRecord, Engagement, PageRequest, safe_text, unsafe_text
from consentlog.ingest.spool import Batch

log = structlog.get_logger("consentlog.ingest.enrich")
_V4_MAPPED = b"\x00" * 10 + b"\xff\xff"
# A user agent reduced to its families, as spool files keep it: the mark, then browser,
# OS, device and bot (1/0), %-encoded and separated by '/'. A client sending one claims
# families for itself, which any user agent can.
AGENT_MARK = "consentlog-agent:"
_BOT_WORDS = ("bot", "crawl", "spider", "slurp", "headless", "preview", "monitor", "python")


class Agent(tuple[str, str, str, bool]):
    """(browser, os, device, is_bot) families of a user agent — never the full string."""

    __slots__ = ()


@functools.lru_cache(maxsize=4096)
def agent(user_agent: str) -> Agent:
    """The browser, OS and device families of a user agent, and whether it is a bot."""
    if not user_agent:
        return Agent(("", "", "", False))
    if user_agent.startswith(AGENT_MARK):
        parts = [unquote(p) for p in user_agent[len(AGENT_MARK) :].split("/")]
        if len(parts) == 4:
            return Agent((parts[0], parts[1], parts[2], parts[3] == "1"))
    parsed = parse_user_agent(user_agent)
    browser = parsed.user_agent.family if parsed.user_agent else "Other"
    os_family = parsed.os.family if parsed.os else "Other"
    device_family = parsed.device.family if parsed.device else ""
    lowered = f"{browser} {user_agent[:200]}".lower()
    is_bot = device_family == "Spider" or any(word in lowered for word in _BOT_WORDS)
    if is_bot:
        device = "bot"
    elif "ipad" in device_family.lower() or "tablet" in lowered:
        device = "tablet"
    elif os_family in {"iOS", "Android"} or "mobile" in lowered:
        device = "mobile"
    else:
        device = "desktop"
    return Agent((browser, os_family, device, is_bot))


def reduced_agent(user_agent: str) -> str:
    """``user_agent`` as only its families (``consentlog-agent:Chrome/Windows/desktop/0``),
    which ``agent`` reads back: what a spool file keeps instead of the full string."""
    if not user_agent:
        return ""
    browser, os_family, device, is_bot = agent(user_agent)
    parts = (browser, os_family, device, "1" if is_bot else "0")
    return AGENT_MARK + "/".join(quote(part, safe=" ") for part in parts)


def ip_prefix(ip: str, v4_bits: int, v6_bits: int) -> str:
    """The network prefix of ``ip`` (``203.0.113.0/24``); '' for no or unparsable IP. A
    prefix gives itself (with these bits): an IP reduced for disk replays unchanged."""
    ip = ip.partition("/")[0]
    if not ip:
        return ""
    family, bits, width = (
        (socket.AF_INET6, v6_bits, 128) if ":" in ip else (socket.AF_INET, v4_bits, 32)
    )
    try:
        packed = socket.inet_pton(family, ip)
    except (OSError, ValueError):
        return ""
    if width == 128 and packed[:12] == _V4_MAPPED:  # ::ffff:a.b.c.d is an IPv4 visitor
        family, bits, width, packed = socket.AF_INET, v4_bits, 32, packed[12:]
    mask = ((1 << bits) - 1) << (width - bits)
    network = (int.from_bytes(packed, "big") & mask).to_bytes(width // 8, "big")
    return f"{socket.inet_ntop(family, network)}/{bits}"


def referrer_parts(raw: str) -> tuple[str, str]:
    """Host and path of a Referer header ('' for what cannot be parsed)."""
    if not raw:
        return "", ""
    try:
        parts = urlsplit(raw[:2048])
        host = (parts.hostname or "")[:255]
    except ValueError:
        return "", ""
    return host, (parts.path[:1024] if host else "")


def utm_tags(query: str) -> tuple[str, str, str]:
    """utm_source, utm_medium and utm_campaign of a query string."""
    if "utm_" not in query:
        return "", "", ""
    params = parse_qs(query[:4096])
    source, medium, campaign = (  # %-escapes decode to any character: made safe after
        safe_text(params.get(f"utm_{key}", [""])[0][:200])
        for key in ("source", "medium", "campaign")
    )
    return source, medium, campaign


class Distinct:
    """A column as indices into its distinct values — Arrow's dictionary encoding.

    Derived columns are computed once per distinct value and share the indices, so a
    batch of 10,000 requests from 300 user agents parses 300 user agents.
    """

    def __init__(self, values: Sequence[str] | pa.Array) -> None:
        array = values if isinstance(values, pa.Array) else pa.array(values, pa.string())
        encoded = array.dictionary_encode()
        self.indices = encoded.indices
        self.values: list[str] = encoded.dictionary.to_pylist()

    def derive(self, function: Callable[[str], Sequence[object]], width: int) -> list[pa.Array]:
        """``width`` dictionary columns, the parts of ``function`` of each distinct value."""
        results = [function(v) for v in self.values]
        columns = []
        for k in range(width):
            # encode the few distinct results, then map the rows' indices through them
            # (no string of the batch's rows is hashed again)
            small = pa.array([r[k] for r in results]).dictionary_encode()
            indices = small.indices.take(self.indices)
            columns.append(pa.DictionaryArray.from_arrays(indices, small.dictionary))
        return columns

    def derive_one(self, function: Callable[[str], str]) -> pa.Array:
        """A column of ``function`` of each value."""
        return pa.array([function(v) for v in self.values], pa.string()).take(self.indices)

    def masked(self, function: Callable[[str], str], keep: pa.Array) -> pa.Array:
        """A column of ``function`` of each value, '' where ``keep`` is False."""
        return pc.if_else(keep, self.derive_one(function), "")


_DICT = pa.dictionary(pa.int32(), pa.string())
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_DOTTED_QUAD = f"^{_OCTET}(\\.{_OCTET}){{3}}$"  # what inet_pton reads as an IPv4 address
# the octets a prefix of 1, 2 or 3 whole octets leaves out
_LAST_OCTETS = {1: r"\.[0-9]+\.[0-9]+\.[0-9]+$", 2: r"\.[0-9]+\.[0-9]+$", 3: r"\.[0-9]+$"}


def _timestamps(seconds: Sequence[float]) -> pa.Array:
    millis = pc.cast(pc.floor(pc.multiply(pa.array(seconds, pa.float64()), 1000)), pa.int64())
    return millis.cast(pa.timestamp("ms", tz="UTC"))


CONSENT_SCHEMA = pa.schema(
    [
        ("ts", pa.timestamp("ms", tz="UTC")), ("consent_id", pa.string()),
        ("action", pa.string()), ("categories", pa.list_(pa.string())),
        ("policy_revision", pa.uint32()), ("source", pa.string()),
        ("visitor_id", pa.string()), ("ip_prefix", pa.string()), ("browser", pa.string()),
    ]
)  # fmt: skip


ENGAGEMENT_SCHEMA = pa.schema(
    [
        ("ts", pa.timestamp("ms", tz="UTC")), ("pageview_id", pa.string()),
        ("visitor_id", pa.string()), ("session_id", pa.string()), ("host", pa.string()),
        ("path", pa.string()), ("engaged_ms", pa.uint32()), ("scroll_pct", pa.uint8()),
        ("useful", pa.bool_()),
    ]
)  # fmt: skip


E = TypeVar("E", PageRequest, ConsentRecord, Engagement)
R = TypeVar("R", PageRequest, ConsentRecord)  # the events with a user agent and an IP


class Rows(NamedTuple):
    """The Arrow tables of a batch (table name → rows) and how many events were left out."""

    tables: dict[str, pa.Table]
    rejected: int


_HEX = b"0123456789abcdefABCDEF"
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))


def _only(text: str, allowed: bytes) -> bool:
    """Whether ``text`` is ASCII made of the bytes ``allowed`` (one C pass, no regex)."""
    return text.isascii() and not text.encode("ascii").translate(None, allowed)


def _page_view_ids(ids: Sequence[object]) -> bool:
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


def _sound(event: tuple[Any, ...], keyed: bool) -> bool:
    """False if a string of ``event`` (or of its tuple fields) is one no row may hold, or
    (``keyed``: its second field is a page-view id) its page-view id is not one."""
    if keyed and not _page_view_ids(event[1:2]):
        return False
    for value in event:
        if isinstance(value, tuple):
            if not all(isinstance(v, str) and not unsafe_text(v) for v in value):
                return False
        elif isinstance(value, str) and unsafe_text(value):
            return False
    return True


class UnsafeEvents(ValueError):
    """A batch holds a value no row may hold (see ``events.unsafe_text``)."""


def _refuse_unsafe(texts: Sequence[Sequence[object]], ids: Sequence[object] = ()) -> None:
    """Raise ``UnsafeEvents`` if a value of the string columns ``texts`` is unsafe, or one
    of ``ids`` is not a page-view id. One pass over the columns joined (nearly every batch
    is printable ASCII, checked in C), so a clean batch costs no per-event check."""
    try:
        joined = "".join(itertools.chain.from_iterable(texts))  # type: ignore[arg-type]
    except TypeError:  # a value of the wrong type (a damaged spool file)
        raise UnsafeEvents("a string field holds another type") from None
    if not _only(joined, _PRINTABLE_ASCII) and unsafe_text(joined):
        raise UnsafeEvents("a string holds a control character or a lone surrogate")
    if ids and not _page_view_ids(ids):
        raise UnsafeEvents("a page-view id is not a UUID")


def _resolve(batch: Batch) -> int:
    """Make ``batch``'s raw pages ``PageRequest`` events one by one, leaving out (and
    counting) any that cannot be made one."""
    total = len(batch)
    batch.pages, batch.seen = batch.resolved().pages, []
    return total - len(batch)


def _buildable(build: Callable[[list[E]], pa.Table], events: list[E]) -> list[E]:
    """The events ``build`` succeeds on, found by halving: a few bad events among
    thousands cost a few dozen builds, not one per event."""
    if not events:
        return []
    try:
        build(events)
    except Exception:
        if len(events) == 1:
            return []
        middle = len(events) // 2
        return _buildable(build, events[:middle]) + _buildable(build, events[middle:])
    return events


def _table(columns: Sequence[Any], schema: pa.Schema) -> pa.Table:
    """An Arrow table of ``schema`` from Python sequences (or ready Arrow arrays)."""
    arrays = [
        c if isinstance(c, pa.Array) else pa.array(c, f.type)
        for c, f in zip(columns, schema, strict=True)
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


class Enricher:
    """Builds the Arrow tables for ``page_requests``, ``consent_records`` and ``engagements``."""

    def __init__(self, *, ipv4_prefix: int = 24, ipv6_prefix: int = 48) -> None:
        self._v4 = ipv4_prefix
        self._v6 = ipv6_prefix

    def _prefix(self, ip: str) -> str:
        return ip_prefix(ip, self._v4, self._v6)

    def _prefixes(self, ips: Sequence[str]) -> pa.Array:
        """``ip_prefix`` of each of ``ips``, once per distinct address. The dotted-quad
        IPv4 addresses (nearly all of them) are cut in C when the prefix is whole octets,
        the rest in Python."""
        encoded = pa.array(ips, pa.string()).dictionary_encode()
        distinct = encoded.dictionary
        if self._v4 % 8 or not self._v4:
            return Distinct(encoded).derive_one(self._prefix)
        quad = pc.match_substring_regex(distinct, _DOTTED_QUAD)
        octets = self._v4 // 8
        cut = pc.replace_substring_regex(
            distinct, _LAST_OCTETS[octets], "." + ".".join(["0"] * (4 - octets)) + f"/{self._v4}"
        ) if octets < 4 else pc.binary_join_element_wise(distinct, "/32", "")  # fmt: skip
        absent = pc.equal(distinct, "")  # no address (no consent): no prefix
        if pc.all(pc.or_(quad, absent)).as_py():
            derived = pc.if_else(absent, "", cut)
        else:
            others = [
                "" if is_quad else self._prefix(ip)
                for ip, is_quad in zip(distinct.to_pylist(), quad.to_pylist(), strict=True)
            ]
            derived = pc.if_else(quad, cut, pa.array(others, pa.string()))
        return derived.take(encoded.indices)

    def for_disk(self, batch: Batch) -> tuple[Batch, int]:
        """``batch`` as a spool file may keep it, and how many events were left out: user
        agents reduced to their families, IPs to their prefixes. An event whose agent or
        IP is unsafe is left out here (its rows would be refused anyway)."""
        total = len(batch)
        batch = batch.resolved()
        agents: dict[str, str] = {}
        prefixes: dict[str, str] = {}

        def reduce(event: R) -> R | None:
            ua, ip = event.user_agent, event.client_ip
            if unsafe_text(ua) or unsafe_text(ip):
                return None
            if ua not in agents:
                agents[ua] = reduced_agent(ua)
            if ip not in prefixes:
                prefixes[ip] = self._prefix(ip)
            return event._replace(user_agent=agents[ua], client_ip=prefixes[ip])

        pages = [r for r in map(reduce, batch.pages) if r is not None]
        consents = [r for r in map(reduce, batch.consents) if r is not None]
        kept = Batch(batch.token, pages, consents, list(batch.engagements))
        return kept, total - len(kept)

    def tables(self, batch: Batch) -> Rows:
        """The rows of ``batch`` for each table, leaving out (and counting) the events
        that hold unsafe strings or that cannot become rows. Those are removed from
        ``batch`` too, so that spooling or replaying it again neither keeps nor counts
        them twice."""
        tables: dict[str, pa.Table] = {}
        rejected = 0
        if batch.seen:  # the request path's raw pages, column by column
            try:
                tables["page_requests"] = self._seen_table(batch)
            except Exception as exc:  # one event spoils the columns: find it the slow way
                log.warning("raw_pages_one_by_one", error=type(exc).__name__)
                rejected += _resolve(batch)
        for name, events, build, keyed in (
            ("page_requests", batch.pages, self.page_table, True),
            ("consent_records", batch.consents, self.consent_table, False),
            ("engagements", batch.engagements, self.engagement_table, True),
        ):
            if name in tables:
                continue
            kept: list[Any] = events
            try:
                table = build(kept) if kept else None
            except Exception:
                kept = _buildable(build, [e for e in kept if _sound(e, keyed)])
                table = build(kept) if kept else None
            rejected += len(events) - len(kept)
            events[:] = kept
            if table is not None:
                tables[name] = table
        return Rows(tables, rejected)

    def _seen_table(self, batch: Batch) -> pa.Table:
        """The ``page_requests`` rows of a batch's raw pages and its ``PageRequest``s."""
        columns = seen_columns(batch.seen)
        if batch.pages:
            columns = tuple(
                [*ours, *theirs]
                for ours, theirs in zip(zip(*batch.pages, strict=True), columns, strict=True)
            )
            return self.page_columns(columns)  # the replayed pages' texts are checked
        return self.page_columns(columns, texts_safe=True)

    def page_table(self, events: Sequence[PageRequest]) -> pa.Table:
        """The ``page_requests`` rows of a batch."""
        return self.page_columns(tuple(zip(*events, strict=True)))

    def page_columns(self, columns: Columns, *, texts_safe: bool = False) -> pa.Table:
        """The ``page_requests`` rows of ``PageRequest`` columns. ``texts_safe``: the
        columns made of what the visitor sent (host to language) hold only safe text
        already (``seen_columns`` made them with ``safe_text``), so only the others are
        checked.

        Consent is enforced here a second time: a row that is not 'granted' keeps no
        identifier, no IP prefix and no referrer path, whatever the event carried.
        """
        (ts, pageview_id, host, path, route, method, status, response_bytes, duration_ms,
         referrer, query, user_agent, language, consent_state, visitor_id, session_id,
         client_ip) = columns  # fmt: skip
        sent = () if texts_safe else (host, path, route, method, referrer, query, user_agent,
                                      language)  # fmt: skip
        _refuse_unsafe((*sent, consent_state, visitor_id, session_id, client_ip), pageview_id)
        states = pa.array(consent_state, pa.string())
        granted = pc.equal(states, "granted")
        browser, os_family, device, is_bot = Distinct(user_agent).derive(agent, 4)
        referrers = Distinct(referrer)
        [referrer_host] = referrers.derive(lambda r: referrer_parts(r)[:1], 1)
        utm_source, utm_medium, utm_campaign = Distinct(query).derive(utm_tags, 3)

        def only_granted(values: Sequence[str]) -> pa.Array:
            return pc.if_else(granted, pa.array(values, pa.string()), "")

        arrays = {
            "ts": _timestamps(ts),
            "pageview_id": pa.array(pageview_id, pa.string()),
            "host": pa.array(host, _DICT),
            "path": pa.array(path, pa.string()),
            "route": pa.array(route, _DICT),
            "method": pa.array(method, _DICT),
            "status": pa.array(status, pa.uint16()),
            "response_bytes": pa.array(response_bytes, pa.uint64()),
            "duration_ms": pa.array(duration_ms, pa.float32()),
            "referrer_host": referrer_host,
            "referrer_path": referrers.masked(lambda r: referrer_parts(r)[1], granted),
            "utm_source": utm_source,
            "utm_medium": utm_medium,
            "utm_campaign": utm_campaign,
            "browser": browser,
            "os": os_family,
            "device": device,
            "is_bot": is_bot.dictionary_decode(),
            "language": pa.array(language, _DICT),
            "consent_state": states.dictionary_encode(),
            "visitor_id": only_granted(visitor_id),
            "session_id": only_granted(session_id),
            "ip_prefix": pc.if_else(granted, self._prefixes(client_ip), ""),
        }
        return pa.table(arrays)

    def engagement_table(self, events: Sequence[Engagement]) -> pa.Table:
        """The ``engagements`` rows of a batch (already validated by the beacon route)."""
        ts, pageview_id, *rest = zip(*events, strict=True)
        _refuse_unsafe(rest[:4], pageview_id)  # visitor_id, session_id, host, path
        columns = [_timestamps(ts), pageview_id, *rest]
        return _table(columns, ENGAGEMENT_SCHEMA)

    def consent_table(self, events: Sequence[ConsentRecord]) -> pa.Table:
        """The ``consent_records`` rows of a batch."""
        (ts, consent_id, action, categories, policy_revision, source, visitor_id, client_ip,
         user_agent) = zip(*events, strict=True)  # fmt: skip
        _refuse_unsafe((consent_id, action, source, visitor_id, client_ip, user_agent,
                        *categories))  # fmt: skip
        columns = [
            _timestamps(ts), consent_id, action, [list(c) for c in categories],
            policy_revision, source, visitor_id, [self._prefix(ip) for ip in client_ip],
            [agent(ua)[0] for ua in user_agent],
        ]  # fmt: skip
        return _table(columns, CONSENT_SCHEMA)
