"""The dashboard's HTML pages: Overview, Pages, Page detail, Goals, Funnels, Sources,
Countries, Consent, Errors, Now.

Each route parses the filters, fetches its bundle (``queries.Reports``) off the event
loop, shapes what the page shows (totals, rows, ``charts`` figures), and renders the
page's template (``templates/<page>.html``). Only aggregates are shown: counts, shares,
distributions — never a visitor, session or IP.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from consentlog.analytics.countries import country_name
from consentlog.analytics.metrics import MIN_SAMPLE
from consentlog.analytics.reports import (
    BotSignal,
    ChannelCount,
    Country,
    DayCount,
    EngagedBucket,
    ScrollBucket,
    VerifiedPage,
)
from consentlog.dashboard import charts, templates
from consentlog.dashboard.filters import Filters, base_path, page_path, parse_filters
from consentlog.dashboard.queries import ConsentData, Reports, fetch
from consentlog.dashboard.roles import principal_of, shared_view
from consentlog.dashboard.saved import SavedFilters
from consentlog.dashboard.table import FLAG_MARGIN, Column, PageTable, parse_sort
from consentlog.ingest.bots import LABELS

# how the Sources page names each channel (ingest/channels.py)
CHANNEL_LABELS = {
    "direct": "Direct",
    "search": "Search",
    "social": "Social",
    "email": "Email",
    "campaign": "Campaign",
    "referral": "Referral",
}
NOW_REFRESH = 10  # seconds between reloads of the Now page
NUMERIC = frozenset({"count", "rate", "duration", "scroll", "score"})  # right-aligned columns
# the same colour for an action on every chart: acceptances blue and green, refusals warm
ACTION_COLOURS = {"accept_all": 0, "custom": 2, "reject_all": 1, "gpc": 3, "dnt": 5, "withdraw": 4}


def _day(day: datetime.date) -> str:
    return f"{day:%b} {day.day}"


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _trend_figure(trend: list[DayCount], *, chart_id: str, what: str) -> Markup:
    total = sum(d.views for d in trend)
    return charts.figure(
        "line",
        chart_id=chart_id,
        title=f"Views and visitors per day — {what}",
        description=(
            f"{total:,} views over {len(trend)} days; busiest day "
            + (f"{_day(max(trend, key=lambda d: d.views).day)}." if total else "none.")
        ),
        label_name="Day",
        labels=[_day(d.day) for d in trend],
        series=[
            charts.Series("Views", tuple(d.views for d in trend)),
            charts.Series("Visitors", tuple(d.visitors for d in trend)),
        ],
    )


def _buckets_figure(
    chart_id: str, title: str, measure: str, buckets: list[tuple[str, int]], total: int
) -> Markup:
    """A half-width bar chart of the views in each bucket of ``measure``."""
    return charts.figure(
        "bars",
        chart_id=chart_id,
        title=title,
        description=f"{measure} of {total:,} views with engagement, in buckets.",
        label_name=measure,
        labels=[label for label, _ in buckets],
        series=[charts.Series("Views", tuple(views for _, views in buckets))],
        width="half",
    )


def _engaged_label(bucket: EngagedBucket) -> str:
    def short(ms: int) -> str:
        return f"{ms // 1000}s" if ms < 60_000 else f"{ms // 60_000}m"

    if bucket.to_ms is None:
        return f"{short(bucket.from_ms)}+"
    if bucket.from_ms == 0:
        return f"<{short(bucket.to_ms)}"
    low, high = short(bucket.from_ms), short(bucket.to_ms)
    if low[-1] == high[-1]:  # same unit: "5–10s", not "5s–10s"
        low = low[:-1]
    return f"{low}–{high}"


def _scroll_label(bucket: ScrollBucket) -> str:
    if bucket.to_pct is None:
        return f"{bucket.from_pct}%"
    return f"{bucket.from_pct}–{bucket.to_pct - 1}%"


@dataclass(frozen=True, slots=True)
class DetailLinks:
    """The detail page of a path, for the range (and host) being shown."""

    base: str
    filters: Filters
    shared: bool = False  # a share link's page links nowhere: ''

    def __call__(self, path: str, host: str = "") -> str:
        """The URL of ``path``'s detail page; ``host`` replaces the range's host."""
        if self.shared:
            return ""
        target = Filters(self.filters.start, self.filters.end, host or self.filters.host)
        return f"{self.base}/pages/detail{target.query(path=path)}"


@dataclass(frozen=True, slots=True)
class Heading:
    """A column heading of the Pages table: its sort link and state."""

    column: Column
    href: str  # the table sorted by this column (the other way round if it is already); '' none
    sorted: str  # aria-sort: "ascending" or "descending", "" when not sorted by it
    arrow: str
    align: str


@dataclass(frozen=True, slots=True)
class ChannelRow:
    """One channel of the Sources page: its numbers, label and share of the arrivals."""

    channel: ChannelCount
    label: str
    share: float | None


@dataclass(frozen=True, slots=True)
class CountryRow:
    """One country of the Countries page: its numbers, name and share of the views."""

    country: Country
    name: str
    share: float | None


@dataclass(frozen=True, slots=True)
class SignalRow:
    """One row of the Bots page's signals table: a signal (or people's requests), its
    requests, their share of all requests, and the share of them verified."""

    signal: BotSignal
    label: str
    share: float | None
    verified_share: float | None


@dataclass(frozen=True, slots=True)
class VerifiedRow:
    """One page of the Bots page: its human views and the share of them verified."""

    page: VerifiedPage
    share: float | None
    anonymous_share: float | None


@dataclass(frozen=True, slots=True)
class RevisionRow:
    """One policy revision's decisions on the Consent page."""

    revision: int
    decisions: int
    by_action: list[int]  # in the order of ``ConsentData.actions``
    accepted_share: float | None


@dataclass(frozen=True, slots=True)
class ConsentTotals:
    """The headline numbers of the Consent page."""

    decisions: int
    accepted: int
    accepted_share: float | None
    refused: int
    withdrawn: int


class Views:
    """The HTML routes of the dashboard."""

    def __init__(
        self, reports: Reports, *, prefix: str = "", saved: SavedFilters | None = None
    ) -> None:
        self.reports = reports
        self.prefix = prefix
        self.saved = saved

    async def overview(self, request: Request) -> Response:
        """GET /: views, visitors, consent rates, the trend, the least useful pages."""
        filters = parse_filters(request.query_params)
        data = await fetch(self.reports.overview, filters)
        o = data.overview
        states = [
            (label, views, _share(views, o.views))
            for label, views in (
                ("Consented (analytics accepted)", o.granted_views),
                ("Refused (declined, GPC, withdrawn)", o.denied_views),
                ("No decision yet", o.unknown_views),
            )
        ]
        return await self._page(
            request,
            "overview.html",
            "/",
            filters,
            data=data,
            anonymous_share=_share(o.anonymous_views, o.views),
            trend=_trend_figure(data.trend, chart_id="trend", what="whole site"),
            states=states,
            min_sample=MIN_SAMPLE,
        )

    async def pages(self, request: Request) -> Response:
        """GET /pages: the sortable usefulness table."""
        filters = parse_filters(request.query_params)
        sort = parse_sort(request.query_params)
        data = await fetch(self.reports.pages, filters, sort)
        base = base_path(request, self.prefix)
        order = "desc" if sort.descending else "asc"
        principal, shared = principal_of(request), shared_view(request)
        downloads = principal is not None and principal.allows("download") and not shared
        return await self._page(
            request,
            "pages.html",
            "/pages",
            filters,
            keep={"sort": sort.key, "order": order},
            table=data.table,
            headings=_headings(data.table, base, filters, links=not shared),
            csv_href=f"{base}/pages.csv{filters.query(sort=sort.key, order=order)}"
            if downloads
            else "",
            numeric=NUMERIC,
            min_sample=MIN_SAMPLE,
            flag_margin=FLAG_MARGIN,
        )

    async def detail(self, request: Request) -> Response:
        """GET /pages/detail?path=…: one page in depth."""
        filters = parse_filters(request.query_params)
        path = page_path(request)
        data = await fetch(self.reports.detail, filters, path)
        p = data.page
        engaged_total = sum(b.views for b in data.engaged_time)
        next_total = sum(n.views for n in data.next_pages)
        return await self._page(
            request,
            "detail.html",
            "/pages/detail",
            filters,
            active="/pages",
            keep={"path": path},
            path=path,
            data=data,
            voted_useful=_share(p.votes_yes, p.votes_yes + p.votes_no) if p else None,
            trend=_trend_figure(data.trend, chart_id="trend", what="this page"),
            engaged=_buckets_figure(
                "engaged",
                "Engaged time per view",
                "Engaged time",
                [(_engaged_label(b), b.views) for b in data.engaged_time],
                engaged_total,
            ),
            scrolled=_buckets_figure(
                "scroll",
                "Deepest scroll per view",
                "Scroll depth",
                [(_scroll_label(b), b.views) for b in data.scroll_depth],
                engaged_total,
            ),
            next_pages=[(n, _share(n.views, next_total)) for n in data.next_pages],
        )

    async def goals(self, request: Request) -> Response:
        """GET /goals: every goal's conversions; the custom events' property values."""
        filters = parse_filters(request.query_params)
        data = await fetch(self.reports.goals, filters)
        return await self._page(
            request,
            "goals.html",
            "/goals",
            filters,
            data=data,
            conversions=sum(g.conversions for g in data.goals),
            anonymous=sum(g.anonymous_conversions for g in data.goals),
            sessions=sum(g.sessions for g in data.goals),
        )

    async def funnels(self, request: Request) -> Response:
        """GET /funnels: each configured funnel, step by step, with a bar per step."""
        filters = parse_filters(request.query_params)
        data = await fetch(self.reports.funnel_reports, filters)
        return await self._page(
            request,
            "funnels.html",
            "/funnels",
            filters,
            data=data,
            configured=[rule.text for rule in self.reports.funnels],
        )

    async def sources(self, request: Request) -> Response:
        """GET /sources: where arrivals came from — channels, sources, campaigns."""
        filters = parse_filters(request.query_params)
        data = await fetch(self.reports.sources, filters)
        arrivals = sum(c.views for c in data.channels)
        return await self._page(
            request,
            "sources.html",
            "/sources",
            filters,
            data=data,
            arrivals=arrivals,
            channels=[
                ChannelRow(
                    c,
                    CHANNEL_LABELS.get(c.channel, c.channel or "Not classified"),
                    _share(c.views, arrivals),
                )
                for c in data.channels
            ],
            share_of=lambda views: _share(views, arrivals),
            tagged=sum(c.tagged for c in data.channels),  # every campaign, not the top ones
            ad_clicks=sum(c.ad_clicks for c in data.channels),
            channel_labels=CHANNEL_LABELS,
        )

    async def countries(self, request: Request) -> Response:
        """GET /countries: human views by the visitor's country, most first."""
        filters = parse_filters(request.query_params)
        data = await fetch(self.reports.countries, filters)
        views = sum(c.views for c in data.countries)
        unknown = sum(c.views for c in data.countries if not c.country)
        rows = [
            CountryRow(c, country_name(c.country), _share(c.views, views)) for c in data.countries
        ]
        return await self._page(
            request,
            "countries.html",
            "/countries",
            filters,
            data=data,
            rows=rows,
            views=views,
            known=sum(1 for c in data.countries if c.country),
            unknown_share=_share(unknown, views),
        )

    async def bots(self, request: Request) -> Response:
        """GET /bots: page requests by bot signal; verified browser views per page."""
        filters = parse_filters(request.query_params)
        data = await fetch(self.reports.bots, filters)
        requests = sum(s.requests for s in data.signals)
        people = next((s for s in data.signals if not s.signal), None)
        views = people.requests if people else 0
        verified = people.verified if people else 0
        return await self._page(
            request,
            "bots.html",
            "/bots",
            filters,
            data=data,
            signals=[
                SignalRow(
                    s,
                    LABELS.get(s.signal, s.signal),
                    _share(s.requests, requests),
                    _share(s.verified, s.requests),
                )
                for s in data.signals
            ],
            pages=[
                VerifiedRow(
                    p,
                    _share(p.verified_views, p.views),
                    _share(p.verified_anonymous_views, p.anonymous_views),
                )
                for p in data.pages
            ],
            views=views,
            verified=verified,
            verified_share=_share(verified, views),
            bot_share=_share(requests - views, requests),
            several_hosts=len({p.host for p in data.pages}) > 1,
        )

    async def consent(self, request: Request) -> Response:
        """GET /consent: decisions by action and policy revision over time, GPC share."""
        filters = parse_filters(request.query_params)
        data = await fetch(self.reports.consent, filters)
        totals = _consent_totals(data)
        return await self._page(
            request,
            "consent.html",
            "/consent",
            filters,
            data=data,
            totals=totals,
            chart=_decisions_figure(data, totals),
            revisions=_revisions(data),
        )

    async def errors(self, request: Request) -> Response:
        """GET /errors: pages answered 404 or 5xx."""
        filters = parse_filters(request.query_params)
        data = await fetch(self.reports.errors, filters)
        errors = data.errors
        return await self._page(
            request,
            "errors.html",
            "/errors",
            filters,
            data=data,
            not_found=sum(e.views for e in errors if e.status == 404),
            server=sum(e.views for e in errors if e.status >= 500),
            pages=len({(e.host, e.path) for e in errors}),
            bot_views=sum(e.bot_views for e in errors),
            several_hosts=len({e.host for e in errors}) > 1,
        )

    async def now(self, request: Request) -> Response:
        """GET /now: the pages human visitors loaded in the last five minutes. With
        ``live=1`` (the page's own toggle) it reloads itself every ``NOW_REFRESH`` s, no
        script; a reload the analyst did not ask for, and cannot stop, would fail WCAG
        2.2.1, so it is never the default and the page always offers to stop it."""
        filters = parse_filters(request.query_params)
        live = request.query_params.get("live", "") == "1"
        data = await fetch(self.reports.now, filters)
        response = await self._page(
            request,
            "now.html",
            "/now",
            filters,
            keep={"live": "1" if live else ""},
            data=data,
            refresh=NOW_REFRESH if live else 0,
            several_hosts=len({p.host for p in data.pages}) > 1,
        )
        response.headers["cache-control"] = "no-store"
        return response

    async def _page(
        self,
        request: Request,
        name: str,
        here: str,
        filters: Filters,
        *,
        active: str = "",
        keep: dict[str, str] | None = None,
        **context: object,
    ) -> HTMLResponse:
        base = base_path(request, self.prefix)
        hosts = await fetch(self.reports.hosts, filters)
        shared = shared_view(request)
        kept = {k: v for k, v in (keep or {}).items() if v}
        saved = (
            self.saved.box(request, here, filters.query(**kept).removeprefix("?"))
            if self.saved is not None and not shared
            else None
        )
        return HTMLResponse(
            templates.page(
                name,
                base=base,
                here=here,
                active=active or here,
                filters=filters,
                keep=keep,
                hosts=hosts,
                principal=principal_of(request),
                shared=shared,
                saved=saved,
                detail_link=DetailLinks(base, filters, shared),
                **context,
            )
        )


def _headings(table: PageTable, base: str, filters: Filters, *, links: bool) -> list[Heading]:
    direction = "descending" if table.sort.descending else "ascending"
    arrow = "↓" if table.sort.descending else "↑"
    headings = []
    for column in table.columns:
        wanted = table.sort.toggled(column.key)
        order = "desc" if wanted.descending else "asc"
        here = column.key == table.sort.key
        headings.append(
            Heading(
                column,
                href=f"{base}/pages{filters.query(sort=column.key, order=order)}" if links else "",
                sorted=direction if here else "",
                arrow=arrow if here else "",
                align="num" if column.kind in NUMERIC else "text",
            )
        )
    return headings


def _consent_totals(data: ConsentData) -> ConsentTotals:
    decisions = sum(d.decisions for d in data.decisions)
    accepted = sum(d.analytics_accepted for d in data.decisions)
    withdrawn = sum(d.decisions for d in data.decisions if d.action == "withdraw")
    return ConsentTotals(
        decisions=decisions,
        accepted=accepted,
        accepted_share=_share(accepted, decisions),
        refused=decisions - accepted - withdrawn,
        withdrawn=withdrawn,
    )


def _decisions_figure(data: ConsentData, totals: ConsentTotals) -> Markup:
    f = data.filters
    days = [f.start + datetime.timedelta(days=i) for i in range(f.days)]
    per_day: dict[tuple[datetime.date, str], int] = defaultdict(int)
    by_action: dict[str, int] = defaultdict(int)
    for d in data.decisions:
        per_day[(d.day, d.action)] += d.decisions
        by_action[d.action] += d.decisions
    return charts.figure(
        "bars",
        chart_id="decisions",
        title="Decisions per day by action",
        description=(
            f"{totals.decisions:,} decisions over {len(days)} days: "
            + ", ".join(f"{by_action[a]:,} {a}" for a in data.actions)
            + "."
            if totals.decisions
            else f"No decisions over {len(days)} days."
        ),
        label_name="Day",
        labels=[_day(day) for day in days],
        series=[
            charts.Series(
                action, tuple(per_day[(day, action)] for day in days), ACTION_COLOURS.get(action)
            )
            for action in data.actions
        ],
    )


def _revisions(data: ConsentData) -> list[RevisionRow]:
    by_action: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    accepted: dict[int, int] = defaultdict(int)
    for d in data.decisions:
        by_action[d.policy_revision][d.action] += d.decisions
        accepted[d.policy_revision] += d.analytics_accepted
    rows = []
    for revision in sorted(by_action, reverse=True):
        counts = by_action[revision]
        total = sum(counts.values())
        rows.append(
            RevisionRow(
                revision,
                total,
                [counts.get(a, 0) for a in data.actions],
                _share(accepted[revision], total),
            )
        )
    return rows
