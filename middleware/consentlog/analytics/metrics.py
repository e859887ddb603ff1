"""Page-usefulness metrics: ``sql/pages_rolled.sql`` or ``sql/pages.sql`` run on a store,
as typed rows.

A range whose days are all rolled up is answered from the rollup alone
(``pages_rolled.sql``: exact visitors from their gaps); one with raw days, or with days
whose gaps do not reach back to its first day, by ``pages.sql`` (rollup and raw rows,
visitors from hashes). Both end with ``page_metrics.sql``, so every other metric is
defined once. The queries are ``.sql`` files with ClickHouse query parameters, run by
``consentlog.analytics.queries.run``. Definitions and reasoning: ``docs/metrics.md``.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, fields
from typing import Any

from consentlog.analytics.queries import run
from consentlog.analytics.rollup import watermark
from consentlog.store import Store

MIN_SAMPLE = 10  # engaged page views before a page gets a usefulness score


@dataclass(frozen=True, slots=True)
class PageMetrics:
    """How one page did over a date range."""

    host: str
    path: str
    views: int
    bot_views: int
    visitors: int
    anonymous_views: int
    entries: int
    bounce_rate: float | None
    exit_rate: float | None
    click_through_rate: float | None
    engaged_views: int
    median_engaged_ms: float | None
    avg_scroll_pct: float | None
    deep_read_rate: float | None
    votes_yes: int
    votes_no: int
    not_found: int
    server_errors: int
    goal_rate: float | None  # consented sessions through the page that then reached a goal
    usefulness: int | None  # None: not enough data

    def as_dict(self) -> dict[str, Any]:
        """The metrics as a plain dict (JSON output, CSV rows)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def day_ranges(
    start: datetime.date, end: datetime.date, rolled_through: datetime.date | None
) -> dict[str, datetime.date]:
    """Which days of ``start``–``end`` come from the rollup, which from the raw rows.

    An empty range is written first > last, which selects nothing.
    """
    one = datetime.timedelta(days=1)
    rolled_last = min(end, rolled_through) if rolled_through else start - one
    return {
        "rolled_first": start,
        "rolled_last": rolled_last,
        "first_day": max(start, rolled_last + one),
        "last_day": end,
    }


def page_report(
    store: Store,
    database: str,
    start: datetime.date,
    end: datetime.date,
    *,
    host: str = "",
    min_sample: int = MIN_SAMPLE,
    use_rollup: bool = True,
) -> list[PageMetrics]:
    """Every page's metrics for the days ``start`` to ``end`` (inclusive), most viewed
    first. ``use_rollup=False`` computes everything from the raw rows (for comparison)."""
    rolled = watermark(store, database) if use_rollup else None
    ranges: dict[str, Any] = {**day_ranges(start, end, rolled)}
    shared: dict[str, Any] = {"host": host, "min_sample": min_sample}
    if ranges["first_day"] <= ranges["last_day"]:  # raw days: page_daily.sql, without gaps
        return run(store, "pages", PageMetrics, database, **shared, **ranges, lookback=-1)
    del ranges["first_day"], ranges["last_day"]  # every day rolled up
    pages = run(store, "pages_rolled", PageMetrics, database, **shared, **ranges)
    if None not in {page.visitors for page in pages}:  # every page's gaps reach back
        return pages
    return run(store, "pages", PageMetrics, database, leave_out="raw days", **shared, **ranges)
