"""``consentlog demo --simulate N``: synthetic visitors for the demo site, over real HTTP.

Each visitor is planned first (:func:`plan_visitors`, deterministic for a seed), then
played against a running demo server with its own :class:`httpx.Client` — a browser-like
user agent, language and referrer, a consent decision sent as the banner sends it, and
for visitors who accepted analytics an engagement beacon per page (the page-view token
read from the page, the body sent as ``text/plain`` JSON like ``navigator.sendBeacon``).

How each page behaves is the table :data:`PROFILES` below: the docs and the two real
blog posts are useful (long reads, deep scrolls, "yes" votes), ``/blog/larkspur-2-3`` is
not (a few seconds, shallow scroll, "no" votes, most visits end there), the rest lies in
between — so the usefulness report and the dashboards have real differences to show.
Timestamps are real: a simulated minute of reading is reported, not waited for.
"""

from __future__ import annotations

import html
import json
import random
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final, Literal, TextIO, TypeVar
from urllib.parse import urlencode

import httpx

__all__ = [
    "PROFILES",
    "PageProfile",
    "PageVisit",
    "SimulationSummary",
    "VisitorPlan",
    "plan_visitors",
    "simulate",
    "simulate_in_background",
]

T = TypeVar("T")
Weighted = tuple[tuple[T, int], ...]


@dataclass(frozen=True, slots=True)
class PageProfile:
    """How visitors treat one page of the demo site."""

    engaged_s: tuple[float, float]  # engaged (visible and focused) time, seconds
    scroll_pct: tuple[int, int]  # max scroll depth reached
    vote_rate: float  # share of views that answer "was this page useful?" (if asked)
    yes_share: float  # share of those answers that say yes
    exit_rate: float  # chance the visit ends on this page
    links: Weighted[str]  # where visitors go next, by weight (links the page really has)
    status: int = 200


# fmt: off
PROFILES: Final[dict[str, PageProfile]] = {
    #                                   engaged s    scroll     vote  yes   exit  next pages
    "/": PageProfile((8, 40), (30, 90), 0.0, 0.0, 0.15, (
        ("/docs", 3), ("/docs/getting-started", 3), ("/pricing", 3), ("/blog", 3),
        ("/about", 1))),
    "/pricing": PageProfile((10, 45), (40, 100), 0.0, 0.0, 0.45, (
        ("/about", 2), ("/docs/getting-started", 2), ("/docs", 1), ("/", 1))),
    "/docs": PageProfile((6, 25), (40, 100), 0.0, 0.0, 0.10, (
        ("/docs/getting-started", 4), ("/docs/configuration", 3), ("/docs/api", 3),
        ("/docs/faq", 2))),
    "/docs/getting-started": PageProfile((45, 120), (80, 100), 0.45, 0.88, 0.30, (
        ("/docs/configuration", 4), ("/docs/faq", 2), ("/docs/api", 1), ("/pricing", 1))),
    "/docs/configuration": PageProfile((40, 120), (75, 100), 0.40, 0.85, 0.35, (
        ("/docs/api", 3), ("/docs/faq", 2), ("/docs/getting-started", 1))),
    "/docs/api": PageProfile((30, 110), (70, 100), 0.35, 0.82, 0.40, (
        ("/docs/configuration", 2), ("/docs/faq", 1), ("/docs", 1))),
    "/docs/faq": PageProfile((30, 90), (75, 100), 0.40, 0.85, 0.40, (
        ("/docs/getting-started", 1), ("/pricing", 2), ("/about", 1))),
    "/blog": PageProfile((5, 20), (30, 90), 0.0, 0.0, 0.10, (
        ("/blog/larkspur-2-3", 5), ("/blog/status-page-failure-domains", 3),
        ("/blog/writing-incident-updates", 3))),
    "/blog/status-page-failure-domains": PageProfile((50, 120), (80, 100), 0.40, 0.90, 0.35, (
        ("/blog", 2), ("/blog/writing-incident-updates", 2), ("/docs/getting-started", 2),
        ("/pricing", 1))),
    "/blog/writing-incident-updates": PageProfile((45, 120), (75, 100), 0.40, 0.88, 0.35, (
        ("/blog", 2), ("/blog/status-page-failure-domains", 2), ("/docs", 1))),
    # the deliberately useless page: a three-line release note
    "/blog/larkspur-2-3": PageProfile((1, 4), (25, 60), 0.30, 0.10, 0.75, (
        ("/blog", 2), ("/", 1))),
    "/about": PageProfile((8, 30), (40, 100), 0.0, 0.0, 0.50, (
        ("/pricing", 1), ("/privacy", 1), ("/", 1))),
    "/privacy": PageProfile((10, 45), (30, 100), 0.0, 0.0, 0.60, (("/", 1), ("/about", 1))),
    # a moved page old search results still point to: the 404 page offers home and docs
    "/docs/install": PageProfile((2, 8), (100, 100), 0.0, 0.0, 0.30, (
        ("/docs", 3), ("/", 1)), status=404),
}

ENTRY_PAGES: Final[Weighted[str]] = (
    ("/", 20), ("/docs", 6), ("/docs/getting-started", 9), ("/docs/configuration", 6),
    ("/docs/api", 7), ("/docs/faq", 4), ("/blog", 5), ("/blog/status-page-failure-domains", 11),
    ("/blog/writing-incident-updates", 11), ("/blog/larkspur-2-3", 12), ("/pricing", 6),
    ("/about", 2), ("/docs/install", 2),
)

# where a visit comes from: the Referer of the entry page and its utm_* parameters
SOURCES: Final[Weighted[tuple[str | None, tuple[tuple[str, str], ...]]]] = (
    (("https://www.google.com/", ()), 38),
    (("https://www.bing.com/", ()), 7),
    (("https://duckduckgo.com/", ()), 7),
    ((None, ()), 25),  # typed, bookmarked, or a referrer policy that sends nothing
    (("https://news.ycombinator.com/", ()), 5),
    (("https://dev.to/", ()), 4),
    (("https://sreweekly.com/", ()), 4),
    ((None, (("utm_source", "newsletter"), ("utm_medium", "email"),
             ("utm_campaign", "spring-2026"))), 6),
    (("https://mastodon.social/", (("utm_source", "mastodon"), ("utm_medium", "social"),
                                   ("utm_campaign", "larkspur-2-3"))), 4),
)

BROWSERS: Final[Weighted[str]] = (
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36", 24),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36", 12),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", 6),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", 7),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", 5),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/18.1 Safari/605.1.15", 9),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", 16),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Mobile Safari/537.36", 15),
    ("Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0", 3),
)

BOTS: Final[Weighted[str]] = (
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 5),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", 2),
    ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", 1),
)

LANGUAGES: Final[Weighted[str]] = (
    ("en-US,en;q=0.9", 40), ("en-GB,en;q=0.9", 10), ("de-DE,de;q=0.9,en;q=0.8", 14),
    ("fr-FR,fr;q=0.9,en;q=0.8", 9), ("es-ES,es;q=0.9", 6), ("nl-NL,nl;q=0.9,en;q=0.8", 5),
    ("pt-BR,pt;q=0.9,en;q=0.8", 5), ("ja-JP,ja;q=0.9", 4), ("sv-SE,sv;q=0.9,en;q=0.8", 3),
)

Consent = Literal["returning", "accept", "decline", "gpc", "none"]
# returning: accepted on an earlier visit (decides before the entry page); accept /
# decline: answers the banner on the entry page; gpc: sends Sec-GPC: 1; none: never decides
CONSENTS: Final[Weighted[Consent]] = (
    ("returning", 30), ("accept", 35), ("decline", 20), ("gpc", 5), ("none", 10),
)
# fmt: on

BOT_SHARE: Final = 0.06  # of visitors; bots never decide and send no beacon
SKIM_SHARE: Final = 0.08  # of page views, on any page: a glance, then gone
PARTIAL_BEACON_SHARE: Final = 0.15  # views where a tab switch sends a beacon midway
MAX_PAGES: Final = 5
WORKERS: Final = 6
_ACCEPTING: Final[frozenset[Consent]] = frozenset(("returning", "accept"))
_PV_TOKEN: Final = re.compile(r'<i id="cl-pv" data-pv="([^"]+)"')
_PAGE_ACCEPT: Final = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@dataclass(frozen=True, slots=True)
class PageVisit:
    """One planned page view and what the visitor does there."""

    path: str
    query: str  # "" or the utm_* parameters of the entry page
    engaged_ms: int
    scroll_pct: int
    vote: bool | None  # the answer, if the page asks and the visitor answers
    partial_beacon: bool  # a tab switch sends a running total before the final beacon


@dataclass(frozen=True, slots=True)
class VisitorPlan:
    """Everything one synthetic visitor will do, decided before any request."""

    user_agent: str
    bot: bool
    language: str
    referrer: str | None
    consent: Consent
    pages: tuple[PageVisit, ...]


@dataclass(frozen=True, slots=True)
class VisitorResult:
    """What playing one visitor produced."""

    page_views: int = 0
    beacons: int = 0
    votes: int = 0
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SimulationSummary:
    """The totals of a simulation run."""

    visitors: int
    page_views: int
    beacons: int
    votes: int
    consents: dict[str, int]
    bots: int
    errors: int
    seconds: float
    first_errors: tuple[str, ...] = ()

    def line(self) -> str:
        """The summary in one line."""
        decided = ", ".join(f"{count} {name}" for name, count in self.consents.items())
        return (
            f"simulated {self.visitors} visitors in {self.seconds:.1f} s: "
            f"{self.page_views} page views, {self.beacons} beacons, {self.votes} votes; "
            f"{decided}, {self.bots} bots; {self.errors} errors"
        )


# -- planning ------------------------------------------------------------------------------


def _pick(rng: random.Random, table: Weighted[T]) -> T:
    """One value of a weighted table."""
    return rng.choices([value for value, _ in table], [weight for _, weight in table])[0]


def _page_visit(rng: random.Random, path: str, query: str = "") -> PageVisit:
    """What a visitor does on ``path``, drawn from its profile."""
    profile = PROFILES[path]
    (low_s, high_s), (low_pct, high_pct) = profile.engaged_s, profile.scroll_pct
    vote: bool | None = None
    if rng.random() < SKIM_SHARE:
        low_s, high_s, low_pct, high_pct = 1, 6, 10, min(40, high_pct)
    elif rng.random() < profile.vote_rate:
        vote = rng.random() < profile.yes_share
    seconds = rng.triangular(low_s, high_s, low_s + (high_s - low_s) / 3)
    return PageVisit(
        path,
        query,
        engaged_ms=round(seconds * 1000),
        scroll_pct=rng.randint(min(low_pct, high_pct), high_pct),
        vote=vote,
        partial_beacon=rng.random() < PARTIAL_BEACON_SHARE,
    )


def _route(rng: random.Random, *, crawl: bool) -> list[str]:
    """The pages of one visit: an entry page, then links followed until the visit ends."""
    paths = [_pick(rng, ENTRY_PAGES)]
    length = rng.randint(2, MAX_PAGES) if crawl else MAX_PAGES
    while len(paths) < length:
        if not crawl and rng.random() < PROFILES[paths[-1]].exit_rate:
            break
        paths.append(_pick(rng, PROFILES[paths[-1]].links))
    return paths


def _plan_visitor(rng: random.Random) -> VisitorPlan:
    """One visitor: who they are, where they come from, what they decide and read."""
    bot = rng.random() < BOT_SHARE
    if bot:
        return VisitorPlan(
            _pick(rng, BOTS),
            bot=True,
            language="en-US,en;q=0.5",
            referrer=None,
            consent="none",
            pages=tuple(_page_visit(rng, p) for p in _route(rng, crawl=True)),
        )
    user_agent, language = _pick(rng, BROWSERS), _pick(rng, LANGUAGES)
    referrer, utm = _pick(rng, SOURCES)
    consent = _pick(rng, CONSENTS)
    route = _route(rng, crawl=False)
    pages = [_page_visit(rng, route[0], urlencode(utm))]
    pages += [_page_visit(rng, path) for path in route[1:]]
    return VisitorPlan(user_agent, False, language, referrer, consent, tuple(pages))


def plan_visitors(visitors: int, *, seed: int = 1) -> list[VisitorPlan]:
    """The plans of ``visitors`` synthetic visitors; the same seed gives the same plans."""
    if visitors < 0:
        raise ValueError(f"the number of visitors must be ≥ 0, not {visitors}")
    rng = random.Random(seed)
    return [_plan_visitor(rng) for _ in range(visitors)]


# -- playing -------------------------------------------------------------------------------


class _Player:
    """Plays one visitor's plan against the site, as that visitor's browser would."""

    def __init__(self, base_url: str, plan: VisitorPlan) -> None:
        self.origin = base_url.rstrip("/")
        self.plan = plan
        self.errors: list[str] = []
        self.beacons = self.votes = self.page_views = 0
        headers = {"user-agent": plan.user_agent, "accept-language": plan.language}
        if plan.consent == "gpc":
            headers["sec-gpc"] = "1"
        self.client = httpx.Client(base_url=self.origin, headers=headers, timeout=15.0)

    def play(self) -> VisitorResult:
        """Every page of the plan, with its consent decision and beacons."""
        with self.client:
            if self.plan.consent == "returning":  # the cookie of an earlier visit
                self._decide("accept_all")
            referrer = self.plan.referrer
            for index, visit in enumerate(self.plan.pages):
                self._view(visit, referrer)
                if index == 0 and self.plan.consent in {"accept", "decline"}:
                    self._decide("accept_all" if self.plan.consent == "accept" else "reject_all")
                referrer = f"{self.origin}{visit.path}"
        return VisitorResult(self.page_views, self.beacons, self.votes, tuple(self.errors))

    def _same_origin(self, referrer: str) -> dict[str, str]:
        """Headers a browser adds to a same-origin fetch or beacon."""
        return {
            "origin": self.origin,
            "referer": referrer,
            "sec-fetch-site": "same-origin",
            "sec-fetch-mode": "cors",
            "sec-fetch-dest": "empty",
        }

    def _expect(self, response: httpx.Response, status: int) -> bool:
        if response.status_code == status:
            return True
        request = response.request
        self.errors.append(
            f"{request.method} {request.url.path}: {response.status_code} "
            f"(expected {status}) {response.text[:120]!r}"
        )
        return False

    def _decide(self, action: str) -> None:
        """Click Accept or Decline in the banner (its script posts JSON)."""
        referrer = f"{self.origin}{self.plan.pages[0].path}"
        response = self.client.post(
            "/_consent", json={"action": action}, headers=self._same_origin(referrer)
        )
        self._expect(response, 200)

    def _view(self, visit: PageVisit, referrer: str | None) -> None:
        """Load one page and, when the page issued a page-view token, report on it."""
        headers = {"accept": _PAGE_ACCEPT}
        if not self.plan.bot:  # crawlers send no fetch metadata
            headers.update(_navigation_headers(self.origin, referrer))
        target = f"{visit.path}?{visit.query}" if visit.query else visit.path
        response = self.client.get(target, headers=headers)
        self.page_views += 1
        self._expect(response, PROFILES[visit.path].status)
        match = _PV_TOKEN.search(response.text)
        if match is None:
            return
        if self.plan.consent not in _ACCEPTING:
            self.errors.append(f"GET {visit.path}: a page-view token without analytics consent")
            return
        asks = "data-consent-feedback" in response.text
        self._report(visit, html.unescape(match.group(1)), asks=asks)

    def _report(self, visit: PageVisit, token: str, *, asks: bool) -> None:
        """The beacons of one page view: maybe a running total, then the final one."""
        if visit.partial_beacon:
            share = 0.5
            self._beacon(visit, token, visit.engaged_ms * share, visit.scroll_pct * share, None)
        vote = visit.vote if asks else None
        self._beacon(visit, token, visit.engaged_ms, visit.scroll_pct, vote)
        self.votes += vote is not None

    def _beacon(
        self, visit: PageVisit, token: str, engaged_ms: float, scroll: float, vote: bool | None
    ) -> None:
        """``navigator.sendBeacon`` of a JSON string: a text/plain POST with cookies."""
        body = {
            "pv": token,
            "path": visit.path,
            "engaged_ms": round(engaged_ms),
            "scroll_pct": round(scroll),
            "useful": vote,
        }
        headers = self._same_origin(f"{self.origin}{visit.path}")
        headers.update({"content-type": "text/plain;charset=UTF-8", "sec-fetch-mode": "no-cors"})
        response = self.client.post("/_consent/beacon", content=json.dumps(body), headers=headers)
        self.beacons += self._expect(response, 204)


def _navigation_headers(origin: str, referrer: str | None) -> dict[str, str]:
    """Headers a browser sends with a top-level navigation from ``referrer``."""
    headers = {"sec-fetch-mode": "navigate", "sec-fetch-dest": "document", "sec-fetch-user": "?1"}
    if referrer is None:
        headers["sec-fetch-site"] = "none"
    else:
        headers["referer"] = referrer
        headers["sec-fetch-site"] = "same-origin" if referrer.startswith(origin) else "cross-site"
    return headers


def _play(base_url: str, plan: VisitorPlan) -> VisitorResult:
    """Play one visitor; a connection failure is that visitor's error, not the run's."""
    try:
        return _Player(base_url, plan).play()
    except httpx.HTTPError as exc:
        return VisitorResult(errors=(f"{type(exc).__name__}: {exc}",))


def _summarise(
    plans: Sequence[VisitorPlan], results: Sequence[VisitorResult], seconds: float
) -> SimulationSummary:
    consents = Counter(p.consent for p in plans if not p.bot)
    errors = [e for r in results for e in r.errors]
    return SimulationSummary(
        visitors=len(plans),
        page_views=sum(r.page_views for r in results),
        beacons=sum(r.beacons for r in results),
        votes=sum(r.votes for r in results),
        consents={name: consents[name] for name, _ in CONSENTS},
        bots=sum(p.bot for p in plans),
        errors=len(errors),
        seconds=seconds,
        first_errors=tuple(errors[:3]),
    )


def simulate(
    base_url: str,
    visitors: int,
    *,
    seed: int = 1,
    workers: int = WORKERS,
    progress: Callable[[int, int], None] | None = None,
) -> SimulationSummary:
    """Send ``visitors`` synthetic visitors to the site at ``base_url`` over HTTP.

    The visitors are planned from ``seed``, then played by ``workers`` threads, each
    visitor with its own client (its own cookies). ``progress(done, total)`` is called
    from this thread as visitors finish.
    """
    plans = plan_visitors(visitors, seed=seed)
    started = time.perf_counter()
    results: list[VisitorResult] = []
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="visitor") as pool:
        for result in pool.map(lambda plan: _play(base_url, plan), plans):
            results.append(result)
            if progress is not None:
                progress(len(results), len(plans))
    return _summarise(plans, results, time.perf_counter() - started)


# -- the demo command ----------------------------------------------------------------------


def client_url(host: str, port: int) -> str:
    """The URL a local client reaches a server bound to ``host`` at."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def wait_until_serving(base_url: str, timeout: float = 30.0) -> None:
    """Return once the server answers; raise :class:`TimeoutError` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(f"{base_url}/healthz", timeout=2.0)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{base_url} did not answer within {timeout:.0f} s") from None
            time.sleep(0.1)


def _run_for_demo(base_url: str, visitors: int, seed: int, out: TextIO) -> None:
    """Wait for the demo server, simulate, print progress and the summary."""
    step = max(1, visitors // 10)

    def progress(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            print(f"consentlog demo: {done}/{total} visitors", file=out, flush=True)

    try:
        wait_until_serving(base_url)
        print(
            f"consentlog demo: simulating {visitors} visitors against {base_url} (seed {seed})",
            file=out,
            flush=True,
        )
        summary = simulate(base_url, visitors, seed=seed, progress=progress)
    except Exception as exc:  # the server keeps serving; say what went wrong in one line
        print(f"consentlog demo: simulation failed: {exc}", file=sys.stderr, flush=True)
        return
    print(f"consentlog demo: {summary.line()}", file=out, flush=True)
    for error in summary.first_errors:
        print(f"consentlog demo: simulation error: {error}", file=sys.stderr, flush=True)


def simulate_in_background(
    host: str, port: int, visitors: int, *, seed: int = 1, out: TextIO | None = None
) -> threading.Thread:
    """Start a daemon thread that simulates ``visitors`` once the server on
    ``host:port`` answers (for ``consentlog demo --simulate N``)."""
    if visitors < 0:
        raise ValueError(f"--simulate needs a number of visitors ≥ 0, not {visitors}")
    thread = threading.Thread(
        target=_run_for_demo,
        args=(client_url(host, port), visitors, seed, out or sys.stdout),
        name="consentlog-simulate",
        daemon=True,
    )
    thread.start()
    return thread
