"""Bots: which page requests were made by software rather than a person, and why.

Server-side counting sees every crawler, including those that never run JavaScript, so
a page request is checked for four signals, in this order; the first that holds is its
``bot_signal`` (and makes it ``is_bot``), '' when none does:

- ``"agent"``: its user agent says so — ua-parser's Spider device, or a word such as
  "bot", "crawl", "spider" or "headless" in it;
- ``"list"``: its user agent is on the maintained crawler list of ``crawlerdetect``
  (CrawlerDetect's patterns: HTTP libraries, monitors, link previewers, scrapers), which
  catches what names itself without those words (``curl/8``, ``python-requests``,
  ``Go-http-client``, ``facebookexternalhit``);
- ``"headers"``: it lacks a header every browser sends with every request it makes
  (``browser_headers``: ``Accept`` and ``Accept-Language`` unless configured), as
  scripts that copy a browser's user agent usually do;
- ``"datacentre"``: its address is in a data-centre range of the file the operator gives
  (``datacentre_ranges``: one CIDR range per line, ``#`` comments). Optional: a person
  behind a VPN or a cloud desktop is counted as a bot too.

The request path only notes whether the headers came (two dictionary lookups); the rest
is worked out by the writer, once per distinct user agent or address of a batch, from the
full IP before it is cut to its prefix or dropped.

Bots are counted apart from views everywhere. The other side of it — that a view came
from a real browser — is the banner script's first request (``asgi/checks.py``): a view
served without consent whose script ran is a *verified browser view*.
"""

from __future__ import annotations

import bisect
import ipaddress
import os
import threading
from collections.abc import Iterable
from pathlib import Path

from crawlerdetect import CrawlerDetect

from consentlog.exceptions import ConfigError

AGENT, LIST, HEADERS, DATACENTRE = "agent", "list", "headers", "datacentre"
SIGNALS = (AGENT, LIST, HEADERS, DATACENTRE)  # the order they are checked in
LABELS = {  # as the reports name them; '' is people's requests (no signal)
    "": "People (no signal)",
    AGENT: "Says so in its user agent",
    LIST: "On the crawler list",
    HEADERS: "Lacks browser headers",
    DATACENTRE: "From a data centre",
}

_BOT_WORDS = ("bot", "crawl", "spider", "slurp", "headless", "preview", "monitor", "python")
MAX_RANGES_FILE = 64 * 1024 * 1024  # bytes: every cloud's published ranges fit many times


def agent_signal(user_agent: str, browser: str, device_family: str) -> str:
    """``"agent"`` or ``"list"`` when the user agent (as ua-parser read it: its browser
    and device families) is a bot's, '' otherwise."""
    lowered = f"{browser} {user_agent[:200]}".lower()
    if device_family == "Spider" or any(word in lowered for word in _BOT_WORDS):
        return AGENT
    # one detector a call: it remembers its last match, so threads must not share one
    if CrawlerDetect().is_crawler(user_agent[:512]):
        return LIST
    return ""


class DataCentres:
    """Whether an address is in one of the data-centre ranges of a file: sorted, merged
    intervals of each address family, looked up by bisection."""

    def __init__(self, ranges: Iterable[str] = ()) -> None:
        spans: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        for text in ranges:
            network = ipaddress.ip_network(text, strict=False)
            spans[network.version].append(
                (int(network.network_address), int(network.broadcast_address))
            )
        self._starts: dict[int, list[int]] = {}
        self._ends: dict[int, list[int]] = {}
        for version, intervals in spans.items():
            merged: list[tuple[int, int]] = []
            for start, end in sorted(intervals):
                if merged and start <= merged[-1][1] + 1:
                    merged[-1] = (merged[-1][0], max(merged[-1][1], end))
                else:
                    merged.append((start, end))
            self._starts[version] = [start for start, _ in merged]
            self._ends[version] = [end for _, end in merged]

    def __len__(self) -> int:
        return sum(map(len, self._starts.values()))

    def __call__(self, ip: str) -> bool:
        """Whether ``ip`` (text; an IPv4-mapped IPv6 address counts as its IPv4 one) is
        in a range. Anything that is not an address is not."""
        if not self or not ip:
            return False
        try:
            address = ipaddress.ip_address(ip.strip("[]").partition("%")[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        starts = self._starts[address.version]
        at = bisect.bisect_right(starts, int(address)) - 1
        return at >= 0 and int(address) <= self._ends[address.version][at]

    @classmethod
    def read(cls, path: str) -> DataCentres:
        """The ranges of the file at ``path`` (read once per process and version of the
        file); ``ConfigError`` naming the line of one that is not a range."""
        if not path:
            return cls()
        try:
            stat = os.stat(path)
        except OSError as exc:
            raise ConfigError(f"datacentre_ranges={path[:200]!r}: {exc.strerror}") from None
        key = (path, stat.st_mtime_ns, stat.st_size)
        with _READING:
            if key not in _READ:
                _READ.clear()
                _READ[key] = cls(_ranges(path, stat.st_size))
            return _READ[key]


NO_DATACENTRES = DataCentres()  # no ranges file: no address is a data centre's
_READING = threading.Lock()
_READ: dict[tuple[str, int, int], DataCentres] = {}


def _ranges(path: str, size: int) -> list[str]:
    if size > MAX_RANGES_FILE:
        raise ConfigError(
            f"datacentre_ranges={path[:200]!r}: {size} bytes; at most {MAX_RANGES_FILE}"
        )
    try:
        text = Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"datacentre_ranges={path[:200]!r}: cannot read it: {exc}") from None
    ranges = []
    for number, line in enumerate(text.splitlines(), 1):
        item = line.partition("#")[0].strip()
        if not item:
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ConfigError(
                f"datacentre_ranges={path[:200]!r} line {number}: {item[:60]!r} is not an "
                "address range (write one CIDR range, such as 192.0.2.0/24, a line)"
            ) from None
        ranges.append(item)
    return ranges
