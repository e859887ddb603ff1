"""CSV export of the Pages table: ``/pages.csv``, the same rows, columns and order as
the table on the page, with raw values (rates 0–1, durations in ms, '' for no data)."""

from __future__ import annotations

import csv
import io

from starlette.requests import Request
from starlette.responses import Response

from consentlog.dashboard.filters import parse_filters
from consentlog.dashboard.queries import Reports, fetch
from consentlog.dashboard.table import PageTable, cell_text, parse_sort

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run these


def table_csv(table: PageTable) -> str:
    """The table as CSV: a header of column keys, then one line per page."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.key for c in table.columns])
    for row in table.rows:
        writer.writerow([_safe(cell_text(row.value(c.key))) for c in table.columns])
    return out.getvalue()


def _safe(text: str) -> str:
    """Keep a text cell from being read as a formula (CSV injection)."""
    return "'" + text if text.startswith(_FORMULA_START) and not _number(text) else text


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class Export:
    """The CSV route of the dashboard."""

    def __init__(self, reports: Reports) -> None:
        self.reports = reports

    async def pages_csv(self, request: Request) -> Response:
        """GET /pages.csv: the Pages table for the same range and sort order."""
        params = request.query_params
        filters = parse_filters(params)
        data = await fetch(self.reports.pages, filters, parse_sort(params))
        name = f"consentlog-pages-{filters.start.isoformat()}-{filters.end.isoformat()}.csv"
        return Response(
            table_csv(data.table),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
