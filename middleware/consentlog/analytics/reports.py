"""The dashboard's reports beside page usefulness: overview, trend, engagement and scroll
distributions, referrers, countries, bots and verified browser views, channels, sources,
campaigns, goals, funnels, next pages, consent decisions, GPC share, errors, and now (the
last few minutes).

Each report is one query in ``sql/`` (``overview.sql``, ``trend.sql`` …) with ClickHouse
query parameters, run by ``consentlog.analytics.queries.run`` into the row type below
whose fields are its columns, as ``consentlog.analytics.metrics`` does for ``pages.sql``.
Definitions: ``docs/metrics.md``.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, fields
from typing import Any

from consentlog.analytics.queries import Row, days, run
from consentlog.settings import MAX_FUNNEL_STEPS, FunnelRule
from consentlog.store import Store

TOP = 10  # rows of the "top N" reports (referrers, next pages)
VERIFIED_PAGES = 100  # pages of the verified browser views report
NOW_SECONDS = 5 * 60  # the window of "now": visitors who loaded a page in the last 5 minutes
NOW_PAGES = 50  # pages listed
HOSTS = 100  # hosts the dashboard's picker offers
SOURCES = 50  # rows of the sources and campaign tables
COUNTRIES = 250  # every country there is (ISO 3166-1 has 249 codes), and unknown


class _Report:
    """A row type whose fields are the columns of its query, in order."""

    __slots__ = ()

    def as_dict(self) -> dict[str, Any]:
        """The row as a plain dict (JSON output)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Overview(_Report):
    """Site-wide totals over a date range (``overview.sql``)."""

    views: int
    bot_views: int
    visitors: int
    sessions: int
    anonymous_views: int
    granted_views: int
    denied_views: int
    unknown_views: int
    decisions: int
    analytics_accepted: int
    analytics_refused: int
    withdrawals: int
    consent_rate: float | None  # analytics accepted / decisions; None without decisions
    granted_view_share: float | None  # consented views / views; None without views


@dataclass(frozen=True, slots=True)
class DayCount(_Report):
    """Views and visitors of one UTC day (``trend.sql``)."""

    day: datetime.date
    views: int
    visitors: int


@dataclass(frozen=True, slots=True)
class EngagedBucket(_Report):
    """Page views whose engaged time is in ``[from_ms, to_ms)`` (``engaged_histogram.sql``)."""

    from_ms: int
    to_ms: int | None  # None: the open last bucket
    views: int


@dataclass(frozen=True, slots=True)
class ScrollBucket(_Report):
    """Page views whose deepest scroll is in ``[from_pct, to_pct)`` (``scroll_histogram.sql``)."""

    from_pct: int
    to_pct: int | None  # None: the last bucket, 100 % (read to the end)
    views: int


@dataclass(frozen=True, slots=True)
class Referrer(_Report):
    """Human views of a page that came from one referrer host (``referrers.sql``)."""

    referrer_host: str  # '' when the browser sent no referrer
    views: int
    visitors: int


@dataclass(frozen=True, slots=True)
class Country(_Report):
    """Human views from one country (``countries.sql``)."""

    country: str  # ISO 3166-1 alpha-2; '' when not known
    views: int
    visitors: int  # consented ones
    anonymous_views: int


@dataclass(frozen=True, slots=True)
class BotSignal(_Report):
    """Page requests marked by one bot signal, or by none (``bots.sql``)."""

    signal: str  # ingest/bots.py SIGNALS; '' for people's requests
    requests: int
    verified: int  # whose page view the banner script confirmed
    pages: int  # distinct pages (host and path) they asked for


@dataclass(frozen=True, slots=True)
class VerifiedPage(_Report):
    """A page's human views and how many of them a browser's script confirmed
    (``verified.sql``)."""

    host: str
    path: str
    views: int
    verified_views: int
    anonymous_views: int
    verified_anonymous_views: int


@dataclass(frozen=True, slots=True)
class ChannelCount(_Report):
    """Arrivals by one channel (``channels.sql``)."""

    channel: str  # ingest/channels.py CHANNELS ('' for rows older than channels)
    views: int
    visitors: int  # consented ones
    sessions: int  # consented ones
    anonymous_views: int
    tagged: int  # arrivals with a campaign tag
    ad_clicks: int  # arrivals with an ad click id


@dataclass(frozen=True, slots=True)
class Source(_Report):
    """Arrivals from one source by one channel (``sources.sql``)."""

    source: str  # utm_source, else ref, else the referrer host; '' direct
    channel: str
    views: int
    visitors: int
    anonymous_views: int


@dataclass(frozen=True, slots=True)
class Campaign(_Report):
    """Tagged arrivals of one campaign, source and medium (``campaigns.sql``)."""

    campaign: str
    source: str
    medium: str
    views: int
    visitors: int
    ad_clicks: int  # arrivals with an ad click id
    with_term: int
    with_content: int


@dataclass(frozen=True, slots=True)
class CampaignTerm(_Report):
    """Tagged arrivals by campaign, term and content (``campaign_terms.sql``)."""

    campaign: str
    term: str
    content: str
    views: int
    visitors: int


@dataclass(frozen=True, slots=True)
class GoalCount(_Report):
    """Conversions of one goal (``goals.sql``)."""

    name: str
    conversions: int  # human ones, with or without consent
    server_conversions: int
    client_conversions: int
    anonymous_conversions: int
    visitors: int  # consented ones
    sessions: int  # consented ones
    conversion_rate: float | None  # sessions / consented sessions of the range


@dataclass(frozen=True, slots=True)
class GoalProperty(_Report):
    """How often a custom event carried one property value (``goal_props.sql``)."""

    name: str
    property: str
    value: str
    conversions: int


@dataclass(frozen=True, slots=True)
class StepCount(_Report):
    """How many consented sessions took a funnel's steps 1 to ``step`` (``funnel.sql``)."""

    step: int
    sessions: int


@dataclass(frozen=True, slots=True)
class FunnelStepReport(_Report):
    """One step of a funnel report: its sessions and the shares they make."""

    step: int
    label: str  # as configured: /pricing, goal:trial
    sessions: int
    of_first: float | None  # sessions / the first step's
    of_previous: float | None  # sessions / the previous step's


@dataclass(frozen=True, slots=True)
class FunnelReport(_Report):
    """A funnel over a date range, step by step."""

    name: str
    steps: list[FunnelStepReport]

    def as_dict(self) -> dict[str, Any]:
        """The funnel as plain data (JSON output)."""
        return {"name": self.name, "steps": [s.as_dict() for s in self.steps]}


@dataclass(frozen=True, slots=True)
class NextPage(_Report):
    """How often a page was followed by ``next_path`` in a session (``next_pages.sql``)."""

    next_path: str  # '' when the session ended on the page
    views: int


@dataclass(frozen=True, slots=True)
class ConsentDay(_Report):
    """Decisions of one UTC day, action and policy revision (``consent.sql``)."""

    day: datetime.date
    policy_revision: int
    action: str
    decisions: int
    analytics_accepted: int


@dataclass(frozen=True, slots=True)
class GpcShare(_Report):
    """How many decisions came from a Global Privacy Control signal (``gpc.sql``)."""

    decisions: int
    gpc_decisions: int
    gpc_share: float | None  # None without decisions


@dataclass(frozen=True, slots=True)
class ErrorCount(_Report):
    """Requests of one page answered with one error status (``errors.sql``)."""

    host: str
    path: str
    status: int
    views: int
    bot_views: int
    last_seen: datetime.datetime


@dataclass(frozen=True, slots=True)
class SubjectRequest(_Report):
    """One data-subject request of the audit (``subject_requests.sql``): never whom."""

    ts: datetime.datetime
    request: str  # export / erase
    channel: str  # self-service / operator / dashboard
    actor: str  # a dashboard user's name, 'cli', 'self-service'; '' before schema version 12
    rows: int
    outcome: str  # done / failed (part way: some rows may be gone)


@dataclass(frozen=True, slots=True)
class HostCount(_Report):
    """A host the site answered on, and its human views (``hosts.sql``)."""

    host: str
    views: int


@dataclass(frozen=True, slots=True)
class NowPage(_Report):
    """One page human visitors loaded in the last few minutes (``now.sql``)."""

    host: str
    path: str
    views: int
    visitors: int  # consented ones
    last_seen: datetime.datetime


@dataclass(frozen=True, slots=True)
class NowTotals(_Report):
    """The whole site in the last few minutes (``now_totals.sql``)."""

    views: int
    visitors: int  # consented ones
    sessions: int
    anonymous_views: int


def _run(
    store: Store,
    name: str,
    row: type[Row],
    database: str,
    start: datetime.date,
    end: datetime.date,
    **parameters: Any,
) -> list[Row]:
    """Rows of ``sql/<name>.sql`` for the days ``start`` to ``end`` (inclusive)."""
    return run(store, name, row, database, **days(start, end), **parameters)


def overview(
    store: Store, database: str, start: datetime.date, end: datetime.date, *, host: str = ""
) -> Overview:
    """Views, visitors, anonymous views and consent rates of the whole site."""
    return _run(store, "overview", Overview, database, start, end, host=host)[0]


def trend(
    store: Store,
    database: str,
    start: datetime.date,
    end: datetime.date,
    *,
    host: str = "",
    path: str = "",
) -> list[DayCount]:
    """Views and visitors per day, every day of the range (one page when ``path``)."""
    return _run(store, "trend", DayCount, database, start, end, host=host, path=path)


def engaged_histogram(
    store: Store,
    database: str,
    start: datetime.date,
    end: datetime.date,
    path: str,
    *,
    host: str = "",
) -> list[EngagedBucket]:
    """How long the page's engaged views were engaged, in buckets from 0 s to 5 min +."""
    return _run(
        store, "engaged_histogram", EngagedBucket, database, start, end, host=host, path=path
    )


def scroll_histogram(
    store: Store,
    database: str,
    start: datetime.date,
    end: datetime.date,
    path: str,
    *,
    host: str = "",
) -> list[ScrollBucket]:
    """How far the page's engaged views scrolled, in quarters plus "to the end"."""
    return _run(store, "scroll_histogram", ScrollBucket, database, start, end, host=host, path=path)


def referrers(
    store: Store,
    database: str,
    start: datetime.date,
    end: datetime.date,
    path: str,
    *,
    host: str = "",
    limit: int = TOP,
) -> list[Referrer]:
    """The referrer hosts the page's human views came from, most views first."""
    return _run(
        store, "referrers", Referrer, database, start, end, host=host, path=path, limit=limit
    )


def countries(
    store: Store,
    database: str,
    start: datetime.date,
    end: datetime.date,
    *,
    host: str = "",
    path: str = "",
    limit: int = COUNTRIES,
) -> list[Country]:
    """Human views by country, most first (one page when ``path``)."""
    return _run(
        store, "countries", Country, database, start, end, host=host, path=path, limit=limit
    )


def bots(
    store: Store, database: str, start: datetime.date, end: datetime.date, *, host: str = ""
) -> list[BotSignal]:
    """Page requests by bot signal: people's first ('' signal), then each signal's, most
    first."""
    return _run(store, "bots", BotSignal, database, start, end, host=host)


def verified(
    store: Store,
    database: str,
    start: datetime.date,
    end: datetime.date,
    *,
    host: str = "",
    limit: int = VERIFIED_PAGES,
) -> list[VerifiedPage]:
    """Human views and verified browser views per page, most viewed first."""
    return _run(store, "verified", VerifiedPage, database, start, end, host=host, limit=limit)


def channels(
    store: Store, database: str, start: datetime.date, end: datetime.date, *, host: str = ""
) -> list[ChannelCount]:
    """Arrivals (human views from outside the site) by channel, most first."""
    return _run(store, "channels", ChannelCount, database, start, end, host=host)


def sources(
    store: Store,
    database: str,
    start: datetime.date,
    end: datetime.date,
    *,
    host: str = "",
    limit: int = SOURCES,
) -> list[Source]:
    """Arrivals by source and channel, most first."""
    return _run(store, "sources", Source, database, start, end, host=host, limit=limit)


def campaigns(
    store: Store,
    database: str,
    start: datetime.date,
    end: datetime.date,
    *,
    host: str = "",
    limit: int = SOURCES,
) -> list[Campaign]:
    """Tagged arrivals by campaign, source and medium, most first."""
    return _run(store, "campaigns", Campaign, database, start, end, host=host, limit=limit)


def campaign_terms(
    store: Store,
    database: str,
    start: datetime.date,
    end: datetime.date,
    *,
    host: str = "",
    limit: int = SOURCES,
) -> list[CampaignTerm]:
    """Tagged arrivals by campaign, utm_term and utm_content, most first."""
    return _run(store, "campaign_terms", CampaignTerm, database, start, end, host=host, limit=limit)


def goals(
    store: Store, database: str, start: datetime.date, end: datetime.date, *, host: str = ""
) -> list[GoalCount]:
    """Every goal reached in the range, most conversions first."""
    return _run(store, "goals", GoalCount, database, start, end, host=host)


def goal_properties(
    store: Store,
    database: str,
    start: datetime.date,
    end: datetime.date,
    *,
    host: str = "",
    limit: int = SOURCES,
) -> list[GoalProperty]:
    """The custom events' property values, most conversions first."""
    return _run(store, "goal_props", GoalProperty, database, start, end, host=host, limit=limit)


def funnel(
    store: Store,
    database: str,
    start: datetime.date,
    end: datetime.date,
    rule: FunnelRule,
    *,
    host: str = "",
) -> FunnelReport:
    """``rule``'s steps over the days ``start`` to ``end``: the consented sessions that
    took steps 1 to k in order, for each k, with their share of the first and previous."""
    padding = MAX_FUNNEL_STEPS - len(rule.steps)
    counts = _run(
        store, "funnel", StepCount, database, start, end, host=host,
        kinds=[s.kind for s in rule.steps] + [""] * padding,
        patterns=[s.pattern for s in rule.steps] + [""] * padding,
        steps=len(rule.steps),
    )  # fmt: skip
    reached = {c.step: c.sessions for c in counts}
    steps = []
    for number, step in enumerate(rule.steps, 1):
        sessions = reached.get(number, 0)
        first, previous = reached.get(1, 0), reached.get(number - 1, 0)
        steps.append(
            FunnelStepReport(
                number, step.label, sessions, _ratio(sessions, first),
                _ratio(sessions, previous) if number > 1 else None,
            )
        )  # fmt: skip
    return FunnelReport(rule.name, steps)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def next_pages(
    store: Store,
    database: str,
    start: datetime.date,
    end: datetime.date,
    path: str,
    *,
    host: str = "",
    limit: int = TOP,
) -> list[NextPage]:
    """The pages viewed right after this one in the same session ('' = left the site)."""
    return _run(
        store, "next_pages", NextPage, database, start, end, host=host, path=path, limit=limit
    )


def consent_decisions(
    store: Store, database: str, start: datetime.date, end: datetime.date
) -> list[ConsentDay]:
    """Consent decisions per day by action and policy revision."""
    return _run(store, "consent", ConsentDay, database, start, end)


def gpc_share(store: Store, database: str, start: datetime.date, end: datetime.date) -> GpcShare:
    """The share of consent decisions taken from a Global Privacy Control signal."""
    return _run(store, "gpc", GpcShare, database, start, end)[0]


def errors(
    store: Store,
    database: str,
    start: datetime.date,
    end: datetime.date,
    *,
    host: str = "",
    path: str = "",
) -> list[ErrorCount]:
    """Requests answered 404 or 5xx by page and status (one page when ``path``)."""
    return _run(store, "errors", ErrorCount, database, start, end, host=host, path=path)


def subject_requests(
    store: Store, database: str, start: datetime.date, end: datetime.date
) -> list[SubjectRequest]:
    """The data-subject requests of the range, newest first (at most 500)."""
    return _run(store, "subject_requests", SubjectRequest, database, start, end)


def _window(until: datetime.datetime, seconds: int) -> dict[str, str]:
    since = until - datetime.timedelta(seconds=seconds)
    return {
        "since": f"{since:%Y-%m-%d %H:%M:%S.%f}"[:-3],
        "until": f"{until:%Y-%m-%d %H:%M:%S.%f}"[:-3],
    }


def now_totals(
    store: Store,
    database: str,
    until: datetime.datetime,
    *,
    seconds: int = NOW_SECONDS,
    host: str = "",
) -> NowTotals:
    """Views, visitors and sessions of the ``seconds`` before ``until`` (UTC)."""
    return run(store, "now_totals", NowTotals, database, host=host, **_window(until, seconds))[0]


def now_pages(
    store: Store,
    database: str,
    until: datetime.datetime,
    *,
    seconds: int = NOW_SECONDS,
    host: str = "",
    limit: int = NOW_PAGES,
) -> list[NowPage]:
    """The pages of the ``seconds`` before ``until`` (UTC), most viewed first."""
    window = _window(until, seconds)
    return run(store, "now", NowPage, database, host=host, limit=limit, **window)


def hosts(
    store: Store, database: str, start: datetime.date, end: datetime.date, *, limit: int = HOSTS
) -> list[HostCount]:
    """The hosts of the days ``start`` to ``end``, most viewed first."""
    return _run(store, "hosts", HostCount, database, start, end, limit=limit)
