"""The daily rollup: page metrics of complete days, kept as partial aggregates.

``roll_up`` fills ``page_daily`` (an AggregatingMergeTree) with ``dashboards/sql/
page_daily.sql`` for every complete day not rolled up yet, and rebuilds a rolled-up day
whose raw rows changed since (late events replayed from a spool, an erasure). Reports
read the rollup for rolled-up days and the raw rows only for the days after them.

A job, not materialized views: bounce, exit and click-through need whole sessions, which
no single insert block sees, and a materialized view never sees deletes — erasure must be
able to rebuild a day.
"""

from __future__ import annotations

import datetime
import time

import structlog

from consentlog.analytics.queries import query_text
from consentlog.store import Store
from consentlog.store.schema import check_identifier

log = structlog.get_logger("consentlog.analytics.rollup")

SETTLE = datetime.timedelta(hours=1)  # beacons and stragglers of a day arrive within this
RECHECK_DAYS = 7  # rolled-up days compared with their raw rows on every run


def watermark(store: Store, database: str) -> datetime.date | None:
    """The last rolled-up day: every earlier day with data is in ``page_daily``."""
    db = check_identifier(database)
    _, [(day, count)] = store.query(f"SELECT max(day), count() FROM {db}.rollup_days")
    return day if count else None


def complete_through(now: datetime.datetime) -> datetime.date:
    """The last day whose data has settled at ``now`` (UTC)."""
    return (now - SETTLE).date() - datetime.timedelta(days=1)


def roll_up(
    store: Store, database: str, *, now: datetime.datetime | None = None
) -> list[datetime.date]:
    """Roll up the complete days not rolled up yet, and rebuild changed ones; return the
    days written."""
    db = check_identifier(database)
    through = complete_through(now or datetime.datetime.now(datetime.UTC))
    _, rows = store.query(
        f"SELECT DISTINCT toDate(ts) AS day FROM {db}.page_requests"
        " WHERE day <= {through:Date}"
        f" AND day NOT IN (SELECT day FROM {db}.rollup_days) ORDER BY day",
        {"through": through},
    )
    new_days = [r[0] for r in rows]
    changed = changed_days(store, db, through)
    for day in new_days:
        rebuild_day(store, db, day, fresh=day not in changed)
    for day in changed:
        if day not in new_days:
            rebuild_day(store, db, day)
    days = sorted({*new_days, *changed})
    last = watermark(store, db)
    if last is None or last < through:
        _record(store, db, through)  # the days up to here without data need no rollup
    return days


def changed_days(store: Store, database: str, through: datetime.date) -> list[datetime.date]:
    """Rolled-up days of the week before ``through`` whose raw rows no longer add up to
    their rollup."""
    db = check_identifier(database)
    _, rows = store.query(
        f"""
        SELECT r.day FROM (
            SELECT day, sum(views) + sum(bot_views) AS rolled FROM {db}.page_daily
            WHERE day >= {{since:Date}} GROUP BY day
        ) AS r
        LEFT JOIN (
            SELECT toDate(ts) AS day, count() AS raw FROM {db}.page_requests
            WHERE ts >= toDateTime64({{since:Date}}, 3, 'UTC') GROUP BY day
        ) AS p ON p.day = r.day
        WHERE r.rolled != p.raw
        """,
        {"since": through - datetime.timedelta(days=RECHECK_DAYS)},
    )
    return [r[0] for r in rows]


def rebuild_day(store: Store, database: str, day: datetime.date, *, fresh: bool = False) -> None:
    """(Re)compute one day of ``page_daily`` from the raw rows; ``fresh`` (never rolled
    up) skips removing the old rollup rows."""
    db = check_identifier(database)
    started = time.perf_counter()
    if not fresh:
        store.command(
            f"ALTER TABLE {db}.page_daily DELETE WHERE day = {{day:Date}}",
            settings={"mutations_sync": 2},
            parameters={"day": day},
        )
    store.command(
        f"INSERT INTO {db}.page_daily " + query_text("page_daily"),
        parameters={"db": db, "first_day": day, "last_day": day, "host": ""},
    )
    _record(store, db, day)
    log.info("day_rolled_up", day=str(day), seconds=round(time.perf_counter() - started, 3))


def _record(store: Store, db: str, day: datetime.date) -> None:
    store.command(
        f"INSERT INTO {db}.rollup_days VALUES ({{day:Date}}, now64(3))", parameters={"day": day}
    )
