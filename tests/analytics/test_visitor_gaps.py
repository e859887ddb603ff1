"""A range's visitors from the rollup's gaps (each day's visitors by the days since their
previous view of the page): the same as the distinct visitors of the raw rows for every
range, after late views (the later days are rebuilt), after raw rows expire (the lookback
shrinks and the report falls back to the hashes), and for days rolled up before migration
13. Real engine; the visits are made by ClickHouse from a hash of the row number."""

from __future__ import annotations

import datetime

import pytest

from consentlog.analytics.metrics import PageMetrics, page_report
from consentlog.analytics.queries import run
from consentlog.analytics.rollup import (
    LOOKBACK_DAYS,
    missing_days,
    rebuild_day,
    roll_up,
    stale_days,
)
from consentlog.store import Store
from consentlog.store.schema import migrate
from tests.helpers import KilledBeforeRollupInsert

FIRST = datetime.date(2026, 3, 1)
DAYS = 20
ONE = datetime.timedelta(days=1)

# 4,000 page requests over 20 days, 3 pages, 300 visitors: a visitor returns to a page
# after any number of days; 1 in 10 is a bot (not counted, visitor id or not), 1 in 8
# anonymous (no visitor id)
VISITS = """
INSERT INTO {db:Identifier}.page_requests
    (ts, pageview_id, host, path, status, consent_state, visitor_id, session_id, is_bot)
SELECT toDateTime64({first:Date}, 3, 'UTC') + toIntervalDay(cityHash64(number, 1) % {days:UInt32})
           + toIntervalSecond(cityHash64(number, 2) % 86400),
       generateUUIDv4(number), 'example.org',
       concat('/page-', toString(cityHash64(number, 3) % 3)), 200,
       if(cityHash64(number, 4) % 8 = 0, 'unknown', 'granted') AS consent,
       if(consent = 'granted', concat('v', toString(cityHash64(number, 5) % 300)), ''),
       if(consent = 'granted', concat('s', toString(number)), ''),
       cityHash64(number, 6) % 10 = 0
FROM numbers({rows:UInt32})
"""
TRUTH = """
SELECT path, uniqExactIf(visitor_id, NOT is_bot AND visitor_id != '')
FROM {db:Identifier}.page_requests
WHERE ts >= toDateTime64({a:Date}, 3, 'UTC') AND ts < toDateTime64({b:Date} + 1, 3, 'UTC')
GROUP BY path
"""


def _after(day: datetime.date) -> datetime.datetime:
    """A time at which ``day`` is complete (rolled up) and the next day is not."""
    return datetime.datetime.combine(day + ONE, datetime.time(2), tzinfo=datetime.UTC)


def _truth(store: Store, db: str, a: datetime.date, b: datetime.date) -> dict[str, int]:
    _, rows = store.query(TRUTH, {"db": db, "a": a, "b": b})
    return {path: count for path, count in rows if count}


def _counted(store: Store, db: str, a: datetime.date, b: datetime.date) -> dict[str, int]:
    return {m.path: m.visitors for m in page_report(store, db, a, b) if m.visitors}


def _day(i: int) -> datetime.date:
    return FIRST + i * ONE


@pytest.fixture
def visits_db(store: Store, database: str) -> str:
    migrate(store, database)
    parameters = {"db": database, "first": FIRST, "days": DAYS, "rows": 4000}
    store.command(VISITS, parameters=parameters)
    assert DAYS == len(roll_up(store, database, now=_after(_day(DAYS - 1))))
    return database


def _uses_gaps(store: Store, db: str, a: datetime.date, b: datetime.date) -> bool:
    """Whether pages_rolled.sql counts every page's visitors for the range (none NULL)."""
    ranges = {"rolled_first": a, "rolled_last": b, "host": "", "min_sample": 10}
    pages = run(store, "pages_rolled", PageMetrics, db, **ranges)
    return bool(pages) and None not in {page.visitors for page in pages}


def test_every_range_counts_the_raw_rows_distinct_visitors(store: Store, visits_db: str) -> None:
    """Ranges of one day to all twenty, starting anywhere: the rollup's count is the raw
    rows' distinct visitors, page by page."""
    ranges = [(a, b) for a in range(0, DAYS, 3) for b in range(a, DAYS, 4)]
    ranges += [(0, DAYS - 1), (DAYS - 1, DAYS - 1), (5, 6)]
    for a, b in ranges:
        assert _uses_gaps(store, visits_db, _day(a), _day(b))
        truth = _truth(store, visits_db, _day(a), _day(b))
        assert truth == _counted(store, visits_db, _day(a), _day(b)), (a, b)
    # and the report from the raw rows agrees (below 10,000 it is exact too)
    raw = page_report(store, visits_db, FIRST, _day(DAYS - 1), use_rollup=False)
    assert _truth(store, visits_db, FIRST, _day(DAYS - 1)) == {m.path: m.visitors for m in raw}


def test_a_late_view_rebuilds_the_later_days_gaps(store: Store, visits_db: str) -> None:
    """A view replayed late onto a rolled-up day is the previous view of later days'
    visitors: the next rollup run rebuilds them, and every range counts right again."""
    late = _day(DAYS - 5)
    # the visitors of the last day on /page-0, each seen again (late) five days before
    store.command(
        "INSERT INTO {db:Identifier}.page_requests (ts, pageview_id, host, path, status,"
        " consent_state, visitor_id, session_id)"
        " SELECT toDateTime64({late:Date}, 3, 'UTC') + toIntervalSecond(rowNumberInAllBlocks()),"
        " generateUUIDv4(rowNumberInAllBlocks() + 100000), host, path, 200, 'granted',"
        " visitor_id, concat('late-', visitor_id)"
        " FROM (SELECT DISTINCT host, path, visitor_id FROM {db:Identifier}.page_requests"
        " WHERE toDate(ts) = {last:Date} AND path = '/page-0' AND visitor_id != ''"
        " AND NOT is_bot)",
        parameters={"db": visits_db, "late": late, "last": _day(DAYS - 1)},
    )
    rebuilt = roll_up(store, visits_db, now=_after(_day(DAYS - 1)))
    assert [late + i * ONE for i in range(5)] == rebuilt
    for a in range(DAYS - 8, DAYS):
        truth = _truth(store, visits_db, _day(a), _day(DAYS - 1))
        assert truth == _counted(store, visits_db, _day(a), _day(DAYS - 1)), a


def test_expired_raw_rows_shorten_the_lookback_of_a_day_rebuilt_after(
    store: Store, visits_db: str
) -> None:
    """Once the first days' raw rows are gone, a day rebuilt (an erasure, late views)
    looks back only to the day after the first raw day left (that one may have lost part
    of its rows): a range reaching before it is counted from the hashes instead, and
    stays exact."""
    before = {a: _counted(store, visits_db, _day(a), _day(12)) for a in (0, 4, 8)}
    store.command(
        f"ALTER TABLE {visits_db}.page_requests DELETE WHERE ts < toDateTime64("
        f"'{_day(4)}', 3, 'UTC')",
        settings={"mutations_sync": 2},
    )
    rebuild_day(store, visits_db, _day(12))
    _, rows = store.query(
        f"SELECT DISTINCT visitor_lookback FROM {visits_db}.page_daily WHERE day = {{d:Date}}",
        {"d": _day(12)},
    )
    assert [(7,)] == rows  # to the day after the first raw day left (part expired, maybe)
    assert not _uses_gaps(store, visits_db, _day(4), _day(12))
    assert _uses_gaps(store, visits_db, _day(5), _day(12))
    assert before == {a: _counted(store, visits_db, _day(a), _day(12)) for a in (0, 4, 8)}


def test_a_day_rolled_up_before_migration_13_counts_from_its_hashes_until_rebuilt(
    store: Store, visits_db: str
) -> None:
    """A day without gaps (visitor_lookback -1, as migration 13 leaves the old rows) sends
    the report to the hashes, which count the same; the next run rebuilds the day."""
    everything = (FIRST, _day(DAYS - 1))
    exact = _truth(store, visits_db, *everything)
    _, rows = store.query(f"SELECT DISTINCT visitor_lookback FROM {visits_db}.page_daily")
    assert [(LOOKBACK_DAYS,)] == rows  # the raw rows begin with the rollup: nothing expired
    store.command(
        f"ALTER TABLE {visits_db}.page_daily UPDATE visitor_lookback = -1, visitor_gaps = [],"
        f" visitor_gap_counts = [] WHERE day = '{_day(3)}'",
        settings={"mutations_sync": 2},
    )
    assert [_day(3)] == stale_days(store, visits_db)
    assert not _uses_gaps(store, visits_db, *everything)
    assert exact == _counted(store, visits_db, *everything)
    assert [_day(3)] == roll_up(store, visits_db, now=_after(_day(DAYS - 1)))
    assert _uses_gaps(store, visits_db, *everything)
    assert exact == _counted(store, visits_db, *everything)


def test_a_day_found_missing_is_rebuilt_after_the_days_after_it(
    store: Store, visits_db: str
) -> None:
    """A rebuild killed between removing its day's rows and inserting them: the next run
    rebuilds the days after it first and the day last, and every range counts right."""
    day = _day(12)

    with pytest.raises(KeyboardInterrupt):
        rebuild_day(KilledBeforeRollupInsert(store), visits_db, day)  # type: ignore[arg-type]
    assert [day] == missing_days(store, visits_db)
    assert [_day(i) for i in range(12, DAYS)] == roll_up(
        store, visits_db, now=_after(_day(DAYS + 30))
    )
    assert [] == missing_days(store, visits_db)
    for a in (0, 10, 12, 15):
        truth = _truth(store, visits_db, _day(a), _day(DAYS - 1))
        assert truth == _counted(store, visits_db, _day(a), _day(DAYS - 1)), a


def test_the_backfill_after_a_migration_keeps_to_its_budget(store: Store, visits_db: str) -> None:
    """Days without gaps are rebuilt within a run's budget (the writer's thread runs the
    scheduled rollup), the rest by later runs; reports stay exact meanwhile."""
    store.command(
        f"ALTER TABLE {visits_db}.page_daily UPDATE visitor_lookback = -1 WHERE day >= "
        f"'{_day(15)}'",
        settings={"mutations_sync": 2},
    )
    assert [_day(i) for i in range(15, DAYS)] == stale_days(store, visits_db)
    now = _after(_day(DAYS - 1))
    assert [] == roll_up(store, visits_db, now=now, stale_budget=0)
    exact = _truth(store, visits_db, FIRST, _day(DAYS - 1))
    assert exact == _counted(store, visits_db, FIRST, _day(DAYS - 1))  # from the hashes
    assert [_day(i) for i in range(15, DAYS)] == roll_up(store, visits_db, now=now)
    assert _uses_gaps(store, visits_db, FIRST, _day(DAYS - 1))
    assert exact == _counted(store, visits_db, FIRST, _day(DAYS - 1))
