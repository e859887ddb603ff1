"""The Pages table: its columns, its order, and which pages are flagged "least useful".

One model for the HTML table, the CSV export and the JSON API, so the three always hold
the same rows and columns. Raw cell values (``cell_text``) are what the CSV holds and what
the HTML table carries in ``data-value``; the page shows them formatted.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from consentlog.analytics.metrics import PageMetrics
from consentlog.exceptions import BadRequest

Kind = Literal["text", "count", "rate", "duration", "scroll", "score", "flag"]
Value = str | int | float | bool | None

FLAG_MARGIN = 10  # score points above the lowest score that still count as "least useful"


@dataclass(frozen=True, slots=True)
class Column:
    """A column of the Pages table: the metric's key, its heading, how to show it."""

    key: str
    label: str
    kind: Kind
    help: str


COLUMNS: tuple[Column, ...] = (
    Column("path", "Page", "text", "URL path"),
    Column("host", "Host", "text", "host the page was requested on"),
    Column("usefulness", "Usefulness", "score", "score 0–100 (docs/metrics.md)"),
    Column("least_useful", "Flag", "flag", "among the lowest usefulness scores"),
    # the key columns first: a table wider than the screen shows these without scrolling
    Column("views", "Views", "count", "human page views, with or without consent"),
    Column("visitors", "Visitors", "count", "distinct consented visitors"),
    Column("median_engaged_ms", "Engaged time", "duration", "median visible and focused time"),
    Column("deep_read_rate", "Deep reads", "rate", "engaged views scrolled to 75 % or more"),
    Column("goal_rate", "Led to goal", "rate", "sessions through the page that reached a goal"),
    Column("bounce_rate", "Bounce", "rate", "one-page sessions under 10 s engaged / entries"),
    Column("exit_rate", "Exit", "rate", "sessions that ended on the page / its sessions"),
    Column("click_through_rate", "Click-through", "rate", "views followed by another page"),
    Column("avg_scroll_pct", "Scroll", "scroll", "average deepest scroll"),
    Column("engaged_views", "Engaged views", "count", "views with a beacon report"),
    Column("anonymous_views", "Anonymous", "count", "human views without analytics consent"),
    Column("bot_views", "Bots", "count", "bot page views, counted apart"),
    Column("entries", "Entries", "count", "sessions that started on the page"),
    Column("votes_yes", "Yes votes", "count", '"was this page useful?" yes'),
    Column("votes_no", "No votes", "count", '"was this page useful?" no'),
    Column("not_found", "404s", "count", "human views answered 404"),
    Column("server_errors", "5xx", "count", "human views answered 500–599"),
)
_BY_KEY = {c.key: c for c in COLUMNS}


@dataclass(frozen=True, slots=True)
class Sort:
    """The column the table is ordered by, and the direction."""

    key: str = "views"
    descending: bool = True

    def toggled(self, key: str) -> Sort:
        """The order a click on column ``key``'s heading asks for."""
        if key == self.key:
            return Sort(key, not self.descending)
        return Sort(key, _BY_KEY[key].kind != "text")  # numbers: largest first


def parse_sort(params: Mapping[str, str]) -> Sort:
    """The ``sort`` and ``order`` query parameters (default: most viewed first)."""
    key = params.get("sort", "views")
    if key not in _BY_KEY:
        raise BadRequest(400, f"sort={key!r} is not a column: use one of {', '.join(_BY_KEY)}")
    order = params.get("order", "")
    if order not in {"", "asc", "desc"}:
        raise BadRequest(400, f"order={order!r}: use asc or desc")
    return Sort(key, order == "desc" if order else _BY_KEY[key].kind != "text")


@dataclass(frozen=True, slots=True)
class PageRow:
    """One page of the table."""

    metrics: PageMetrics
    least_useful: bool

    def value(self, key: str) -> Value:
        """The raw value of column ``key``."""
        if key == "least_useful":
            return self.least_useful
        value: Value = getattr(self.metrics, key)
        return value

    def as_dict(self) -> dict[str, Value]:
        """Every metric of the page plus its flag (JSON API)."""
        return {**self.metrics.as_dict(), "least_useful": self.least_useful}


@dataclass(frozen=True, slots=True)
class PageTable:
    """The rows and columns shown, in order."""

    columns: tuple[Column, ...]
    rows: tuple[PageRow, ...]
    sort: Sort


def least_useful(pages: Sequence[PageMetrics]) -> set[tuple[str, str]]:
    """(host, path) of the pages with the lowest usefulness scores.

    Among pages with a score (at least two), a page is flagged when it scores below the
    median and within ``FLAG_MARGIN`` points of the lowest score: the worst page and any
    close to it, never a page in the better half, and nothing when all scores are equal.
    """
    scores = [p.usefulness for p in pages if p.usefulness is not None]
    if len(scores) < 2:
        return set()
    median, lowest = statistics.median(scores), min(scores)
    return {
        (p.host, p.path)
        for p in pages
        if p.usefulness is not None
        and p.usefulness < median
        and p.usefulness <= lowest + FLAG_MARGIN
    }


def build_table(pages: Sequence[PageMetrics], sort: Sort) -> PageTable:
    """The table of ``pages`` (as ``page_report`` returns them) in ``sort`` order.

    Pages without a value in the sort column (no data) come last either way; the host
    column is shown only when the pages come from more than one host.
    """
    flagged = least_useful(pages)
    rows = [PageRow(p, (p.host, p.path) in flagged) for p in pages]
    present = [r for r in rows if r.value(sort.key) is not None]
    missing = [r for r in rows if r.value(sort.key) is None]
    present.sort(key=lambda r: _key(r.value(sort.key)), reverse=sort.descending)
    several_hosts = len({p.host for p in pages}) > 1
    columns = tuple(c for c in COLUMNS if c.key != "host" or several_hosts)
    return PageTable(columns, (*present, *missing), sort)


def _key(value: Value) -> tuple[int, float, str]:
    if isinstance(value, str):
        return (1, 0.0, value)
    return (0, float(value or 0), "")


def cell_text(value: Value) -> str:
    """A raw value as the CSV writes it: '' for no data, true/false, exact numbers."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)
