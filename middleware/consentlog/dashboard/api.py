"""The dashboard's JSON API, behind the same login: ``/api/overview``, ``/api/pages``,
``/api/pages/detail?path=``, ``/api/goals``, ``/api/funnels``, ``/api/sources``,
``/api/countries``, ``/api/bots``, ``/api/consent``, ``/api/errors``, ``/api/now``.

Each answer is the bundle its HTML page shows (``queries``), with the range it covers;
dates are ISO strings, rates 0–1, durations in milliseconds, no data is ``null``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from consentlog.dashboard.filters import page_path, parse_filters
from consentlog.dashboard.queries import Reports, fetch
from consentlog.dashboard.table import parse_sort


class Api:
    """The JSON routes of the dashboard."""

    def __init__(self, reports: Reports) -> None:
        self.reports = reports

    async def overview(self, request: Request) -> Response:
        """GET /api/overview: totals, the daily trend, the least useful pages."""
        data = await fetch(self.reports.overview, parse_filters(request.query_params))
        return JSONResponse(data.as_dict())

    async def pages(self, request: Request) -> Response:
        """GET /api/pages: every page's metrics and flag, sorted like the table."""
        params = request.query_params
        data = await fetch(self.reports.pages, parse_filters(params), parse_sort(params))
        return JSONResponse(data.as_dict())

    async def detail(self, request: Request) -> Response:
        """GET /api/pages/detail?path=…: one page's metrics and distributions."""
        filters = parse_filters(request.query_params)
        data = await fetch(self.reports.detail, filters, page_path(request))
        return JSONResponse(data.as_dict())

    async def goals(self, request: Request) -> Response:
        """GET /api/goals: conversions of every goal; the custom events' properties."""
        data = await fetch(self.reports.goals, parse_filters(request.query_params))
        return JSONResponse(data.as_dict())

    async def funnels(self, request: Request) -> Response:
        """GET /api/funnels: every configured funnel, step by step."""
        data = await fetch(self.reports.funnel_reports, parse_filters(request.query_params))
        return JSONResponse(data.as_dict())

    async def sources(self, request: Request) -> Response:
        """GET /api/sources: arrivals by channel and source; campaigns and their terms."""
        data = await fetch(self.reports.sources, parse_filters(request.query_params))
        return JSONResponse(data.as_dict())

    async def countries(self, request: Request) -> Response:
        """GET /api/countries: human views by country (ISO code and English name)."""
        data = await fetch(self.reports.countries, parse_filters(request.query_params))
        return JSONResponse(data.as_dict())

    async def bots(self, request: Request) -> Response:
        """GET /api/bots: page requests by bot signal; verified browser views per page."""
        data = await fetch(self.reports.bots, parse_filters(request.query_params))
        return JSONResponse(data.as_dict())

    async def consent(self, request: Request) -> Response:
        """GET /api/consent: decisions by day, action and revision; the GPC share."""
        data = await fetch(self.reports.consent, parse_filters(request.query_params))
        return JSONResponse(data.as_dict())

    async def errors(self, request: Request) -> Response:
        """GET /api/errors: 404 and 5xx answers by page and status."""
        data = await fetch(self.reports.errors, parse_filters(request.query_params))
        return JSONResponse(data.as_dict())

    async def now(self, request: Request) -> Response:
        """GET /api/now: the last five minutes, site-wide and by page."""
        data = await fetch(self.reports.now, parse_filters(request.query_params))
        return JSONResponse(data.as_dict(), headers={"cache-control": "no-store"})
