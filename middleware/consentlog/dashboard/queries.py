"""What each dashboard page shows, fetched from the store in one call.

The HTML page and its JSON twin read the same bundle, so they cannot disagree. Store
calls block (chDB runs in-process), so ``fetch`` runs a bundle on a worker thread and
turns a failing store into ``StoreUnavailable`` — a 503 naming the problem, not a 500.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool

from consentlog.analytics import reports
from consentlog.analytics.countries import country_name
from consentlog.analytics.metrics import PageMetrics, page_report
from consentlog.dashboard.filters import Filters
from consentlog.dashboard.table import PageTable, Sort, build_table
from consentlog.exceptions import StoreUnavailable, first_line
from consentlog.settings import FunnelRule
from consentlog.store import Store

P = ParamSpec("P")
T = TypeVar("T")


async def fetch(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``function(*args, **kwargs)`` on a worker thread; store errors → StoreUnavailable."""
    try:
        return await run_in_threadpool(function, *args, **kwargs)
    except Exception as exc:
        text = str(exc).strip()
        if "UNKNOWN_TABLE" in text or "UNKNOWN_DATABASE" in text:
            raise StoreUnavailable(
                "the consentlog tables do not exist yet: run `consentlog migrate`, or wait "
                "for the site's first page request"
            ) from exc
        raise StoreUnavailable(first_line(exc)) from exc


def _plain(value: Any) -> Any:
    """A report value as JSON can hold it (dates as ISO strings)."""
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "as_dict"):
        return _plain(value.as_dict())
    return value


@dataclass(frozen=True, slots=True)
class NowData:
    """The Now page: the last few minutes, site-wide and by page."""

    filters: Filters
    until: datetime.datetime  # UTC
    seconds: int
    totals: reports.NowTotals
    pages: list[reports.NowPage]

    def as_dict(self) -> dict[str, Any]:
        """The bundle as JSON-ready data."""
        return {
            "until": _plain(self.until),
            "seconds": self.seconds,
            "host": self.filters.host,
            "totals": _plain(self.totals),
            "pages": _plain(self.pages),
        }


@dataclass(frozen=True, slots=True)
class OverviewData:
    """The Overview page: totals, the daily trend, the least useful pages."""

    filters: Filters
    overview: reports.Overview
    trend: list[reports.DayCount]
    least_useful: list[PageMetrics]

    def as_dict(self) -> dict[str, Any]:
        """The bundle as JSON-ready data."""
        return {
            "range": self.filters.as_dict(),
            "overview": _plain(self.overview),
            "trend": _plain(self.trend),
            "least_useful": _plain(self.least_useful),
        }


@dataclass(frozen=True, slots=True)
class PagesData:
    """The Pages page: every page's usefulness metrics, sorted and flagged."""

    filters: Filters
    table: PageTable

    def as_dict(self) -> dict[str, Any]:
        """The bundle as JSON-ready data."""
        return {
            "range": self.filters.as_dict(),
            "sort": {"key": self.table.sort.key, "descending": self.table.sort.descending},
            "pages": [row.as_dict() for row in self.table.rows],
        }


@dataclass(frozen=True, slots=True)
class DetailData:
    """The Page detail page: one page's metrics and its distributions."""

    filters: Filters
    path: str
    page: PageMetrics | None  # None: no request for the page in the range
    trend: list[reports.DayCount]
    engaged_time: list[reports.EngagedBucket]
    scroll_depth: list[reports.ScrollBucket]
    referrers: list[reports.Referrer]
    next_pages: list[reports.NextPage]
    errors: list[reports.ErrorCount]

    def as_dict(self) -> dict[str, Any]:
        """The bundle as JSON-ready data."""
        return {
            "range": self.filters.as_dict(),
            "path": self.path,
            "page": _plain(self.page),
            "trend": _plain(self.trend),
            "engaged_time": _plain(self.engaged_time),
            "scroll_depth": _plain(self.scroll_depth),
            "referrers": _plain(self.referrers),
            "next_pages": _plain(self.next_pages),
            "errors": _plain(self.errors),
        }


@dataclass(frozen=True, slots=True)
class CountriesData:
    """The Countries page: human views by the visitor's country."""

    filters: Filters
    countries: list[reports.Country]

    def as_dict(self) -> dict[str, Any]:
        """The bundle as JSON-ready data (each country with its English name)."""
        return {
            "range": self.filters.as_dict(),
            "countries": [{**c.as_dict(), "name": country_name(c.country)} for c in self.countries],
        }


@dataclass(frozen=True, slots=True)
class BotsData:
    """The Bots page: page requests by bot signal, and verified browser views per page."""

    filters: Filters
    signals: list[reports.BotSignal]
    pages: list[reports.VerifiedPage]

    def as_dict(self) -> dict[str, Any]:
        """The bundle as JSON-ready data."""
        return {
            "range": self.filters.as_dict(),
            "signals": _plain(self.signals),
            "pages": _plain(self.pages),
        }


@dataclass(frozen=True, slots=True)
class SourcesData:
    """The Sources page: arrivals by channel and source, and the tagged campaigns."""

    filters: Filters
    channels: list[reports.ChannelCount]
    sources: list[reports.Source]
    campaigns: list[reports.Campaign]
    terms: list[reports.CampaignTerm]

    def as_dict(self) -> dict[str, Any]:
        """The bundle as JSON-ready data."""
        return {
            "range": self.filters.as_dict(),
            "channels": _plain(self.channels),
            "sources": _plain(self.sources),
            "campaigns": _plain(self.campaigns),
            "terms": _plain(self.terms),
        }


@dataclass(frozen=True, slots=True)
class GoalsData:
    """The Goals page: conversions of every goal; the custom events' properties."""

    filters: Filters
    goals: list[reports.GoalCount]
    properties: list[reports.GoalProperty]

    def as_dict(self) -> dict[str, Any]:
        """The bundle as JSON-ready data."""
        return {
            "range": self.filters.as_dict(),
            "goals": _plain(self.goals),
            "properties": _plain(self.properties),
        }


@dataclass(frozen=True, slots=True)
class FunnelsData:
    """The Funnels page: each configured funnel, step by step."""

    filters: Filters
    funnels: list[reports.FunnelReport]

    def as_dict(self) -> dict[str, Any]:
        """The bundle as JSON-ready data."""
        return {"range": self.filters.as_dict(), "funnels": _plain(self.funnels)}


@dataclass(frozen=True, slots=True)
class ConsentData:
    """The Consent page: decisions by day, action and revision; the GPC share."""

    filters: Filters
    decisions: list[reports.ConsentDay]
    gpc: reports.GpcShare
    actions: list[str] = field(default_factory=list)  # every action in the range, ordered

    def as_dict(self) -> dict[str, Any]:
        """The bundle as JSON-ready data."""
        return {
            "range": self.filters.as_dict(),
            "decisions": _plain(self.decisions),
            "gpc": _plain(self.gpc),
        }


@dataclass(frozen=True, slots=True)
class ErrorsData:
    """The Errors page: 404 and 5xx answers by page and status."""

    filters: Filters
    errors: list[reports.ErrorCount]

    def as_dict(self) -> dict[str, Any]:
        """The bundle as JSON-ready data."""
        return {"range": self.filters.as_dict(), "errors": _plain(self.errors)}


ACTION_ORDER = ("accept_all", "custom", "reject_all", "gpc", "dnt", "withdraw")
LEAST_USEFUL_SHOWN = 5  # on the Overview


@dataclass(frozen=True, slots=True)
class Reports:
    """The store and database the dashboard reads, and the bundle of each page."""

    store: Store
    database: str
    funnels: tuple[FunnelRule, ...] = ()  # the site's funnels (settings.funnels)

    def overview(self, filters: Filters) -> OverviewData:
        """Totals, trend and the least useful pages."""
        f = filters
        table = build_table(self._pages(f), Sort("usefulness", descending=False))
        flagged = [row.metrics for row in table.rows if row.least_useful]
        return OverviewData(
            f,
            reports.overview(self.store, self.database, f.start, f.end, host=f.host),
            reports.trend(self.store, self.database, f.start, f.end, host=f.host),
            flagged[:LEAST_USEFUL_SHOWN],
        )

    def pages(self, filters: Filters, sort: Sort) -> PagesData:
        """Every page's metrics in ``sort`` order."""
        return PagesData(filters, build_table(self._pages(filters), sort))

    def detail(self, filters: Filters, path: str) -> DetailData:
        """One page: its metrics, trend, distributions, referrers, next pages, errors."""
        f, db, store = filters, self.database, self.store
        page = next((p for p in self._pages(f) if p.path == path), None)
        return DetailData(
            f,
            path,
            page,
            reports.trend(store, db, f.start, f.end, host=f.host, path=path),
            reports.engaged_histogram(store, db, f.start, f.end, path, host=f.host),
            reports.scroll_histogram(store, db, f.start, f.end, path, host=f.host),
            reports.referrers(store, db, f.start, f.end, path, host=f.host),
            reports.next_pages(store, db, f.start, f.end, path, host=f.host),
            reports.errors(store, db, f.start, f.end, host=f.host, path=path),
        )

    def countries(self, filters: Filters) -> CountriesData:
        """Human views by country, most first."""
        f = filters
        found = reports.countries(self.store, self.database, f.start, f.end, host=f.host)
        return CountriesData(f, found)

    def bots(self, filters: Filters) -> BotsData:
        """Requests by bot signal; human and verified browser views per page."""
        f, db, store = filters, self.database, self.store
        return BotsData(
            f,
            reports.bots(store, db, f.start, f.end, host=f.host),
            reports.verified(store, db, f.start, f.end, host=f.host),
        )

    def sources(self, filters: Filters) -> SourcesData:
        """Arrivals by channel and source; campaigns, their terms and contents."""
        f, db, store = filters, self.database, self.store
        return SourcesData(
            f,
            reports.channels(store, db, f.start, f.end, host=f.host),
            reports.sources(store, db, f.start, f.end, host=f.host),
            reports.campaigns(store, db, f.start, f.end, host=f.host),
            reports.campaign_terms(store, db, f.start, f.end, host=f.host),
        )

    def goals(self, filters: Filters) -> GoalsData:
        """Every goal's conversions, and the custom events' property values."""
        f, db, store = filters, self.database, self.store
        return GoalsData(
            f,
            reports.goals(store, db, f.start, f.end, host=f.host),
            reports.goal_properties(store, db, f.start, f.end, host=f.host),
        )

    def funnel_reports(self, filters: Filters) -> FunnelsData:
        """Every configured funnel over the range, step by step."""
        f = filters
        found = [
            reports.funnel(self.store, self.database, f.start, f.end, rule, host=f.host)
            for rule in self.funnels
        ]
        return FunnelsData(f, found)

    def consent(self, filters: Filters) -> ConsentData:
        """Decisions over time and the GPC share."""
        f = filters
        decisions = reports.consent_decisions(self.store, self.database, f.start, f.end)
        seen = {d.action for d in decisions}
        actions = [a for a in ACTION_ORDER if a in seen] + sorted(seen - set(ACTION_ORDER))
        gpc = reports.gpc_share(self.store, self.database, f.start, f.end)
        return ConsentData(f, decisions, gpc, actions)

    def errors(self, filters: Filters) -> ErrorsData:
        """Every page and status answered 404 or 5xx."""
        f = filters
        return ErrorsData(f, reports.errors(self.store, self.database, f.start, f.end, host=f.host))

    def now(self, filters: Filters) -> NowData:
        """The pages human visitors loaded in the last few minutes (the range is not used:
        only the host filter)."""
        until = self.clock()
        host, seconds = filters.host, reports.NOW_SECONDS
        return NowData(
            filters,
            until,
            seconds,
            reports.now_totals(self.store, self.database, until, seconds=seconds, host=host),
            reports.now_pages(self.store, self.database, until, seconds=seconds, host=host),
        )

    def hosts(self, filters: Filters) -> list[str]:
        """The hosts of the range, most viewed first (the host picker's choices)."""
        found = reports.hosts(self.store, self.database, filters.start, filters.end)
        return [h.host for h in found]

    def clock(self) -> datetime.datetime:
        """Now, in UTC (a test moves it)."""
        return datetime.datetime.now(datetime.UTC)

    def _pages(self, f: Filters) -> list[PageMetrics]:
        return page_report(self.store, self.database, f.start, f.end, host=f.host)
