"""The demo's simulated visits are spread over the last 30 days: every row moves, each
visit's rows by the same whole days, nothing is lost, and the rollup built after it
equals the raw rows."""

from __future__ import annotations

import datetime
from pathlib import Path

from consentlog.analytics.metrics import page_report
from consentlog.analytics.rollup import roll_up
from consentlog.demo.spread import SPREAD_DAYS, spread
from consentlog.ingest.writer import Writer
from consentlog.store import Store
from consentlog.store.schema import migrate
from tests.helpers import generate, generate_goals


def test_visits_move_back_whole_days_a_session_together(store: Store, tmp_path: Path) -> None:
    database = "demo_spread"
    store.command(f"DROP DATABASE IF EXISTS {database} SYNC")
    migrate(store, database)
    # the data set's five hours of visits, played on one day that has passed: today's
    # early hours, or yesterday's (no session may cross midnight)
    now = datetime.datetime.now(datetime.UTC)
    day = now.date() - datetime.timedelta(days=0 if now.hour >= 6 else 1)
    since = datetime.datetime.combine(day, datetime.time(0, 1), datetime.UTC)
    pages, engagements = generate()
    shift = since.timestamp() + 60 - min(p.ts for p in pages)
    pages = [p._replace(ts=p.ts + shift) for p in pages]
    engagements = [e._replace(ts=e.ts + shift) for e in engagements]
    goals = generate_goals(pages)
    writer = Writer(store, database=database, spool_dir=tmp_path, flush_interval=0.05)
    for event in [*pages, *engagements, *goals]:
        writer.submit(event)
    assert writer.stop(60)
    moved = spread(store, database, since)
    assert 0 < moved < len(pages)
    _, [(count, days)] = store.query(
        f"SELECT count(), uniqExact(toDate(ts)) FROM {database}.page_requests"
    )
    assert len(pages) == count
    assert days >= SPREAD_DAYS * 2 // 3
    _, spans = store.query(
        f"SELECT session_id, uniqExact(toDate(ts)) FROM {database}.page_requests"
        " WHERE session_id != '' GROUP BY session_id"
    )
    assert {1} == {d for _, d in spans}  # a session stays on one day (the data's visits do)
    _, engaged = store.query(
        f"SELECT count() FROM {database}.engagements AS e"
        f" JOIN {database}.page_requests AS p ON p.pageview_id = e.pageview_id"
        " WHERE toDate(e.ts) != toDate(p.ts)"
    )
    assert [(0,)] == [tuple(r) for r in engaged]  # engagement moved with its page view
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1, hours=2)
    roll_up(store, database, now=later)
    first = (since - datetime.timedelta(days=SPREAD_DAYS)).date()
    today = now.date()
    assert page_report(store, database, first, today) == page_report(
        store, database, first, today, use_rollup=False
    )
