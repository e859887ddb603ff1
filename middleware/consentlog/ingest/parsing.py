"""What the writer reads out of a visitor's raw inputs, one value at a time.

A user agent becomes browser / OS / device families (parsed by ua-parser, cached), an IP
its network prefix, a Referer header its host and path, a query string its campaign tags.
Pure functions of one value each: ``columns.py`` calls them once per distinct value of a
batch, ``enrich.py`` for the events the writer replays or spools.
"""

from __future__ import annotations

import functools
import socket
from typing import NamedTuple
from urllib.parse import parse_qs, quote, unquote, urlsplit

from ua_parser import parse as parse_user_agent

from consentlog.ingest.bots import AGENT, SIGNALS, agent_signal
from consentlog.ingest.channels import CLICK_IDS
from consentlog.ingest.events import AGENT_MARK, MAX_TAG, safe_text

_V4_MAPPED = b"\x00" * 10 + b"\xff\xff"
# A user agent reduced to its families, as spool files keep it: the mark (``AGENT_MARK``),
# then browser, OS, device and bot signal ("0" none, "1" agent — as files before the
# crawler list had it —, or the signal's name), %-encoded and separated by '/'. A
# request's own user agent that claims the form is read as a bot's (``live_agent``).
_REDUCED_SIGNAL = {"0": "", "1": AGENT, **{signal: signal for signal in SIGNALS}}


class Agent(tuple[str, str, str, str]):
    """(browser, os, device, bot signal) of a user agent — never the full string. The
    signal is ``bots.agent_signal``'s: "agent", "list" or '' (not a bot, by its agent)."""

    __slots__ = ()


@functools.lru_cache(maxsize=4096)
def agent(user_agent: str) -> Agent:
    """The browser, OS and device families of a user agent, and whether it is a bot."""
    if not user_agent:
        return Agent(("", "", "", ""))
    if user_agent.startswith(AGENT_MARK):
        # what for_disk wrote, or what a visitor claims: safe text, of a family's length
        parts = [safe_text(unquote(p))[:100] for p in user_agent[len(AGENT_MARK) :].split("/")]
        if len(parts) == 4:
            return Agent((parts[0], parts[1], parts[2], _REDUCED_SIGNAL.get(parts[3], "")))
    parsed = parse_user_agent(user_agent)
    browser = parsed.user_agent.family if parsed.user_agent else "Other"
    os_family = parsed.os.family if parsed.os else "Other"
    device_family = parsed.device.family if parsed.device else ""
    lowered = f"{browser} {user_agent[:200]}".lower()
    bot = agent_signal(user_agent, browser, device_family)
    if bot:
        device = "bot"
    elif "ipad" in device_family.lower() or "tablet" in lowered:
        device = "tablet"
    elif os_family in {"iOS", "Android"} or "mobile" in lowered:
        device = "mobile"
    else:
        device = "desktop"
    return Agent((browser, os_family, device, bot))


def reduced_agent(user_agent: str) -> str:
    """``user_agent`` as only its families (``consentlog-agent:Chrome/Windows/desktop/0``),
    which ``agent`` reads back: what a spool file keeps instead of the full string."""
    if not user_agent:
        return ""
    browser, os_family, device, bot = agent(user_agent)
    parts = (browser, os_family, device, bot or "0")
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


class Campaign(NamedTuple):
    """The campaign tags of a page's query string, and which ad click id came ('' none)."""

    source: str
    medium: str
    campaign: str
    term: str
    content: str
    ref: str
    click_id: str


NO_CAMPAIGN = Campaign("", "", "", "", "", "", "")


def campaign_tags(query: str) -> Campaign:
    """The campaign tags of a query string (as ``events.campaign_query`` keeps it): each
    tag's first value, %-decoded, cut to 200 characters and made safe text; the first ad
    click id present, by name."""
    if "=" not in query:
        return NO_CAMPAIGN
    params = parse_qs(query[:4096], keep_blank_values=True)

    def tag(name: str) -> str:  # %-escapes decode to any character: made safe after
        return safe_text(params[name][0][:MAX_TAG]) if name in params else ""

    click_id = next((name for name in CLICK_IDS if name in params), "")
    return Campaign(
        tag("utm_source"), tag("utm_medium"), tag("utm_campaign"), tag("utm_term"),
        tag("utm_content"), tag("ref"), click_id,
    )  # fmt: skip


def utm_tags(query: str) -> tuple[str, str, str]:
    """utm_source, utm_medium and utm_campaign of a query string."""
    return campaign_tags(query)[:3]
