"""The daily rollup: page metrics of complete days, kept as partial aggregates.

``roll_up`` fills ``page_daily`` (an AggregatingMergeTree) with ``sql/page_daily.sql``
for every complete day not rolled up yet, and rebuilds a rolled-up day whose raw rows
changed since (``sql/changed_days.sql``: late events replayed from a spool, an erasure).
Reports read the rollup for rolled-up days and the raw rows only for the days after them.

A job, not materialized views: bounce, exit and click-through need whole sessions, which
no single insert block sees, and a materialized view never sees deletes — erasure must be
able to rebuild a day.
"""

from __future__ import annotations

import datetime
import threading
import time

import structlog

from consentlog.analytics.queries import statement
from consentlog.store import Store
from consentlog.store.identifiers import check_identifier

log = structlog.get_logger("consentlog.analytics.rollup")

SETTLE = datetime.timedelta(hours=1)  # beacons and stragglers of a day arrive within this
RECHECK_DAYS = 7  # rolled-up days compared with their raw rows on every run
# days a rolled-up day looks back for its visitors' previous views of each page: reports
# over up to this many days and one (the 90-day preset and less) count visitors from the
# rollup alone (pages_rolled.sql). Rolling up a day scans the raw rows of these days.
LOOKBACK_DAYS = 92
# seconds a scheduled run spends rebuilding days rolled up before a migration (each takes
# seconds: the lookback): the writer's thread runs it, and must get back to writing
STALE_BUDGET = 30.0

_REBUILDING = threading.Lock()

_WATERMARK = "SELECT max(day), count() FROM {db:Identifier}.rollup_days"
_NEW_DAYS = (
    "SELECT DISTINCT toDate(ts) AS day FROM {db:Identifier}.page_requests"
    " WHERE day <= {through:Date}"
    " AND day NOT IN (SELECT day FROM {db:Identifier}.rollup_days) ORDER BY day"
)
# days rolled up before migration 11 (no visitor hashes) or 13 (no gaps) that still have
# raw rows: rebuilt once, so that their visitors count exactly; days whose raw rows are
# gone keep counting as before (pages.sql)
_STALE_DAYS = (
    "SELECT DISTINCT day FROM {db:Identifier}.page_daily"
    " WHERE visitor_kept = 0 OR visitor_lookback < 0"
)
# days rebuilt (a rebuild records its day before removing the day's rows) that have no
# rollup rows: a rebuild stopped between removing them and inserting them again (a crash,
# a kill), or a day whose every row was erased; rebuilt if raw rows remain
_MISSING_DAYS = (
    "SELECT day FROM {db:Identifier}.rollup_days GROUP BY day HAVING count() > 1"
    " AND day NOT IN (SELECT DISTINCT day FROM {db:Identifier}.page_daily) ORDER BY day"
)
_HAS_RAW_ROWS = (
    "SELECT count() FROM (SELECT 1 FROM {db:Identifier}.page_requests"
    " WHERE ts >= toDateTime64({day:Date}, 3, 'UTC')"
    " AND ts < toDateTime64({day:Date} + 1, 3, 'UTC') LIMIT 1)"
)
_ROLLED_AFTER = (
    "SELECT DISTINCT day FROM {db:Identifier}.page_daily WHERE day > {day:Date} ORDER BY day"
)
_RAW_DAYS = (
    "SELECT DISTINCT toDate(ts) AS day FROM {db:Identifier}.page_requests"
    " WHERE ts >= toDateTime64({first:Date}, 3, 'UTC')"
    " AND ts < toDateTime64({last:Date} + 1, 3, 'UTC') AND day IN {days:Array(Date)}"
)
_FORGET_DAY = "ALTER TABLE {db:Identifier}.page_daily DELETE WHERE day = {day:Date}"
# a day's rollup, and the goals of its sessions it saw (a late one rebuilds the day):
# counted before the day is built, so that a goal written meanwhile is one more next time
_DAY_GOALS = (
    "SELECT count() FROM {db:Identifier}.goals"
    " WHERE ts >= toDateTime64({day:Date}, 3, 'UTC')"
    " AND ts < toDateTime64({day:Date} + 1, 3, 'UTC') AND session_id != ''"
)
_RECORD_DAY = (
    "INSERT INTO {db:Identifier}.rollup_days (day, rolled_at, goals)"
    " VALUES ({day:Date}, now64(3), {goals:UInt64})"
)


def watermark(store: Store, database: str) -> datetime.date | None:
    """The last rolled-up day: every earlier day with data is in ``page_daily``."""
    db = check_identifier(database)
    _, [(day, count)] = store.query(_WATERMARK, {"db": db})
    return day if count else None


def complete_through(now: datetime.datetime) -> datetime.date:
    """The last day whose data has settled at ``now`` (UTC)."""
    return (now - SETTLE).date() - datetime.timedelta(days=1)


def roll_up(
    store: Store,
    database: str,
    *,
    now: datetime.datetime | None = None,
    stale_budget: float | None = None,
) -> list[datetime.date]:
    """Roll up the complete days not rolled up yet, and rebuild changed ones; return the
    days written. Days rolled up before a migration (``stale_days``) are rebuilt newest
    first, for at most ``stale_budget`` seconds of a run (None: all of them)."""
    db = check_identifier(database)
    through = complete_through(now or datetime.datetime.now(datetime.UTC))
    _, rows = store.query(_NEW_DAYS, {"db": db, "through": through})
    new_days = [r[0] for r in rows]
    changed = sorted({*changed_days(store, db, through), *missing_days(store, db)})
    later = [d for d in later_days(store, db, changed) if d not in changed]
    stale = [d for d in stale_days(store, db) if d not in changed and d not in later]
    for day in new_days:
        rebuild_day(store, db, day, fresh=day not in {*changed, *later, *stale})
    # the days after a changed one first and the changed one last: a run cut short finds
    # the changed day again next time, and its later days with it
    rebuilt = [d for d in (*later, *changed) if d not in new_days]
    for day in rebuilt:
        rebuild_day(store, db, day)
    started = time.monotonic()
    for day in reversed(stale):  # the newest first: the days reports read most
        if stale_budget is not None and time.monotonic() - started >= stale_budget:
            log.info("rollup_backfill_paused", days_left=len(stale) - stale.index(day) - 1)
            break
        if day not in new_days:
            rebuild_day(store, db, day)
        rebuilt.append(day)
    days = sorted({*new_days, *rebuilt})
    last = watermark(store, db)
    if last is None or last < through:
        _record(store, db, through)  # the days up to here without data need no rollup
    return days


def changed_days(store: Store, database: str, through: datetime.date) -> list[datetime.date]:
    """Rolled-up days of the week before ``through`` whose raw rows no longer add up to
    their rollup."""
    since = through - datetime.timedelta(days=RECHECK_DAYS)
    _, rows = store.query(*statement("changed_days", database, since=since))
    return [r[0] for r in rows]


def later_days(store: Store, database: str, changed: list[datetime.date]) -> list[datetime.date]:
    """The rolled-up days after the first of ``changed``: a late view on a changed day
    may be the previous view of a later day's visitor, whose gaps are rebuilt with it
    (the recheck finds changes in its last ``RECHECK_DAYS`` only, so these are few but
    for a day found missing)."""
    if not changed:
        return []
    db = check_identifier(database)
    _, rows = store.query(_ROLLED_AFTER, {"db": db, "day": min(changed)})
    return [r[0] for r in rows]


def stale_days(store: Store, database: str) -> list[datetime.date]:
    """Days rolled up before migration 11 (no visitor hashes) or 13 (no gaps) whose raw
    rows remain."""
    db = check_identifier(database)
    _, rows = store.query(_STALE_DAYS, {"db": db})
    if not rows:
        return []
    days = sorted(r[0] for r in rows)
    parameters = {"db": db, "first": days[0], "last": days[-1], "days": days}
    _, rows = store.query(_RAW_DAYS, parameters)
    return sorted(r[0] for r in rows)


def missing_days(store: Store, database: str) -> list[datetime.date]:
    """Rebuilt days without rollup rows (a rebuild cut short) whose raw rows remain."""
    db = check_identifier(database)
    _, rows = store.query(_MISSING_DAYS, {"db": db})
    found = []
    for (day,) in rows:  # one day each: these are few, and far apart
        _, [(count,)] = store.query(_HAS_RAW_ROWS, {"db": db, "day": day})
        if count:
            found.append(day)
    return found


def rebuild_day(store: Store, database: str, day: datetime.date, *, fresh: bool = False) -> None:
    """(Re)compute one day of ``page_daily`` from the raw rows; ``fresh`` (never rolled
    up) skips removing the old rollup rows."""
    db = check_identifier(database)
    sql, parameters = statement(
        "page_daily_insert", db, first_day=day, last_day=day, host="", lookback=LOOKBACK_DAYS
    )
    with _REBUILDING:  # an erasure's rebuild and the rollup job's, one at a time
        started = time.perf_counter()
        goals = _goals_of(store, db, day)
        if not fresh:
            _record(store, db, day, goals)  # first: a rebuild cut short is found by it
            store.command(
                _FORGET_DAY, settings={"mutations_sync": 2}, parameters={"db": db, "day": day}
            )
        store.command(sql, parameters=parameters)
        _record(store, db, day, goals)
    log.info("day_rolled_up", day=str(day), seconds=round(time.perf_counter() - started, 3))


def _goals_of(store: Store, db: str, day: datetime.date) -> int:
    _, [(count,)] = store.query(_DAY_GOALS, {"db": db, "day": day})
    return int(count)


def _record(store: Store, db: str, day: datetime.date, goals: int | None = None) -> None:
    if goals is None:
        goals = _goals_of(store, db, day)
    store.command(_RECORD_DAY, parameters={"db": db, "day": day, "goals": goals})
