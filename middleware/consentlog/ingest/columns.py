"""Raw page views (``PageSeen``) made the columns of their ``PageRequest`` rows, in bulk.

``PageSeen.request`` makes one row from one page view; a batch of 10,000 made that way
costs ~7 µs a page on the writer thread, which shares the GIL with the serving thread.
Here a batch is transposed once and every derived value is worked out once per distinct
input (a batch of pages has few distinct hosts, routes, agents, languages, referrers):
the per-page work is a few C-level passes (``zip``, ``map`` over a dict), ~1 µs a page.
The result is the same as ``PageSeen.request`` gives for each page — a property test
(``tests/ingest/test_columns.py``) holds the two together — so the limits and the
consent masking still read as one function there. Every text column a visitor's input
makes is made with ``safe_text`` here; ``Enricher.page_columns(texts_safe=True)`` relies
on it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, TypeVar

from consentlog.consent.http import Origin, first_language, origin_from
from consentlog.ingest.events import (
    MAX_ACCEPT_LANGUAGE,
    MAX_PATH,
    MAX_QUERY,
    MAX_REFERRER,
    MAX_ROUTE,
    MAX_USER_AGENT,
    PageSeen,
    address,
    campaign_query,
    peer_text,
    safe_text,
    stored_referrer,
)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# the columns of ``PageRequest``, in its order
Columns = tuple[Sequence[Any], ...]


def per_distinct(function: Callable[[K], V], values: Iterable[K]) -> list[V]:
    """``[function(v) for v in values]``, calling ``function`` once per distinct value."""
    values = values if isinstance(values, (list, tuple)) else list(values)
    table = {value: function(value) for value in set(values)}
    return list(map(table.__getitem__, values))


def seen_columns(events: Sequence[PageSeen]) -> Columns:
    """The ``PageRequest`` columns of a batch of raw page views (at least one)."""
    (ts, pageview_id, host, referer, agent, language, forwarded_for, forwarded_proto,
     forwarded_host, scheme, peer, server, path, route, method, status, response_bytes,
     duration_ms, query, state, visitor_id, session_id, hops,
     trust_host) = zip(*events, strict=True)  # fmt: skip
    granted = [s == "granted" for s in state]
    if any(hops) or not all(host):  # the origin from forwarded headers, or the server
        origins = per_distinct(
            _origin,
            zip(
                scheme, map(peer_text, peer), map(address, server), host, forwarded_for,
                forwarded_proto, forwarded_host, hops, trust_host, strict=True,
            ),
        )  # fmt: skip
        hosts = per_distinct(_host, origins)
        peers = per_distinct(_client_ip, origins)
    else:  # the common case: the Host header names the host, the peer is the client
        hosts = per_distinct(_host_header, host)
        peers = _peers(peer)
    referrers = per_distinct(_referrers, referer)  # (without path, with path)
    never = [""] * len(events)
    return (
        ts,
        pageview_id,
        hosts,
        per_distinct(_path, path),
        _routes(route),
        per_distinct(safe_text, method),
        status,
        response_bytes,
        duration_ms,
        _by_consent(referrers, granted),
        per_distinct(_campaign, query),
        per_distinct(_agent, agent),
        per_distinct(_language, language),
        state,
        _only_granted(visitor_id, granted, never),
        _only_granted(session_id, granted, never),
        _only_granted(peers, granted, never),
    )


def _only_granted(values: Sequence[str], granted: list[bool], never: list[str]) -> list[str]:
    if all(granted):
        return list(values)
    if not any(granted):
        return never
    return [v if g else "" for v, g in zip(values, granted, strict=True)]


def _by_consent(pairs: Sequence[tuple[str, str]], granted: list[bool]) -> list[str]:
    """The second of each pair where consent was granted, else the first."""
    if all(granted):
        return [pair[1] for pair in pairs]
    if not any(granted):
        return [pair[0] for pair in pairs]
    return [pair[g] for pair, g in zip(pairs, granted, strict=True)]


def _host_header(host: bytes) -> str:
    return _host(origin_from("http", "", None, {b"host": host}, 0))


def _routes(routes: Sequence[object]) -> list[str]:
    """Each route's text, once per distinct route when all are strings (as frameworks
    set them); else one by one (``1 == True``, and not every value hashes)."""
    if set(map(type, routes)) == {str}:
        return per_distinct(_route, routes)
    return list(map(_route, routes))


def _peers(peers: Sequence[object]) -> list[str]:
    """The client's host of each page as text (strings, as servers send them, as they are)."""
    if set(map(type, peers)) == {str}:
        return list(peers)  # type: ignore[arg-type]
    return list(map(peer_text, peers))


def _referrers(referer: bytes) -> tuple[str, str]:
    text = referer[:MAX_REFERRER].decode("latin-1")
    return safe_text(stored_referrer(text, False)), safe_text(stored_referrer(text, True))


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


def _campaign(query: bytes) -> str:
    return safe_text(campaign_query(query[:MAX_QUERY].decode("latin-1")))


def _agent(agent: bytes) -> str:
    return safe_text(agent[:MAX_USER_AGENT].decode("latin-1"))


def _language(language: bytes) -> str:
    return first_language(language[:MAX_ACCEPT_LANGUAGE].decode("latin-1"))
