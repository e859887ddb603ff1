"""Turning raw events into table rows, off the request path.

User agents become browser / OS / device families (parsed by ua-parser, cached), IPs
become prefixes, referrers lose what consent does not allow, query strings give UTM tags.
"""

from __future__ import annotations

import functools
import ipaddress
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ua_parser import parse as parse_user_agent

from consentlog.events import ConsentRecord, PageRequest

PAGE_COLUMNS = (
    "ts", "pageview_id", "host", "path", "route", "method", "status", "response_bytes",
    "duration_ms", "referrer_host", "referrer_path", "utm_source", "utm_medium",
    "utm_campaign", "browser", "os", "device", "is_bot", "language", "consent_state",
    "visitor_id", "session_id", "ip_prefix",
)  # fmt: skip
CONSENT_COLUMNS = (
    "ts", "consent_id", "action", "categories", "policy_revision", "source",
    "visitor_id", "ip_prefix", "browser",
)  # fmt: skip

_BOT_WORDS = ("bot", "crawl", "spider", "slurp", "headless", "preview", "monitor", "python")


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


def _referrer(raw: str, with_path: bool) -> tuple[str, str]:
    if not raw:
        return "", ""
    try:
        parts = urlsplit(raw[:2048])
        host = (parts.hostname or "")[:255]
    except ValueError:
        return "", ""
    return host, (parts.path[:1024] if with_path and host else "")


def _utm(query: str) -> tuple[str, str, str]:
    if "utm_" not in query:
        return "", "", ""
    params = parse_qs(query[:4096])
    return tuple(params.get(f"utm_{k}", [""])[0][:200] for k in ("source", "medium", "campaign"))  # type: ignore[return-value]


# DateTime64(3) columns are sent as integer milliseconds: clickhouse-connect writes ints
# as ticks directly, without building datetime objects.


class Enricher:
    """Builds column-oriented batches for ``page_requests`` and ``consent_records``."""

    def __init__(self, *, ipv4_prefix: int = 24, ipv6_prefix: int = 48) -> None:
        self._v4 = ipv4_prefix
        self._v6 = ipv6_prefix

    def page_rows(self, events: Sequence[PageRequest]) -> list[list[Any]]:
        """Columns (in ``PAGE_COLUMNS`` order) for a batch of page requests."""
        columns: list[list[Any]] = [[] for _ in PAGE_COLUMNS]
        for e in events:
            consented = e.consent_state == "granted"
            browser, os_family, device, is_bot = agent(e.user_agent)
            ref_host, ref_path = _referrer(e.referrer, consented)
            row = (
                int(e.ts * 1000), uuid.UUID(hex=e.pageview_id), e.host, e.path, e.route, e.method,
                e.status, e.response_bytes, e.duration_ms, ref_host, ref_path, *_utm(e.query),
                browser, os_family, device, is_bot, e.language, e.consent_state,
                e.visitor_id, e.session_id,
                ip_prefix(e.client_ip, self._v4, self._v6) if consented else "",
            )  # fmt: skip
            for column, value in zip(columns, row, strict=True):
                column.append(value)
        return columns

    def consent_rows(self, events: Sequence[ConsentRecord]) -> list[list[Any]]:
        """Columns (in ``CONSENT_COLUMNS`` order) for a batch of consent records."""
        columns: list[list[Any]] = [[] for _ in CONSENT_COLUMNS]
        for e in events:
            row = (
                int(e.ts * 1000), e.consent_id, e.action, list(e.categories),
                e.policy_revision, e.source, e.visitor_id,
                ip_prefix(e.client_ip, self._v4, self._v6), agent(e.user_agent)[0],
            )  # fmt: skip
            for column, value in zip(columns, row, strict=True):
                column.append(value)
        return columns
