"""Raw page views (``PageSeen``) made the ``page_requests`` table, in bulk; and the Arrow
column helpers the writer's tables share.

A batch of raw pages is transposed once (``zip``), and every derived value is worked out
once per distinct input — a batch of pages has few distinct hosts, routes, agents,
languages, referrers, query strings — straight into Arrow dictionary columns: Arrow
hashes each raw column once (``dictionary_encode``), Python parses its few distinct
values, and the rows' indices are mapped through the results in C. Consent is applied in
C too: the referrer path, the identifiers and the IP prefix are ``''`` in a row whose
consent is not ``granted``. The writer thread shares the GIL with the serving thread, so
per-page Python is what this module avoids.

The table is the one ``PageSeen.request`` and ``Enricher.page_table`` make row by row — a
property test (``tests/ingest/test_columns.py``) holds the two together — so the limits
and the consent masking still read as one function in ``events.py``. Every text a visitor
sent is made with ``safe_text`` here.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from consentlog.consent.http import Origin, first_language, origin_from
from consentlog.ingest.bots import DATACENTRE, HEADERS, NO_DATACENTRES, Ranges
from consentlog.ingest.channels import channel
from consentlog.ingest.events import (
    MAX_ACCEPT_LANGUAGE,
    MAX_COUNTRY,
    MAX_PATH,
    MAX_QUERY,
    MAX_REFERRER,
    MAX_ROUTE,
    MAX_USER_AGENT,
    PageSeen,
    address,
    campaign_query,
    live_agent,
    peer_text,
    refuse_unsafe,
    safe_text,
    stored_referrer,
)
from consentlog.ingest.geo import Countries
from consentlog.ingest.parsing import Campaign, agent, campaign_tags, ip_prefix, referrer_parts

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

DICT = pa.dictionary(pa.int32(), pa.string())
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_DOTTED_QUAD = f"^{_OCTET}(\\.{_OCTET}){{3}}$"  # what inet_pton reads as an IPv4 address
# the octets a prefix of 1, 2 or 3 whole octets leaves out
_LAST_OCTETS = {1: r"\.[0-9]+\.[0-9]+\.[0-9]+$", 2: r"\.[0-9]+\.[0-9]+$", 3: r"\.[0-9]+$"}
_PLAIN = frozenset((str, bytes, int, bool, type(None)))
_ARROW_FAILS = (pa.ArrowException, TypeError, ValueError, UnicodeError, OverflowError)


def per_distinct(function: Callable[[K], V], values: Iterable[K]) -> list[V]:
    """``[function(v) for v in values]``, calling ``function`` once per distinct value."""
    values = values if isinstance(values, (list, tuple)) else list(values)
    table = {value: function(value) for value in set(values)}
    return list(map(table.__getitem__, values))


def timestamps(seconds: Sequence[float]) -> pa.Array:
    """Unix seconds as a millisecond UTC timestamp column."""
    millis = pc.cast(pc.floor(pc.multiply(pa.array(seconds, pa.float64()), 1000)), pa.int64())
    return millis.cast(pa.timestamp("ms", tz="UTC"))


class Distinct:
    """A column as indices into its distinct values — Arrow's dictionary encoding.

    Derived columns are computed once per distinct value and share the indices, so a
    batch of 10,000 requests from 300 user agents parses 300 user agents.
    """

    def __init__(
        self, values: Sequence[object] | pa.Array, kind: pa.DataType | None = None
    ) -> None:
        array = values if isinstance(values, pa.Array) else pa.array(values, kind or pa.string())
        encoded = array.dictionary_encode()
        self.indices: pa.Array = encoded.indices
        self.values: list[Any] = encoded.dictionary.to_pylist()

    @classmethod
    def of(cls, values: Sequence[object]) -> Distinct:
        """The distinct values of any column: in C for strings or bytes (of exact types),
        else in Python, telling 1, 1.0 and True apart (and every unhashable value from
        every other)."""
        kinds = set(map(type, values))
        if kinds == {bytes} or kinds == {str}:
            try:
                return cls(values, pa.binary() if bytes in kinds else pa.string())
            except _ARROW_FAILS:  # a lone surrogate: Python tells the values apart
                pass
        self = cls.__new__(cls)
        if kinds <= _PLAIN:  # told apart by type and value (a lone surrogate, 1 and True)
            index: dict[tuple[type, object], int] = {}
            codes = [index.setdefault((type(v), v), len(index)) for v in values]
            self.values = [value for _, value in index]
        else:  # floats (0.0 == -0.0), containers, subclasses: each its own, none compared
            codes, self.values = list(range(len(values))), list(values)
        self.indices = pa.array(codes, pa.int32())
        return self

    def derive(self, function: Callable[[Any], Sequence[object]], width: int) -> list[pa.Array]:
        """``width`` dictionary columns, the parts of ``function`` of each distinct value."""
        results = [function(v) for v in self.values]
        return [self._encoded([r[k] for r in results]) for k in range(width)]

    def derive_dict(self, function: Callable[[Any], str]) -> pa.Array:
        """A dictionary column of ``function`` of each value."""
        return self._encoded([function(v) for v in self.values])

    def derive_one(self, function: Callable[[Any], str]) -> pa.Array:
        """A string column of ``function`` of each value."""
        derived = pa.array([function(v) for v in self.values], pa.string())
        return derived.take(self.indices)

    def masked(self, function: Callable[[str], str], keep: pa.Array) -> pa.Array:
        """A column of ``function`` of each value, '' where ``keep`` is False."""
        return pc.if_else(keep, self.derive_one(function), "")

    def _encoded(self, derived: list[object]) -> pa.Array:
        return mapped(self.indices, derived)


def mapped(indices: pa.Array, values: Sequence[object]) -> pa.Array:
    """The dictionary column whose row ``r`` is ``values[indices[r]]``: the few values
    encoded once, the rows' indices mapped through them in C (no row's string is hashed)."""
    small = pa.array(values).dictionary_encode()
    return pa.DictionaryArray.from_arrays(small.indices.take(indices), small.dictionary)


def ip_prefixes(ips: Sequence[str] | pa.Array, v4_bits: int, v6_bits: int) -> pa.Array:
    """``ip_prefix`` of each of ``ips``, once per distinct address. The dotted-quad IPv4
    addresses (nearly all of them) are cut in C when the prefix is whole octets, the rest
    in Python."""

    def prefix(ip: str) -> str:
        return ip_prefix(ip, v4_bits, v6_bits)

    try:
        array = ips if isinstance(ips, pa.Array) else pa.array(ips, pa.string())
    except _ARROW_FAILS:  # a server's peer text Arrow cannot hold (a lone surrogate)
        return pa.array(per_distinct(prefix, ips), pa.string())
    encoded = array.dictionary_encode()
    distinct = encoded.dictionary

    if v4_bits % 8 or not v4_bits:
        derived = pa.array([prefix(ip) for ip in distinct.to_pylist()], pa.string())
        return derived.take(encoded.indices)
    quad = pc.match_substring_regex(distinct, _DOTTED_QUAD)
    octets = v4_bits // 8
    cut = pc.replace_substring_regex(
        distinct, _LAST_OCTETS[octets], "." + ".".join(["0"] * (4 - octets)) + f"/{v4_bits}"
    ) if octets < 4 else pc.binary_join_element_wise(distinct, "/32", "")  # fmt: skip
    absent = pc.equal(distinct, "")  # no address (no consent): no prefix
    if pc.all(pc.or_(quad, absent)).as_py():
        derived = pc.if_else(absent, "", cut)
    else:
        others = [
            "" if is_quad else prefix(ip)
            for ip, is_quad in zip(distinct.to_pylist(), quad.to_pylist(), strict=True)
        ]
        derived = pc.if_else(quad, cut, pa.array(others, pa.string()))
    return derived.take(encoded.indices)


def seen_table(
    events: Sequence[PageSeen],
    v4_bits: int,
    v6_bits: int,
    countries: Countries,
    canonical: Callable[[str], str] = str,
    datacentres: Ranges = NO_DATACENTRES,
) -> pa.Table:
    """The ``page_requests`` table of a batch of raw page views (at least one). Raises
    for a batch it cannot make (the writer then makes it page by page)."""
    (ts, pageview_id, host, referer, user_agent, language, forwarded_for, forwarded_proto,
     forwarded_host, scheme, peer, server, path, route, method, status, response_bytes,
     duration_ms, query, state, visitor_id, session_id, hops, trust_host,
     country, browser_headers) = zip(*events, strict=True)  # fmt: skip
    refuse_unsafe((state, visitor_id, session_id), pageview_id)  # ours: checked all the same
    states = pa.array(state, pa.string())
    granted = pc.equal(states, "granted")
    if any(hops) or not all(host):  # the origin from forwarded headers, or the server
        origins = per_distinct(
            _origin,
            zip(
                scheme, map(peer_text, peer), map(address, server), host, forwarded_for,
                forwarded_proto, forwarded_host, hops, trust_host, strict=True,
            ),
        )  # fmt: skip
        hosts = Distinct.of(origins).derive_dict(_host)
        peers = per_distinct(_client_ip, origins)  # any text: only its prefix is kept
    else:  # the common case: the Host header names the host, the peer is the client
        hosts = _hosts(Distinct.of(host), scheme)
        peers = _peers(peer)
    referrer_host, referrer_path = _referrers(Distinct.of(referer), granted)
    browser, os_family, device, agent_bot = Distinct.of(user_agent).derive(_agent, 4)
    campaign = Campaign(*Distinct.of(query).derive(_campaign, len(Campaign._fields)))
    nothing = pa.scalar("", pa.string())
    headers = pa.array(browser_headers, pa.bool_())
    return pa.table(
        {
            "ts": timestamps(ts),
            "pageview_id": pa.array(pageview_id, pa.string()),
            "host": hosts,
            "path": Distinct.of(path).derive_one(_path),
            "route": Distinct.of(route).derive_dict(_route),
            "method": Distinct.of(method).derive_dict(safe_text),
            "status": pa.array(status, pa.uint16()),
            "response_bytes": pa.array(response_bytes, pa.uint64()),
            "duration_ms": pa.array(duration_ms, pa.float32()),
            "referrer_host": referrer_host,
            "referrer_path": referrer_path,
            "utm_source": campaign.source,
            "utm_medium": campaign.medium,
            "utm_campaign": campaign.campaign,
            "browser": browser,
            "os": os_family,
            "device": device,
            **bot_columns(
                agent_bot, pc.if_else(headers, "", HEADERS), datacentre_column(peers, datacentres)
            ),
            "language": Distinct.of(language).derive_dict(_language),
            "consent_state": states.dictionary_encode(),
            "visitor_id": pc.if_else(granted, pa.array(visitor_id, pa.string()), nothing),
            "session_id": pc.if_else(granted, pa.array(session_id, pa.string()), nothing),
            "ip_prefix": pc.if_else(granted, ip_prefixes(peers, v4_bits, v6_bits), nothing),
            "consented_copy": pa.repeat(False, len(events)),  # a served page is no copy
            "country": country_column(peers, country, countries),
            **campaign_columns(campaign, hosts, referrer_host, canonical),
        }
    )


def bot_columns(agent: pa.Array, others: pa.Array, datacentre: pa.Array) -> dict[str, pa.Array]:
    """The ``is_bot`` and ``bot_signal`` columns (``bots.py``): each row's first signal
    that holds — its user agent's (``agent``, a dictionary column), the other one the
    request path or a spool file noted (``others``: 'headers', 'datacentre' or ''), its
    address in a data centre (``datacentre``, booleans)."""
    by_agent = agent.dictionary_decode() if pa.types.is_dictionary(agent.type) else agent
    signal = pc.if_else(pc.equal(by_agent, ""), others, by_agent)
    signal = pc.if_else(pc.and_(pc.equal(signal, ""), datacentre), pa.scalar(DATACENTRE), signal)
    return {"is_bot": pc.not_equal(signal, ""), "bot_signal": signal.dictionary_encode()}


def datacentre_column(ips: Sequence[str], datacentres: Ranges) -> pa.Array:
    """Whether each of ``ips`` (full addresses, or prefixes: never in a range) is in a
    data centre, once per distinct address."""
    if not len(datacentres):
        return pa.repeat(False, len(ips))
    return pa.array(per_distinct(datacentres, ips), pa.bool_())


def campaign_columns(
    campaign: Campaign, hosts: pa.Array, referrer_hosts: pa.Array, canonical: Callable[[str], str]
) -> dict[str, pa.Array]:
    """The campaign columns beyond the three utm_ ones, and the channel of each row
    (``channels.channel``) from its host, referrer host and tags — once per distinct
    combination of them."""
    parts = [hosts, referrer_hosts, *campaign[:3], campaign.ref, campaign.click_id]
    indices, keys = combinations(parts)
    channels = [
        channel(host, referrer, source, medium, name, ref, click, canonical)
        for host, referrer, source, medium, name, ref, click in keys
    ]
    return {
        "utm_term": campaign.term,
        "utm_content": campaign.content,
        "ref": campaign.ref,
        "click_id": campaign.click_id,
        "channel": mapped(indices, channels),
    }


def combinations(columns: Sequence[pa.Array]) -> tuple[pa.Array, list[tuple[Any, ...]]]:
    """The rows of ``columns`` as indices into their distinct combinations of values (one
    column at a time, in C: the keys stay below the row count times one dictionary)."""
    encoded = [c if pa.types.is_dictionary(c.type) else c.dictionary_encode() for c in columns]
    indices = encoded[0].indices
    keys: list[tuple[Any, ...]] = [(v,) for v in encoded[0].dictionary.to_pylist()]
    for column in encoded[1:]:
        width = len(column.dictionary)
        values = column.dictionary.to_pylist()
        joined = pc.add(
            pc.multiply(pc.cast(indices, pa.int64()), width), pc.cast(column.indices, pa.int64())
        ).dictionary_encode()
        keys = [keys[k // width] + (values[k % width],) for k in joined.dictionary.to_pylist()]
        indices = joined.indices
    return indices, keys


def country_column(
    ips: Sequence[str], headers: Sequence[bytes] | Sequence[str], countries: Countries
) -> pa.Array:
    """The country of each row from its full IP and its CDN header (bytes as received,
    or text), once per distinct address (and header, when some row has one)."""
    if not any(headers):
        return Distinct.of(ips).derive_dict(countries)
    pairs = per_distinct(_country, zip(ips, headers, itertools.repeat(countries)))
    return pa.array(pairs, pa.string()).dictionary_encode()


def _country(key: tuple[str, object, Countries]) -> str:
    ip, header, countries = key
    if isinstance(header, bytes):  # as ``PageSeen.request`` reads it
        header = safe_text(header[:MAX_COUNTRY].decode("latin-1"))
    return countries(ip, header if isinstance(header, str) else "")


def _referrers(referers: Distinct, granted: pa.Array) -> tuple[pa.Array, pa.Array]:
    """The referrer host and (with consent) path columns: what ``stored_referrer`` leaves
    of each distinct Referer header, with and without consent, indexed by both."""
    hosts, paths = [], []
    for raw in referers.values:
        text = raw[:MAX_REFERRER].decode("latin-1")
        for consented in (False, True):
            host, path = referrer_parts(safe_text(stored_referrer(text, consented)))
            hosts.append(host)
            paths.append(path if consented else "")
    both = pc.add(pc.multiply(referers.indices, 2), pc.cast(granted, pa.int32()))
    return mapped(both, hosts), pa.array(paths, pa.string()).take(both)


def _hosts(hosts: Distinct, schemes: Sequence[object]) -> pa.Array:
    """The host column of pages whose Host header names the host: once per distinct
    header, or per distinct scheme and header when one ends in a default port (which only
    the scheme tells to drop)."""
    if not any(bytes(h).endswith((b":80", b":443")) for h in hosts.values):
        return hosts.derive_dict(_host_header)
    pairs = list(zip(map(_scheme, schemes), hosts.indices.to_pylist(), strict=True))
    return Distinct.of(pairs).derive_dict(lambda pair: _host_header(hosts.values[pair[1]], pair[0]))


def _scheme(scheme: object) -> str:
    return str(scheme or "http")


def _host_header(host: bytes, scheme: str = "http") -> str:
    return _host(origin_from(scheme, "", None, {b"host": host}, 0))


def _peers(peers: Sequence[object]) -> list[str]:
    """The client's host of each page as text (strings, as servers send them, as they are)."""
    if set(map(type, peers)) == {str}:
        return list(peers)  # type: ignore[arg-type]
    return list(map(peer_text, peers))


def _origin(key: tuple[Any, ...]) -> Origin:
    scheme, peer, server, host, forwarded_for, forwarded_proto, forwarded_host, hops, trust = key
    headers = {
        b"host": host,
        b"x-forwarded-for": forwarded_for,
        b"x-forwarded-proto": forwarded_proto,
        b"x-forwarded-host": forwarded_host,
    }
    return origin_from(
        str(scheme or "http"),
        peer,
        server,
        headers,
        hops,
        forwarded_host=trust,
    )


def _host(origin: Origin) -> str:
    return safe_text(origin.host)


def _client_ip(origin: Origin) -> str:
    return origin.client_ip


def _path(path: str) -> str:
    return safe_text(path[:MAX_PATH])


def _route(route: object) -> str:
    return safe_text(str(route)[:MAX_ROUTE])


def _campaign(query: bytes) -> Campaign:
    return campaign_tags(safe_text(campaign_query(query[:MAX_QUERY].decode("latin-1"))))


def _agent(user_agent: bytes) -> tuple[str, str, str, str]:
    return agent(live_agent(safe_text(user_agent[:MAX_USER_AGENT].decode("latin-1"))))


def _language(language: bytes) -> str:
    return first_language(language[:MAX_ACCEPT_LANGUAGE].decode("latin-1"))
