"""Who the demo's synthetic visitors are and what they do, decided before any request.

:func:`plan_visitors` draws, deterministically for a seed, each visitor's browser,
language, referrer and campaign, consent decision and route through the site; what
visitors do on each page comes from the table :data:`PROFILES`: the docs and the two real
blog posts are useful (long reads, deep scrolls, "yes" votes), ``/blog/larkspur-2-3`` is
not (a few seconds, shallow scroll, "no" votes, most visits end there), the rest lies in
between. ``simulate.py`` plays the plans over HTTP.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final, Literal, TypeVar
from urllib.parse import urlencode

__all__ = ["PROFILES", "PageProfile", "PageVisit", "VisitorPlan", "plan_visitors"]

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
    # an ad click: the click id's value is never stored, only that one came
    (("https://www.google.com/", (("gclid", "EAIaIQobChMI-demo"), ("utm_campaign", "brand"),
                                  ("utm_term", "status page software"))), 4),
    ((None, (("ref", "producthunt"), ("utm_content", "launch-post"))), 3),
    (("https://mail.google.com/", ()), 2),
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

SCRAPER: Final = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
BOTS: Final[Weighted[str]] = (
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 5),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", 2),
    ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", 1),
    # on the crawler list only, and a scraper that copies a browser's user agent but not
    # its headers (it sends no Accept-Language): the other bot signals
    ("curl/8.5.0", 1),
    ("Go-http-client/1.1", 1),
    (SCRAPER, 2),
)

LANGUAGES: Final[Weighted[str]] = (
    ("en-US,en;q=0.9", 40), ("en-GB,en;q=0.9", 10), ("de-DE,de;q=0.9,en;q=0.8", 14),
    ("fr-FR,fr;q=0.9,en;q=0.8", 9), ("es-ES,es;q=0.9", 6), ("nl-NL,nl;q=0.9,en;q=0.8", 5),
    ("pt-BR,pt;q=0.9,en;q=0.8", 5), ("ja-JP,ja;q=0.9", 4), ("sv-SE,sv;q=0.9,en;q=0.8", 3),
)

# The header the demo trusts for a request's country, as a site behind a CDN trusts the
# CDN's: the simulated visitors all come from loopback, which has no country.
DEMO_COUNTRY_HEADER: Final = "x-consentlog-demo-country"

# where visitors of each language are (the country their CDN header names)
COUNTRIES: Final[dict[str, Weighted[str]]] = {
    "en-US,en;q=0.9": (("US", 70), ("CA", 12), ("IN", 10), ("AU", 8)),
    "en-GB,en;q=0.9": (("GB", 80), ("IE", 12), ("NZ", 8)),
    "de-DE,de;q=0.9,en;q=0.8": (("DE", 78), ("AT", 12), ("CH", 10)),
    "fr-FR,fr;q=0.9,en;q=0.8": (("FR", 82), ("BE", 10), ("CA", 8)),
    "es-ES,es;q=0.9": (("ES", 55), ("MX", 30), ("AR", 15)),
    "nl-NL,nl;q=0.9,en;q=0.8": (("NL", 85), ("BE", 15)),
    "pt-BR,pt;q=0.9,en;q=0.8": (("BR", 90), ("PT", 10)),
    "ja-JP,ja;q=0.9": (("JP", 100),),
    "sv-SE,sv;q=0.9,en;q=0.8": (("SE", 90), ("FI", 10)),
}

Consent = Literal["returning", "accept", "decline", "gpc", "none"]
# returning: accepted on an earlier visit (decides before the entry page); accept /
# decline: answers the banner on the entry page; gpc: sends Sec-GPC: 1; none: never decides
CONSENTS: Final[Weighted[Consent]] = (
    ("returning", 30), ("accept", 35), ("decline", 20), ("gpc", 5), ("none", 10),
)
# fmt: on

# the goals of a page and the share of its views that reach each: the Team plan's trial
# form (a server goal, also without consent) and the Community download link (a client
# goal, sent only with consent)
GOALS: Final[dict[str, tuple[tuple[str, float], ...]]] = {
    "/pricing": (("trial", 0.35), ("download", 0.3)),
}
BOT_SHARE: Final = 0.06  # of visitors; bots never decide and send no beacon
SKIM_SHARE: Final = 0.08  # of page views, on any page: a glance, then gone
PARTIAL_BEACON_SHARE: Final = 0.15  # views where a tab switch sends a beacon midway
MAX_PAGES: Final = 5


@dataclass(frozen=True, slots=True)
class PageVisit:
    """One planned page view and what the visitor does there."""

    path: str
    query: str  # "" or the utm_* parameters of the entry page
    engaged_ms: int
    scroll_pct: int
    vote: bool | None  # the answer, if the page asks and the visitor answers
    partial_beacon: bool  # a tab switch sends a running total before the final beacon
    goal: str = ""  # "trial" (the Team plan's form), "download" (the Community link) or ""


@dataclass(frozen=True, slots=True)
class VisitorPlan:
    """Everything one synthetic visitor will do, decided before any request."""

    user_agent: str
    bot: bool
    language: str
    referrer: str | None
    consent: Consent
    pages: tuple[PageVisit, ...]
    country: str = ""  # sent as the demo's country header (every visitor is on loopback)


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
    goal = ""
    if path in GOALS:
        draw = rng.random()
        for name, share in GOALS[path]:
            if draw < share:
                goal = name
                break
            draw -= share
    return PageVisit(
        path,
        query,
        engaged_ms=round(seconds * 1000),
        scroll_pct=rng.randint(min(low_pct, high_pct), high_pct),
        vote=vote,
        partial_beacon=rng.random() < PARTIAL_BEACON_SHARE,
        goal=goal,
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
        agent = _pick(rng, BOTS)
        return VisitorPlan(
            agent,
            bot=True,
            language="" if agent == SCRAPER else "en-US,en;q=0.5",
            referrer=None,
            consent="none",
            pages=tuple(_page_visit(rng, p) for p in _route(rng, crawl=True)),
            country="US",
        )
    user_agent, language = _pick(rng, BROWSERS), _pick(rng, LANGUAGES)
    referrer, utm = _pick(rng, SOURCES)
    consent = _pick(rng, CONSENTS)
    route = _route(rng, crawl=False)
    pages = [_page_visit(rng, route[0], urlencode(utm))]
    pages += [_page_visit(rng, path) for path in route[1:]]
    country = _pick(rng, COUNTRIES[language])
    return VisitorPlan(user_agent, False, language, referrer, consent, tuple(pages), country)


def plan_visitors(visitors: int, *, seed: int = 1) -> list[VisitorPlan]:
    """The plans of ``visitors`` synthetic visitors; the same seed gives the same plans."""
    if visitors < 0:
        raise ValueError(f"the number of visitors must be ≥ 0, not {visitors}")
    rng = random.Random(seed)
    return [_plan_visitor(rng) for _ in range(visitors)]
