"""Differential test: the report's metrics equal an independent computation in Python
over the raw rows of a generated data set with known sessions, bounces, exits,
engagement and votes."""

from __future__ import annotations

import datetime
import statistics
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import pytest

from consentlog.analytics.metrics import PageMetrics, page_report
from consentlog.analytics.rollup import rebuild_day, roll_up, watermark
from consentlog.ingest.events import Engagement, Goal, PageRequest
from consentlog.ingest.writer import Writer
from consentlog.store import Store
from consentlog.store.schema import migrate
from tests.helpers import BOT, DAY, HUMAN, KilledBeforeRollupInsert, generate, generate_goals


def expected(
    pages: list[PageRequest],
    engagements: list[Engagement],
    goals: Sequence[Goal] = (),
    *,
    min_sample: int,
) -> dict[str, dict[str, Any]]:
    """Every metric of docs/metrics.md, computed straight from the events."""
    last_goal: dict[str, float] = {}  # a session's last goal (sessions here stay in one day)
    for g in goals:
        if g.session_id and g.user_agent != BOT:
            last_goal[g.session_id] = max(g.ts, last_goal.get(g.session_id, 0.0))
    bots = {p.pageview_id for p in pages if p.user_agent == BOT}
    humans = [p for p in pages if p.pageview_id not in bots]
    per_pv: dict[str, tuple[int, int, bool | None]] = {}
    for e in sorted(engagements, key=lambda e: e.ts):
        old = per_pv.get(e.pageview_id, (0, 0, None))
        per_pv[e.pageview_id] = (max(old[0], e.engaged_ms), max(old[1], e.scroll_pct),
                                 e.useful if e.useful is not None else old[2])  # fmt: skip
    sessions: dict[str, list[PageRequest]] = defaultdict(list)
    for p in humans:
        if p.session_id:
            sessions[p.session_id].append(p)
    position: dict[str, tuple[int, int]] = {}
    for views in sessions.values():
        views.sort(key=lambda p: (p.ts, p.pageview_id))
        for i, p in enumerate(views, 1):
            position[p.pageview_id] = (i, len(views))
    result: dict[str, dict[str, Any]] = {}
    for path in {p.path for p in pages}:
        on_path = [p for p in humans if p.path == path]
        mine = [p for p in on_path if not p.consented_copy]  # a copy is not a second view
        consented = [p for p in on_path if p.session_id]  # a copy is one of its session
        entries = [p for p in consented if position[p.pageview_id][0] == 1]
        bounces = [p for p in entries if position[p.pageview_id][1] == 1
                   and per_pv.get(p.pageview_id, (0, 0, None))[0] < 10000]  # fmt: skip
        session_ids = {p.session_id for p in consented}
        exits = [p for p in consented if position[p.pageview_id][0] == position[p.pageview_id][1]]
        onward = [p for p in consented if position[p.pageview_id][0] < position[p.pageview_id][1]]
        engaged = [per_pv[p.pageview_id] for p in consented if p.pageview_id in per_pv]
        times = sorted(e[0] // 1000 * 1000 for e in engaged)  # 1 s resolution
        median = float(times[(len(times) - 1) // 2]) if times else None  # the lower median
        yes = sum(1 for e in engaged if e[2] is True)
        no = sum(1 for e in engaged if e[2] is False)
        bounce_rate = len(bounces) / len(entries) if entries else None
        deep = sum(1 for e in engaged if e[1] >= 75) / len(engaged) if engaged else None
        score = None
        if len(engaged) >= min_sample and median is not None and deep is not None:
            total = 0.35 * min(median / 30000, 1) + 0.25 * deep
            weight = 0.60
            if bounce_rate is not None:
                total, weight = total + 0.20 * (1 - bounce_rate), weight + 0.20
            if yes + no:
                total, weight = total + 0.20 * (yes + 1) / (yes + no + 2), weight + 0.20
            score = round(100 * total / weight)
        result[path] = {
            "views": len(mine),
            "bot_views": sum(
                1
                for p in pages
                if p.path == path and p.pageview_id in bots and not p.consented_copy
            ),
            "visitors": len({p.visitor_id for p in consented}),
            "anonymous_views": sum(1 for p in mine if p.consent_state != "granted"),
            "entries": len(entries),
            "bounce_rate": bounce_rate,
            "exit_rate": len(exits) / len(session_ids) if session_ids else None,
            "click_through_rate": len(onward) / len(consented) if consented else None,
            "engaged_views": len(engaged),
            "median_engaged_ms": median,
            "avg_scroll_pct": statistics.fmean(e[1] for e in engaged) if engaged else None,
            "deep_read_rate": deep,
            "votes_yes": yes,
            "votes_no": no,
            "not_found": sum(1 for p in mine if p.status == 404),
            "server_errors": sum(1 for p in mine if p.status >= 500),
            "usefulness": score,
            "goal_rate": (
                len({p.session_id for p in consented if last_goal.get(p.session_id, -1) >= p.ts})
                / len(session_ids)
                if session_ids
                else None
            ),
        }
    return result


@pytest.fixture
def loaded(
    store: Store, database: str, tmp_path: Any
) -> tuple[list[PageRequest], list[Engagement], list[Goal]]:
    pages, engagements = generate()
    goals = generate_goals(pages)
    writer = Writer(
        store,
        database=database,
        spool_dir=tmp_path,
        batch_size=5000,
        flush_interval=0.05,
    )
    for event in [*pages, *engagements, *goals]:
        writer.submit(event)
    assert writer.stop(60)
    return pages, engagements, goals


def test_report_equals_independent_computation(
    store: Store, database: str, loaded: tuple[list[PageRequest], list[Engagement]]
) -> None:
    """Every metric of every page equals the Python computation over the raw events."""
    report = page_report(store, database, DAY, DAY, min_sample=10)
    truth = expected(*loaded, min_sample=10)
    assert sorted(truth) == sorted(m.path for m in report)
    for metrics in report:
        want = truth[metrics.path]
        got = {k: v for k, v in metrics.as_dict().items() if k in want}
        for key, value in want.items():
            if isinstance(value, float):
                assert value == pytest.approx(got[key], rel=1e-9), (metrics.path, key)
            else:
                assert value == got[key], (metrics.path, key)


def test_minimum_sample_guard(store: Store, database: str, loaded: Any) -> None:
    """Below the minimum sample a page has no usefulness score ("not enough data")."""
    report = page_report(store, database, DAY, DAY, min_sample=10_000)
    assert all(m.usefulness is None for m in report)
    assert isinstance(report[0], PageMetrics)


def test_date_range_excludes_other_days(store: Store, database: str, loaded: Any) -> None:
    """A range without the data set's day reports nothing."""
    next_day = DAY + datetime.timedelta(days=1)
    assert [] == page_report(store, database, next_day, next_day)


def test_rollup_gives_the_same_report(
    store: Store, database: str, loaded: tuple[list[PageRequest], list[Engagement]]
) -> None:
    """After the day is rolled up, the report (now read from page_daily) is unchanged."""
    raw = page_report(store, database, DAY, DAY, use_rollup=False)
    later = datetime.datetime.combine(
        DAY + datetime.timedelta(days=2), datetime.time(), datetime.UTC
    )
    assert [DAY] == roll_up(store, database, now=later)
    assert DAY == watermark(store, database)
    assert raw == page_report(store, database, DAY, DAY)
    _, [(raw_rows,)] = store.query(f"SELECT count() FROM {database}.page_requests")
    assert [] == roll_up(store, database, now=later), "nothing left to roll up"
    assert 0 < raw_rows


def test_late_rows_rebuild_a_rolled_up_day(
    store: Store, database: str, tmp_path: Any, loaded: tuple[list[PageRequest], list[Engagement]]
) -> None:
    """Rows arriving for a rolled-up day (a spool replayed late) rebuild that day."""
    later = datetime.datetime.combine(
        DAY + datetime.timedelta(days=2), datetime.time(), datetime.UTC
    )
    roll_up(store, database, now=later)
    before = {m.path: m.views for m in page_report(store, database, DAY, DAY)}
    pages, _ = generate(seed=99)
    writer = Writer(
        store,
        database=database,
        spool_dir=tmp_path / "late",
        flush_interval=0.05,
    )
    for page in pages[:50]:
        writer.submit(page)
    assert writer.stop(60)
    assert [DAY] == roll_up(store, database, now=later)
    after = {m.path: m.views for m in page_report(store, database, DAY, DAY)}
    assert sum(before.values()) + sum(
        1 for p in pages[:50] if p.user_agent != BOT and not p.consented_copy
    ) == sum(after.values())
    assert page_report(store, database, DAY, DAY, use_rollup=False) == page_report(
        store, database, DAY, DAY
    )


def test_a_late_consented_copy_rebuilds_its_day(
    store: Store, database: str, tmp_path: Any, loaded: tuple[list[PageRequest], list[Engagement]]
) -> None:
    """A copy (the page a visitor accepted on) replayed after its day was rolled up adds no
    view but a session: the day is rebuilt all the same, and the rollup equals raw."""
    later = datetime.datetime.combine(
        DAY + datetime.timedelta(days=2), datetime.time(), datetime.UTC
    )
    roll_up(store, database, now=later)
    pages, *_ = loaded
    landing = next(p for p in pages if p.session_id)
    copy = landing._replace(
        pageview_id="c" * 32, session_id="s" * 22, visitor_id="v" * 22, consented_copy=True
    )
    writer = Writer(store, database=database, spool_dir=tmp_path / "late", flush_interval=0.05)
    writer.submit(copy)
    assert writer.stop(60)
    assert [DAY] == roll_up(store, database, now=later)
    assert page_report(store, database, DAY, DAY, use_rollup=False) == page_report(
        store, database, DAY, DAY
    )


def test_a_late_goal_rebuilds_its_day(
    store: Store, database: str, tmp_path: Any, loaded: tuple[list[PageRequest], list[Engagement]]
) -> None:
    """A goal replayed after its day was rolled up changes "led to a goal": the day is
    rebuilt (rollup_days remembers the goals it saw), and the rollup equals raw."""
    later = datetime.datetime.combine(
        DAY + datetime.timedelta(days=2), datetime.time(), datetime.UTC
    )
    roll_up(store, database, now=later)
    pages, _, goals = loaded
    reached = {g.session_id for g in goals}
    view = next(p for p in pages if p.session_id and p.session_id not in reached)
    before = {m.path: m.goal_rate for m in page_report(store, database, DAY, DAY)}
    late = Goal(view.ts + 1, "signup", "server", view.host, "/signup", "", "POST", 303,
                "granted", view.visitor_id, view.session_id, HUMAN)  # fmt: skip
    writer = Writer(store, database=database, spool_dir=tmp_path / "late", flush_interval=0.05)
    writer.submit(late)
    assert writer.stop(60)
    assert [DAY] == roll_up(store, database, now=later)
    report = page_report(store, database, DAY, DAY)
    assert report == page_report(store, database, DAY, DAY, use_rollup=False)
    assert before[view.path] < next(m.goal_rate for m in report if m.path == view.path)


def test_rows_of_a_day_recorded_empty_are_rolled_up_when_they_arrive(
    store: Store, tmp_path: Any
) -> None:
    """The watermark day was recorded with no rows (the store was down all day); its
    rows, replayed later, are rolled up on the next run: rollup equals raw."""
    database = "late_empty_day"
    store.command(f"DROP DATABASE IF EXISTS {database} SYNC")
    migrate(store, database)
    later = datetime.datetime.combine(
        DAY + datetime.timedelta(days=2), datetime.time(), datetime.UTC
    )
    assert [] == roll_up(store, database, now=later)
    assert DAY == watermark(store, database)
    pages, _ = generate()
    writer = Writer(store, database=database, spool_dir=tmp_path, flush_interval=0.05)
    for event in [*pages, *generate_goals(pages)]:
        writer.submit(event)
    assert writer.stop(60)
    assert [DAY] == roll_up(store, database, now=later)
    report = page_report(store, database, DAY, DAY)
    assert report
    assert report == page_report(store, database, DAY, DAY, use_rollup=False)


def test_a_rebuild_cut_short_is_finished_by_the_next_run(
    store: Store, database: str, loaded: tuple[list[PageRequest], list[Engagement]]
) -> None:
    """A rebuild killed between removing a day's rollup rows and inserting them again
    leaves the day recorded without rows: the next run rebuilds it (its raw rows remain),
    wherever the day is, and the report is whole again."""
    later = datetime.datetime.combine(
        DAY + datetime.timedelta(days=60), datetime.time(), datetime.UTC
    )
    assert [DAY] == roll_up(store, database, now=later)
    whole = page_report(store, database, DAY, DAY)

    with pytest.raises(KeyboardInterrupt):
        rebuild_day(KilledBeforeRollupInsert(store), database, DAY)  # type: ignore[arg-type]
    assert [] == page_report(store, database, DAY, DAY)
    assert [DAY] == roll_up(store, database, now=later)  # long outside the recheck
    assert whole == page_report(store, database, DAY, DAY)
    assert [] == roll_up(store, database, now=later)
