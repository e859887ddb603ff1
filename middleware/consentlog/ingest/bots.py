"""Bots: which page requests were made by software rather than a person, and why.

Server-side counting sees every crawler, including those that never run JavaScript, so
a page request is checked for four signals, in this order; the first that holds is its
``bot_signal`` (and makes it ``is_bot``), '' when none does:

- ``"agent"``: its user agent says so — ua-parser's Spider device, or a word such as
  "bot", "crawl", "spider" or "headless" in it;
- ``"list"``: its user agent is on the maintained crawler list of ``crawlerdetect``
  (CrawlerDetect's patterns: HTTP libraries, monitors, link previewers, scrapers), which
  catches what names itself without those words (``curl/8``, ``Go-http-client``,
  ``okhttp``). The 1,400 patterns are matched as one RE2 automaton (``google-re2``):
  linear in the agent's length, about 100 µs for a long one, where Python's ``re``
  takes milliseconds — a client sending a new user agent with every request must not
  be able to slow the writer down for everyone;
- ``"headers"``: it lacks a header every browser sends with every request it makes
  (``browser_headers``: ``Accept`` and ``Accept-Language`` unless configured), as
  scripts that copy a browser's user agent usually do;
- ``"datacentre"``: its address is in a data-centre range of the file the operator gives
  (``datacentre_ranges``: one CIDR range per line, ``#`` comments). Optional: a person
  behind a VPN or a cloud desktop is counted as a bot too. A range narrower than the
  stored IP prefix is left out (it could single out one household's views), as is a
  line that is no range; both are logged. The file is read on the writer's thread, and
  read again when it changes (looked at once a minute).

The request path only notes whether the headers came (a set of three names against the
header map); the rest is worked out by the writer, once per distinct user agent or
address of a batch, from the full IP before it is cut to its prefix or dropped.

Bots are counted apart from views everywhere. The other side of it — that a view came
from a real browser — is the banner script's first request (``asgi/checks.py``): a view
served without consent whose script ran is a *verified browser view*.
"""

from __future__ import annotations

import bisect
import re
import socket
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import re2
import structlog
from crawlerdetect.providers.crawlers import data as _CRAWLERS
from crawlerdetect.providers.exclusions import data as _EXCLUSIONS

from consentlog.exceptions import first_line

log = structlog.get_logger("consentlog.ingest.bots")

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
MAX_LISTED = 256  # characters of a user agent the crawler list reads
MAX_RANGES_FILE = 32 * 1024 * 1024  # bytes: every cloud's published ranges fit many times
RECHECK = 60.0  # seconds between looks at whether the ranges file changed


def _crawler_list() -> tuple[Any, Any, re.Pattern[str]]:
    """CrawlerDetect's patterns as RE2 automata: the exclusions (what every browser's agent
    holds, cut out first), the crawlers, and — in Python's ``re`` — the few crawler
    patterns RE2 cannot run (lookarounds)."""
    options = re2.Options()
    options.case_sensitive = False
    options.max_mem = 64 << 20
    plain = [p for p in _CRAWLERS if "(?" not in p]
    around = [p for p in _CRAWLERS if "(?" in p] or ["(?!x)x"]
    return (
        re2.compile("|".join(_EXCLUSIONS), options),
        re2.compile("|".join(plain), options),
        re.compile("|".join(around), re.IGNORECASE),
    )


_EXCLUDED, _LISTED, _LISTED_AROUND = _crawler_list()


def listed(user_agent: str) -> bool:
    """Whether the first ``MAX_LISTED`` characters of ``user_agent`` are on the crawler
    list, as CrawlerDetect decides it: what is left once the browser tokens are cut out
    matches a crawler pattern."""
    rest = _EXCLUDED.sub("", user_agent[:MAX_LISTED]).strip()
    return bool(rest) and bool(_LISTED.search(rest) or _LISTED_AROUND.search(rest))


def agent_signal(user_agent: str, browser: str, device_family: str) -> str:
    """``"agent"`` or ``"list"`` when the user agent (as ua-parser read it: its browser
    and device families) is a bot's, '' otherwise."""
    lowered = f"{browser} {user_agent[:200]}".lower()
    if device_family == "Spider" or any(word in lowered for word in _BOT_WORDS):
        return AGENT
    return LIST if listed(user_agent) else ""


def _span(text: str) -> tuple[int, int, int, int]:
    """(family, first, last address as integers, prefix length) of a CIDR range; ValueError
    for what is not one. A few µs a line: no ``ipaddress`` objects."""
    address, _, bits = text.partition("/")
    version, family, width = (
        (6, socket.AF_INET6, 128) if ":" in address else (4, socket.AF_INET, 32)
    )
    try:
        packed = socket.inet_pton(family, address)
    except OSError:
        raise ValueError(text) from None
    if bits and not (bits.isascii() and bits.isdigit()):
        raise ValueError(text)
    length = int(bits) if bits else width
    if length > width:
        raise ValueError(text)
    value = int.from_bytes(packed, "big")
    host_bits = width - length
    first = value >> host_bits << host_bits
    return version, first, first | ((1 << host_bits) - 1), length


class DataCentres:
    """Whether an address is in one of a set of data-centre ranges: sorted, merged
    intervals of each address family, looked up by bisection. Ranges narrower than
    ``v4_bits`` / ``v6_bits`` (the stored IP prefixes) are left out and counted in
    ``narrow``; lines that are no range in ``bad`` (their numbers, the first few)."""

    def __init__(
        self, ranges: Iterable[str] = (), *, v4_bits: int = 32, v6_bits: int = 128
    ) -> None:
        spans: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        self.narrow = 0
        self.bad: list[int] = []
        for number, text in enumerate(ranges, 1):
            try:
                version, first, last, length = _span(text)
            except ValueError:
                if len(self.bad) < 10:
                    self.bad.append(number)
                continue
            if length > (v4_bits if version == 4 else v6_bits):
                self.narrow += 1
                continue
            spans[version].append((first, last))
        self._starts: dict[int, list[int]] = {}
        self._ends: dict[int, list[int]] = {}
        for version, intervals in spans.items():
            merged: list[tuple[int, int]] = []
            for first, last in sorted(intervals):
                if merged and first <= merged[-1][1] + 1:
                    merged[-1] = (merged[-1][0], max(merged[-1][1], last))
                else:
                    merged.append((first, last))
            self._starts[version] = [first for first, _ in merged]
            self._ends[version] = [last for _, last in merged]

    def __len__(self) -> int:
        return sum(map(len, self._starts.values()))

    def __call__(self, ip: str) -> bool:
        """Whether ``ip`` (text; an IPv4-mapped IPv6 address counts as its IPv4 one) is
        in a range. Anything that is not an address is not."""
        if not ip or not len(self):
            return False
        address = ip.strip("[]").partition("%")[0]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        try:
            packed = socket.inet_pton(family, address)
        except (OSError, ValueError):
            return False
        if family == socket.AF_INET6 and packed[:12] == _V4_MAPPED:
            packed = packed[12:]
        version = 4 if len(packed) == 4 else 6
        value = int.from_bytes(packed, "big")
        at = bisect.bisect_right(self._starts[version], value) - 1
        return at >= 0 and value <= self._ends[version][at]


_V4_MAPPED = b"\x00" * 10 + b"\xff\xff"
NO_DATACENTRES = DataCentres()  # no ranges file: no address is a data centre's


class DataCentreFile:
    """The data-centre ranges of the file at ``path``, as the writer asks them: read on
    first use (on the writer's thread), again when the file's size or time changed
    (looked at every ``RECHECK`` seconds). A file that cannot be read, or lines that are
    not ranges, are logged and leave out what they would have held: the pages are stored
    all the same. Time is the overridable ``clock`` method."""

    def __init__(self, path: str, *, v4_bits: int = 24, v6_bits: int = 48) -> None:
        self.path, self._bits = path, (v4_bits, v6_bits)
        self._ranges = NO_DATACENTRES
        self._version: tuple[int, int] | None = None
        self._checked = -RECHECK
        self._lock = threading.Lock()

    def clock(self) -> float:
        """Monotonic seconds; a test overrides it."""
        return time.monotonic()

    def __len__(self) -> int:
        return len(self.current())

    def __call__(self, ip: str) -> bool:
        return self.current()(ip)

    def current(self) -> DataCentres:
        """The ranges now (read again if the file changed since it was last looked at)."""
        now = self.clock()
        if now - self._checked < RECHECK:
            return self._ranges
        with self._lock:
            if now - self._checked >= RECHECK:
                self._checked = now
                self._reload()
            return self._ranges

    def _reload(self) -> None:
        try:
            stat = Path(self.path).stat()
            version = (stat.st_mtime_ns, stat.st_size)
            if version == self._version:
                return
            if stat.st_size > MAX_RANGES_FILE:
                raise ValueError(f"{stat.st_size} bytes; at most {MAX_RANGES_FILE}")
            text = Path(self.path).read_text("utf-8-sig")
        except (OSError, ValueError) as exc:  # the site fails open: pages, no data centres
            log.error("datacentre_ranges_unreadable", path=self.path[:200], error=first_line(exc))
            return
        lines = (line.partition("#")[0].strip() for line in text.splitlines())
        items = [line for line in lines if line]
        v4_bits, v6_bits = self._bits
        ranges = DataCentres(items, v4_bits=v4_bits, v6_bits=v6_bits)
        self._ranges, self._version = ranges, version
        log.info("datacentre_ranges_read", path=self.path[:200], ranges=len(ranges),
                 narrower_than_the_prefix=ranges.narrow, not_ranges=len(ranges.bad))  # fmt: skip
        if ranges.bad:
            log.warning("datacentre_ranges_bad_lines", path=self.path[:200],
                        items=[items[n - 1][:60] for n in ranges.bad])  # fmt: skip


Ranges = DataCentres | DataCentreFile  # what the writer asks whether an address is in


def datacentres(path: str, *, v4_bits: int, v6_bits: int) -> Ranges:
    """The ranges of ``datacentre_ranges``: the file's, or none for ''."""
    return DataCentreFile(path, v4_bits=v4_bits, v6_bits=v6_bits) if path else NO_DATACENTRES
