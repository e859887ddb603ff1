"""Visitors per page over a range of days: exact from the rollup's gaps (days since each
visitor's previous view) when every day is rolled up; with raw days, exact below 10,000
(64-bit hashes), estimated from their sample above; days rolled up before migration 11
count with their HyperLogLog states until the rollup job rebuilds them. Real engine, data
made by ClickHouse itself."""

from __future__ import annotations

import dataclasses
import datetime

import pytest

from consentlog.analytics.metrics import PageMetrics, page_report
from consentlog.analytics.rollup import roll_up, stale_days
from consentlog.store import Store
from consentlog.store.schema import migrate

FIRST = datetime.date(2026, 6, 1)
LAST = FIRST + datetime.timedelta(days=2)
LATER = datetime.datetime(2026, 6, 10, tzinfo=datetime.UTC)

# (path, distinct visitors): each visitor comes on two of the three days, so the days'
# counts add up to twice the range's; /big-day has one day of 12,000 on its own
PAGES = (("/one-thousand", 1000), ("/just-below", 9999), ("/ten-thousand", 10000),
         ("/thirty-thousand", 30000))  # fmt: skip

INSERT = """
INSERT INTO {db:Identifier}.page_requests
    (ts, pageview_id, host, path, status, consent_state, visitor_id, session_id)
SELECT toDateTime64({first:Date}, 3, 'UTC') + toIntervalDay(d) + toIntervalSecond(i % 80000),
       generateUUIDv4(i * 3 + d), 'example.org', {path:String}, 200, 'granted',
       concat({path:String}, '-v', toString(i)), concat({path:String}, '-s', toString(i * 3 + d))
FROM (SELECT number AS i, arrayJoin([0, 1, 2]) AS d FROM numbers({visitors:UInt32}))
WHERE i % 3 != d OR {one_day:Bool} AND d = 0
"""


@pytest.fixture
def visitors_db(store: Store, database: str) -> str:
    migrate(store, database)
    for path, visitors in (*PAGES, ("/big-day", 12000)):
        parameters = {"db": database, "first": FIRST, "path": path, "visitors": visitors}
        store.command(INSERT, parameters={**parameters, "one_day": path == "/big-day"})
    store.command(
        f"ALTER TABLE {database}.page_requests DELETE WHERE path = '/big-day' AND ts >= "
        f"toDateTime64('{FIRST + datetime.timedelta(days=1)}', 3, 'UTC')",
        settings={"mutations_sync": 2},
    )
    return database


def _visitors(report: list[PageMetrics]) -> dict[str, int]:
    return {m.path: m.visitors for m in report}


EXACT = {"/one-thousand": 1000, "/just-below": 9999, "/ten-thousand": 10000,
         "/thirty-thousand": 30000, "/big-day": 12000}  # fmt: skip


def test_visitors_exact_below_ten_thousand(store: Store, visitors_db: str) -> None:
    """From the raw rows, 1,000 and 9,999 distinct visitors over three days count exactly,
    more within a few per cent; from the rollup (pages_rolled.sql), every count is exact,
    and every other metric is the raw rows' too."""
    raw = page_report(store, visitors_db, FIRST, LAST, use_rollup=False)
    counted = _visitors(raw)
    assert 1000 == counted["/one-thousand"]
    assert 9999 == counted["/just-below"]
    for path in ("/ten-thousand", "/thirty-thousand", "/big-day"):
        assert EXACT[path] == pytest.approx(counted[path], rel=0.05)
    assert 3 == len(roll_up(store, visitors_db, now=LATER))
    rolled = page_report(store, visitors_db, FIRST, LAST)
    assert EXACT == _visitors(rolled)
    assert [dataclasses.replace(m, visitors=0) for m in raw] == [
        dataclasses.replace(m, visitors=0) for m in rolled
    ]
    _, [(kept,)] = store.query(
        f"SELECT visitor_kept FROM {visitors_db}.page_daily WHERE path = '/big-day'"
    )
    assert 2 == kept  # the day kept only the sample of its hashes: its gaps count all
    # one day of a range is one day's count
    one = _visitors(page_report(store, visitors_db, FIRST, FIRST))
    assert 1000 * 2 // 3 == one["/one-thousand"]
    assert 6666 == one["/just-below"]
    assert 20000 == one["/thirty-thousand"]


def test_a_range_with_raw_days_counts_exactly_below_ten_thousand(
    store: Store, visitors_db: str
) -> None:
    """Two days rolled up and the last read raw (pages.sql): the hashes of both count
    exactly below 10,000, the sample estimates above."""
    assert 2 == len(
        roll_up(store, visitors_db, now=datetime.datetime(2026, 6, 3, 2, tzinfo=datetime.UTC))
    )
    counted = _visitors(page_report(store, visitors_db, FIRST, LAST))
    assert 1000 == counted["/one-thousand"]
    assert 9999 == counted["/just-below"]
    assert 30000 == pytest.approx(counted["/thirty-thousand"], rel=0.05)


def test_days_rolled_up_before_migration_11_count_as_before_until_rebuilt(
    store: Store, visitors_db: str
) -> None:
    """A day without hashes (visitor_kept 0, as migration 11 leaves the old rows) counts
    its page's visitors with the HyperLogLog states, every other metric unchanged; the
    next rollup run rebuilds it, and the count is exact again."""
    roll_up(store, visitors_db, now=LATER)
    exact = page_report(store, visitors_db, FIRST, LAST)
    store.command(
        f"ALTER TABLE {visitors_db}.page_daily UPDATE visitor_kept = 0, visitor_hashes = [],"
        " visitor_sample = [], engaged_hist = [], engaged_long = []"
        f" WHERE day = '{FIRST}'",
        settings={"mutations_sync": 2},
    )
    assert [FIRST] == stale_days(store, visitors_db)
    stale = page_report(store, visitors_db, FIRST, LAST)
    assert [dataclasses.replace(m, visitors=0) for m in exact] == [
        dataclasses.replace(m, visitors=0) for m in stale
    ]
    for before, now in zip(exact, stale, strict=True):
        assert before.visitors == pytest.approx(now.visitors, rel=0.1)
    assert 9999 != _visitors(stale)["/just-below"], "HyperLogLog: not exact at 9,999"
    assert [FIRST] == roll_up(store, visitors_db, now=LATER)
    assert [] == stale_days(store, visitors_db)
    assert exact == page_report(store, visitors_db, FIRST, LAST)


def test_median_engaged_time_over_the_histogram_and_the_long_ones(
    store: Store, database: str
) -> None:
    """The rollup's median (per-second counts below 10 minutes, each longer one's seconds
    kept) is the lower median of whole seconds, as from the raw rows, wherever it falls."""
    migrate(store, database)
    seconds = {"/short": [3, 7, 7, 9, 700], "/long": [5, 650, 700, 701, 3600, 3600]}
    for offset, (path, values) in enumerate(seconds.items()):
        store.command(
            f"INSERT INTO {database}.page_requests (ts, pageview_id, host, path, status,"
            " consent_state, visitor_id, session_id) SELECT"
            " toDateTime64({first:Date}, 3, 'UTC') + toIntervalSecond(number),"
            " toUUID(concat('00000000-0000-0000-0000-', leftPad(toString(number + {o:UInt32}),"
            " 12, '0'))),"
            " 'example.org', {path:String}, 200, 'granted', concat('v', toString(number)),"
            " concat({path:String}, toString(number)) FROM numbers({n:UInt32})",
            parameters={"first": FIRST, "path": path, "n": len(values), "o": offset * 100},
        )
        store.command(
            f"INSERT INTO {database}.engagements (ts, pageview_id, host, path, engaged_ms)"
            " SELECT toDateTime64({first:Date}, 3, 'UTC') + toIntervalSecond(i), toUUID(concat("
            " '00000000-0000-0000-0000-', leftPad(toString(i + {o:UInt32}), 12, '0'))),"
            " 'example.org',"
            " {path:String}, ms FROM (SELECT arrayJoin(arrayEnumerate({ms:Array(UInt32)})) - 1"
            " AS i, {ms:Array(UInt32)}[i + 1] AS ms)",
            parameters={
                "first": FIRST,
                "path": path,
                "o": offset * 100,
                "ms": [s * 1000 + 400 for s in values],
            },
        )
    raw = page_report(store, database, FIRST, FIRST, use_rollup=False, min_sample=1)
    roll_up(store, database, now=LATER)
    rolled = page_report(store, database, FIRST, FIRST, min_sample=1)
    assert raw == rolled
    assert {"/short": 7000, "/long": 700000} == {m.path: m.median_engaged_ms for m in rolled}
