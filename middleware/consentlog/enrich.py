"""Turning a batch of raw events into an Arrow table, off the request path.

User agents become browser / OS / device families (parsed by ua-parser, cached), IPs
become prefixes, referrers lose what consent does not allow, query strings give UTM tags.
Work is column-wise: the batch is transposed once, and each derived column is computed
once per *distinct* input value (a batch has few distinct user agents, referrers, IPs).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar
from urllib.parse import parse_qs, urlsplit

import pyarrow as pa
import pyarrow.compute as pc
from ua_parser import parse as parse_user_agent

from consentlog.events import ConsentRecord, PageRequest

_BOT_WORDS = ("bot", "crawl", "spider", "slurp", "headless", "preview", "monitor", "python")

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Agent(tuple[str, str, str, bool]):
    """(browser, os, device, is_bot) families of a user agent — never the full string."""

    __slots__ = ()


@functools.lru_cache(maxsize=4096)
def agent(user_agent: str) -> Agent:
    """The browser, OS and device families of a user agent, and whether it is a bot."""
    if not user_agent:
        return Agent(("", "", "", False))
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


def ip_prefix(ip: str, v4_bits: int, v6_bits: int) -> str:
    """The network prefix of ``ip`` (``203.0.113.0/24``); '' for no or unparsable IP."""
    if not ip:
        return ""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    bits = v4_bits if address.version == 4 else v6_bits
    return str(ipaddress.ip_network(f"{address}/{bits}", strict=False))


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
    source, medium, campaign = (
        params.get(f"utm_{key}", [""])[0][:200] for key in ("source", "medium", "campaign")
    )
    return source, medium, campaign


def _per_distinct(values: Sequence[K], function: Callable[[K], V]) -> list[V]:
    """``[function(v) for v in values]``, calling ``function`` once per distinct value."""
    known = {value: function(value) for value in set(values)}
    return [known[value] for value in values]


def _timestamps(seconds: Sequence[float]) -> pa.Array:
    millis = pc.cast(pc.floor(pc.multiply(pa.array(seconds, pa.float64()), 1000)), pa.int64())
    return millis.cast(pa.timestamp("ms", tz="UTC"))


PAGE_SCHEMA = pa.schema(
    [
        ("ts", pa.timestamp("ms", tz="UTC")), ("pageview_id", pa.string()),
        ("host", pa.string()), ("path", pa.string()), ("route", pa.string()),
        ("method", pa.string()), ("status", pa.uint16()), ("response_bytes", pa.uint64()),
        ("duration_ms", pa.float32()), ("referrer_host", pa.string()),
        ("referrer_path", pa.string()), ("utm_source", pa.string()),
        ("utm_medium", pa.string()), ("utm_campaign", pa.string()), ("browser", pa.string()),
        ("os", pa.string()), ("device", pa.string()), ("is_bot", pa.bool_()),
        ("language", pa.string()), ("consent_state", pa.string()),
        ("visitor_id", pa.string()), ("session_id", pa.string()), ("ip_prefix", pa.string()),
    ]
)  # fmt: skip
CONSENT_SCHEMA = pa.schema(
    [
        ("ts", pa.timestamp("ms", tz="UTC")), ("consent_id", pa.string()),
        ("action", pa.string()), ("categories", pa.list_(pa.string())),
        ("policy_revision", pa.uint32()), ("source", pa.string()),
        ("visitor_id", pa.string()), ("ip_prefix", pa.string()), ("browser", pa.string()),
    ]
)  # fmt: skip


class Enricher:
    """Builds the Arrow tables for ``page_requests`` and ``consent_records``."""

    def __init__(self, *, ipv4_prefix: int = 24, ipv6_prefix: int = 48) -> None:
        self._v4 = ipv4_prefix
        self._v6 = ipv6_prefix

    def _prefix(self, ip: str) -> str:
        return ip_prefix(ip, self._v4, self._v6)

    def page_table(self, events: Sequence[PageRequest]) -> pa.Table:
        """The ``page_requests`` rows of a batch.

        Consent is enforced here a second time: a row that is not 'granted' keeps no
        identifier, no IP prefix and no referrer path, whatever the event carried.
        """
        (ts, pageview_id, host, path, route, method, status, response_bytes, duration_ms,
         referrer, query, user_agent, language, consent_state, visitor_id, session_id,
         client_ip) = zip(*events, strict=True)  # fmt: skip
        granted = [state == "granted" for state in consent_state]
        agents = _per_distinct(user_agent, agent)
        referrers = _per_distinct(referrer, referrer_parts)
        utm = _per_distinct(query, utm_tags)
        ips = _per_distinct(client_ip, self._prefix)

        def only_granted(values: Sequence[str]) -> list[str]:
            return [v if g else "" for v, g in zip(values, granted, strict=True)]

        columns = [
            _timestamps(ts), pageview_id, host, path, route, method, status, response_bytes,
            duration_ms, [r[0] for r in referrers], only_granted([r[1] for r in referrers]),
            [u[0] for u in utm], [u[1] for u in utm], [u[2] for u in utm],
            [a[0] for a in agents], [a[1] for a in agents], [a[2] for a in agents],
            [a[3] for a in agents], language, consent_state, only_granted(visitor_id),
            only_granted(session_id), only_granted(ips),
        ]  # fmt: skip
        return pa.Table.from_arrays(
            [pa.array(c, f.type) if not isinstance(c, pa.Array) else c
             for c, f in zip(columns, PAGE_SCHEMA, strict=True)],
            schema=PAGE_SCHEMA,
        )  # fmt: skip

    def consent_table(self, events: Sequence[ConsentRecord]) -> pa.Table:
        """The ``consent_records`` rows of a batch."""
        (ts, consent_id, action, categories, policy_revision, source, visitor_id, client_ip,
         user_agent) = zip(*events, strict=True)  # fmt: skip
        columns = [
            _timestamps(ts), consent_id, action, [list(c) for c in categories],
            policy_revision, source, visitor_id, _per_distinct(client_ip, self._prefix),
            [a[0] for a in _per_distinct(user_agent, agent)],
        ]  # fmt: skip
        return pa.Table.from_arrays(
            [pa.array(c, f.type) if not isinstance(c, pa.Array) else c
             for c, f in zip(columns, CONSENT_SCHEMA, strict=True)],
            schema=CONSENT_SCHEMA,
        )  # fmt: skip
