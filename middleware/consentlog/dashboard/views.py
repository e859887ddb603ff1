"""The dashboard's HTML pages: Overview, Pages, Page detail, Consent, Errors.

Each route parses the filters, fetches its bundle (``queries.Reports``) off the event
loop, and composes the page from ``templates`` blocks and ``charts`` figures. Only
aggregates are shown: counts, shares, distributions — never a visitor, session or IP.
"""

from __future__ import annotations

import datetime
from collections import defaultdict

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from consentlog.analytics.metrics import MIN_SAMPLE
from consentlog.analytics.reports import DayCount, EngagedBucket, ScrollBucket
from consentlog.dashboard import charts, templates
from consentlog.dashboard.filters import Filters, base_path, parse_filters
from consentlog.dashboard.queries import (
    ConsentData,
    DetailData,
    ErrorsData,
    OverviewData,
    PagesData,
    Reports,
    fetch,
)
from consentlog.dashboard.table import FLAG_MARGIN, Column, PageRow, Value, cell_text, parse_sort
from consentlog.dashboard.templates import Kpi, card, count, esc, kpis, percent, simple_table
from consentlog.exceptions import BadRequest

MAX_PATH = 2048  # longer `path` parameters cannot be a page of this site
NUMERIC = frozenset({"count", "rate", "duration", "scroll", "score"})  # right-aligned columns
# the same colour for an action on every chart: acceptances blue and green, refusals warm
ACTION_COLOURS = {"accept_all": 0, "custom": 2, "reject_all": 1, "gpc": 3, "dnt": 5, "withdraw": 4}


def _day(day: datetime.date) -> str:
    return f"{day:%b} {day.day}"


def _trend_figure(trend: list[DayCount], *, chart_id: str, what: str) -> str:
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


class Views:
    """The HTML routes of the dashboard."""

    def __init__(self, reports: Reports, *, prefix: str = "") -> None:
        self.reports = reports
        self.prefix = prefix

    # -- Overview ------------------------------------------------------------------------

    async def overview(self, request: Request) -> Response:
        """GET /: views, visitors, consent rates, the trend, the least useful pages."""
        filters = parse_filters(request.query_params)
        data = await fetch(self.reports.overview, filters)
        body = _overview(data, base_path(request, self.prefix))
        return self._page(request, "/", "/", "Overview", "Overview", filters, body)

    # -- Pages ---------------------------------------------------------------------------

    async def pages(self, request: Request) -> Response:
        """GET /pages: the sortable usefulness table."""
        filters = parse_filters(request.query_params)
        sort = parse_sort(request.query_params)
        data = await fetch(self.reports.pages, filters, sort)
        base = base_path(request, self.prefix)
        keep = {"sort": sort.key, "order": "desc" if sort.descending else "asc"}
        lead = (
            "Usefulness 0–100 weighs engaged time, deep reads, bounces and votes "
            f"(docs/metrics.md); it needs {MIN_SAMPLE} engaged views. Pages scoring below the "
            f"median and within {FLAG_MARGIN} points of the lowest are flagged "
            '<span class="badge">least useful</span>. Click a heading to sort.'
        )
        return self._page(
            request, "/pages", "/pages", "Pages", "Pages", filters, _pages(data, base), lead, keep
        )

    async def detail(self, request: Request) -> Response:
        """GET /pages/detail?path=…: one page in depth."""
        filters = parse_filters(request.query_params)
        path = page_path(request)
        data = await fetch(self.reports.detail, filters, path)
        base = base_path(request, self.prefix)
        heading = f'Page <code class="path">{esc(path)}</code>'
        lead = f'<a href="{esc(base + "/pages" + filters.query())}">← All pages</a>'
        return self._page(
            request,
            "/pages/detail",
            "/pages",
            f"Page {path}",
            heading,
            filters,
            _detail(data, base),
            lead,
            {"path": path},
        )

    # -- Consent and errors --------------------------------------------------------------

    async def consent(self, request: Request) -> Response:
        """GET /consent: decisions by action and policy revision over time, GPC share."""
        filters = parse_filters(request.query_params)
        data = await fetch(self.reports.consent, filters)
        return self._page(
            request, "/consent", "/consent", "Consent", "Consent", filters, _consent(data)
        )

    async def errors(self, request: Request) -> Response:
        """GET /errors: pages answered 404 or 5xx."""
        filters = parse_filters(request.query_params)
        data = await fetch(self.reports.errors, filters)
        base = base_path(request, self.prefix)
        return self._page(
            request, "/errors", "/errors", "Errors", "404 and 5xx", filters, _errors(data, base)
        )

    def _page(
        self,
        request: Request,
        here: str,
        active: str,
        title: str,
        heading: str,
        filters: Filters,
        body: str,
        lead: str = "",
        keep: dict[str, str] | None = None,
    ) -> HTMLResponse:
        return HTMLResponse(
            templates.page(
                base=base_path(request, self.prefix),
                here=here,
                active=active,
                title=title,
                heading=heading,
                filters=filters,
                body=body,
                lead=lead,
                keep=keep,
            )
        )


def page_path(request: Request) -> str:
    """The ``path`` query parameter of the detail routes."""
    path = request.query_params.get("path", "")
    if not path.startswith("/") or len(path) > MAX_PATH:
        raise BadRequest(400, "path is missing or not a URL path: use ?path=/some/page")
    return path


def _detail_link(base: str, filters: Filters, path: str, host: str = "") -> str:
    target = Filters(filters.start, filters.end, host or filters.host)
    return f"{base}/pages/detail{target.query(path=path)}"


# -- page bodies -------------------------------------------------------------------------


def _overview(data: OverviewData, base: str) -> str:
    o = data.overview
    share = o.anonymous_views / o.views if o.views else None
    numbers = kpis(
        [
            Kpi("Views", count(o.views), f"{count(o.bot_views)} bot views apart"),
            Kpi("Visitors", count(o.visitors), "distinct, with analytics consent"),
            Kpi("Anonymous views", count(o.anonymous_views), f"{percent(share)} of views"),
            Kpi(
                "Consent rate",
                percent(o.consent_rate),
                f"{count(o.analytics_accepted)} of {count(o.decisions)} decisions accept analytics",
            ),
            Kpi("Sessions", count(o.sessions), "consented visitors only"),
        ],
        "Totals",
    )
    trend = _trend_figure(data.trend, chart_id="trend", what="whole site")
    states = [
        ("Consented (analytics accepted)", o.granted_views),
        ("Refused (declined, GPC, withdrawn)", o.denied_views),
        ("No decision yet", o.unknown_views),
    ]
    state_rows = [
        [esc(label), count(n), percent(n / o.views if o.views else None)] for label, n in states
    ]
    state_table = simple_table(
        "Views by consent state", ["Consent state", "Views", "Share"], state_rows, empty=""
    )
    if data.least_useful:
        items = "".join(
            f'<li><a href="{esc(_detail_link(base, data.filters, p.path, p.host))}">'
            f'<code class="path">{esc(p.path)}</code></a> — usefulness '
            f"{p.usefulness} · {count(p.views)} views</li>"
            for p in data.least_useful
        )
        least = f'<ol class="list">{items}</ol>'
    else:
        least = (
            '<p class="empty">No page is flagged: a score needs '
            f"{MIN_SAMPLE} engaged views, and at least two scored pages.</p>"
        )
    return (
        numbers
        + trend
        + '<div class="cols">'
        + card("Views by consent state", state_table, heading_id="states-h")
        + card("Least useful pages", least, heading_id="least-h")
        + "</div>"
    )


def _cell(column: Column, value: Value) -> str:
    if column.kind == "flag":
        return '<span class="badge">least useful</span>' if value else ""
    if value is None:
        return templates.score(None) if column.kind == "score" else templates.NO_DATA
    if column.kind == "score" and isinstance(value, int):
        return templates.score(value)
    if column.kind == "count" and isinstance(value, int):
        return count(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if column.kind == "rate":
            return percent(value)
        if column.kind == "duration":
            return templates.duration(value)
        if column.kind == "scroll":
            return templates.scroll(value)
    return esc(value)


def _pages(data: PagesData, base: str) -> str:
    table = data.table
    filters = data.filters
    if not table.rows:
        return card("Pages", '<p class="empty">No page requests in this range.</p>', heading_id="p")
    head = []
    for column in table.columns:
        wanted = table.sort.toggled(column.key)
        href = (
            base
            + "/pages"
            + filters.query(sort=column.key, order="desc" if wanted.descending else "asc")
        )
        sorted_here = column.key == table.sort.key
        direction = "descending" if table.sort.descending else "ascending"
        arrow = ("↓" if table.sort.descending else "↑") if sorted_here else ""
        head.append(
            f'<th scope="col" class="{"num" if column.kind in NUMERIC else "text"}" '
            f'data-column="{column.key}" title="{esc(column.help)}"'
            + (f' aria-sort="{direction}"' if sorted_here else "")
            + f'><a href="{esc(href)}">{esc(column.label)}'
            + (f' <span aria-hidden="true">{arrow}</span>' if arrow else "")
            + "</a></th>"
        )
    body = "".join(_page_row(row, table.columns, base, filters) for row in table.rows)
    csv_href = (
        base
        + "/pages.csv"
        + filters.query(sort=table.sort.key, order="desc" if table.sort.descending else "asc")
    )
    flagged = sum(1 for r in table.rows if r.least_useful)
    summary = f"{len(table.rows)} page{'s' if len(table.rows) != 1 else ''}" + (
        f", {flagged} flagged least useful" if flagged else ""
    )
    return (
        '<section class="card" aria-labelledby="pages-h"><div class="tablehead">'
        f'<h2 id="pages-h">Page usefulness</h2><p class="muted">{summary} · '
        f'<a href="{esc(csv_href)}" download>Download CSV</a></p></div>'
        '<div class="scroll"><table class="pages">'
        '<caption class="sr-only">Page usefulness, one row per page; '
        "column headings sort the table</caption>"
        f"<thead><tr>{''.join(head)}</tr></thead><tbody>{body}</tbody></table></div></section>"
    )


def _page_row(row: PageRow, columns: tuple[Column, ...], base: str, filters: Filters) -> str:
    cells = []
    for column in columns:
        value = row.value(column.key)
        raw = esc(cell_text(value))
        if column.key == "path":
            link = _detail_link(base, filters, row.metrics.path, row.metrics.host)
            cells.append(
                f'<th scope="row" data-value="{raw}"><a href="{esc(link)}">'
                f'<span class="path">{esc(value)}</span></a></th>'
            )
        else:
            align = "num" if column.kind in NUMERIC else "text"
            cells.append(f'<td class="{align}" data-value="{raw}">{_cell(column, value)}</td>')
    flagged = ' class="flagged"' if row.least_useful else ""
    return f"<tr{flagged}>{''.join(cells)}</tr>"


def _detail(data: DetailData, base: str) -> str:
    p = data.page
    if p is None:
        return card(
            "No data",
            '<p class="empty">No request for this page in the range. Check the path, or '
            "widen the range.</p>",
            heading_id="none-h",
        )
    votes = p.votes_yes + p.votes_no
    numbers = kpis(
        [
            Kpi(
                "Usefulness",
                "not enough data" if p.usefulness is None else str(p.usefulness),
                f"{count(p.engaged_views)} engaged views",
            ),
            Kpi("Views", count(p.views), f"{count(p.anonymous_views)} anonymous"),
            Kpi("Visitors", count(p.visitors), f"{count(p.entries)} entries"),
            Kpi("Engaged time", templates.duration(p.median_engaged_ms), "median"),
            Kpi("Scroll depth", templates.scroll(p.avg_scroll_pct), "average deepest"),
            Kpi("Bounce rate", percent(p.bounce_rate), f"exit rate {percent(p.exit_rate)}"),
            Kpi(
                "Voted useful",
                percent(p.votes_yes / votes if votes else None),
                f"{count(p.votes_yes)} yes · {count(p.votes_no)} no" if votes else "no votes yet",
            ),
        ],
        "Page metrics",
    )
    engaged_total = sum(b.views for b in data.engaged_time)
    engaged = charts.figure(
        "bars",
        chart_id="engaged",
        title="Engaged time per view",
        description=f"Engaged time of {engaged_total:,} views with engagement, in buckets.",
        label_name="Engaged time",
        labels=[_engaged_label(b) for b in data.engaged_time],
        series=[charts.Series("Views", tuple(b.views for b in data.engaged_time))],
        width="half",
    )
    scrolled = charts.figure(
        "bars",
        chart_id="scroll",
        title="Deepest scroll per view",
        description=f"Scroll depth of {engaged_total:,} views with engagement, in buckets.",
        label_name="Scroll depth",
        labels=[_scroll_label(b) for b in data.scroll_depth],
        series=[charts.Series("Views", tuple(b.views for b in data.scroll_depth))],
        width="half",
    )
    none = '<span class="muted">(none: typed, bookmarked or hidden)</span>'
    referrer_rows = [
        [esc(r.referrer_host) if r.referrer_host else none, count(r.views), count(r.visitors)]
        for r in data.referrers
    ]
    next_total = sum(n.views for n in data.next_pages)
    next_rows = [
        [
            (
                f'<a href="{esc(_detail_link(base, data.filters, n.next_path))}">'
                f'<code class="path">{esc(n.next_path)}</code></a>'
                if n.next_path
                else '<span class="muted">(left the site)</span>'
            ),
            count(n.views),
            percent(n.views / next_total if next_total else None),
        ]
        for n in data.next_pages
    ]
    error_rows = [
        [str(e.status), count(e.views), count(e.bot_views), _when(e.last_seen)] for e in data.errors
    ]
    return (
        numbers
        + _trend_figure(data.trend, chart_id="trend", what="this page")
        + f'<div class="cols">{engaged}{scrolled}</div><div class="cols">'
        + card(
            "Referrers",
            simple_table(
                "Referrer hosts of this page",
                ["Referrer", "Views", "Visitors"],
                referrer_rows,
                empty="No views in this range.",
            ),
            heading_id="ref-h",
        )
        + card(
            "Next page in the session",
            simple_table(
                "Pages viewed next, consented sessions",
                ["Next page", "Views", "Share"],
                next_rows,
                empty="No consented sessions viewed this page.",
            ),
            heading_id="next-h",
        )
        + "</div>"
        + card(
            "Errors",
            simple_table(
                "Error answers of this page",
                ["Status", "Views", "Bot views", "Last seen (UTC)"],
                error_rows,
                empty="No 404 or 5xx answers for this page.",
            ),
            heading_id="err-h",
        )
    )


def _when(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def _days(filters: Filters) -> list[datetime.date]:
    return [filters.start + datetime.timedelta(days=i) for i in range(filters.days)]


def _consent(data: ConsentData) -> str:
    decisions = sum(d.decisions for d in data.decisions)
    accepted = sum(d.analytics_accepted for d in data.decisions)
    by_action: dict[str, int] = defaultdict(int)
    for d in data.decisions:
        by_action[d.action] += d.decisions
    refused = decisions - accepted - by_action.get("withdraw", 0)
    numbers = kpis(
        [
            Kpi("Decisions", count(decisions), "banner, form, GPC and DNT"),
            Kpi(
                "Accept analytics",
                percent(accepted / decisions if decisions else None),
                f"{count(accepted)} decisions",
            ),
            Kpi("Refuse analytics", count(refused), "declined or a privacy signal"),
            Kpi("Withdrawals", count(by_action.get("withdraw", 0)), "consent taken back"),
            Kpi(
                "GPC share",
                percent(data.gpc.gpc_share),
                f"{count(data.gpc.gpc_decisions)} decisions from Global Privacy Control",
            ),
        ],
        "Consent totals",
    )
    days = _days(data.filters)
    per_day: dict[tuple[datetime.date, str], int] = defaultdict(int)
    for d in data.decisions:
        per_day[(d.day, d.action)] += d.decisions
    chart = charts.figure(
        "bars",
        chart_id="decisions",
        title="Decisions per day by action",
        description=(
            f"{decisions:,} decisions over {len(days)} days: "
            + ", ".join(f"{by_action[a]:,} {a}" for a in data.actions)
            + "."
            if decisions
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
    revisions: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for d in data.decisions:
        revisions[d.policy_revision][d.action] += d.decisions
        revisions[d.policy_revision]["_accepted"] += d.analytics_accepted
    rows = []
    for revision in sorted(revisions, reverse=True):
        counts = revisions[revision]
        total = sum(v for k, v in counts.items() if not k.startswith("_"))
        rows.append(
            [f"Revision {revision}", count(total)]
            + [count(counts.get(a, 0)) for a in data.actions]
            + [percent(counts["_accepted"] / total if total else None)]
        )
    table = simple_table(
        "Decisions by policy revision and action",
        ["Policy revision", "Decisions", *data.actions, "Accept analytics"],
        rows,
        empty="No consent decisions in this range.",
    )
    return (
        numbers
        + chart
        + card("Decisions by policy revision", table, heading_id="rev-h")
        + '<p class="muted">Actions: accept_all and reject_all are the banner\'s two buttons, '
        "custom a choice in Settings, gpc / dnt a refusal taken from the browser's privacy "
        "signal, withdraw a consent taken back.</p>"
    )


def _errors(data: ErrorsData, base: str) -> str:
    errors = data.errors
    not_found = sum(e.views for e in errors if e.status == 404)
    server = sum(e.views for e in errors if e.status >= 500)
    numbers = kpis(
        [
            Kpi("404s", count(not_found), "human requests"),
            Kpi("5xx", count(server), "human requests"),
            Kpi("Pages", count(len({(e.host, e.path) for e in errors})), "with an error answer"),
            Kpi("Bot requests", count(sum(e.bot_views for e in errors)), "404 and 5xx"),
        ],
        "Error totals",
    )
    several_hosts = len({e.host for e in errors}) > 1
    rows = [
        [
            f'<a href="{esc(_detail_link(base, data.filters, e.path, e.host))}">'
            f'<code class="path">{esc(e.path)}</code></a>',
            *([esc(e.host)] if several_hosts else []),
            str(e.status),
            count(e.views),
            count(e.bot_views),
            _when(e.last_seen),
        ]
        for e in errors
    ]
    headers = ["Page", *(["Host"] if several_hosts else []), "Status", "Views", "Bot views"]
    table = simple_table(
        "Pages answered 404 or 5xx",
        [*headers, "Last seen (UTC)"],
        rows,
        empty="No 404 or 5xx answers in this range.",
    )
    return numbers + card("Pages answered 404 or 5xx", table, heading_id="errors-h")
