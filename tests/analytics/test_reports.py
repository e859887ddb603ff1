"""The dashboard's report queries (the package's sql/*.sql through consentlog.analytics.reports)
on a small hand-made data set whose right answers are worked out in the comments."""

from __future__ import annotations

import calendar
import datetime
import uuid
from pathlib import Path

import pytest

from consentlog.analytics import reports
from consentlog.ingest.events import ConsentRecord, Engagement, PageRequest
from consentlog.ingest.writer import Writer
from consentlog.store import Store

HUMAN = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0"
BOT = "Googlebot/2.1 (+http://www.google.com/bot.html)"
DAY = datetime.date(2026, 3, 10)
BEFORE = DAY - datetime.timedelta(days=1)
AFTER = DAY + datetime.timedelta(days=1)
GOOGLE = "https://www.google.com/search?q=x"
HN = "https://news.ycombinator.com/item?id=1"


def at(clock: str, day: datetime.date = DAY) -> float:
    """Unix seconds of ``clock`` (HH:MM:SS, UTC) on ``day``."""
    hours, minutes, seconds = (int(part) for part in clock.split(":"))
    return float(calendar.timegm((day.year, day.month, day.day, hours, minutes, seconds)))


def view(
    clock: str,
    path: str,
    *,
    session: str = "",
    visitor: str = "",
    state: str = "",
    referrer: str = "",
    status: int = 200,
    agent: str = HUMAN,
    host: str = "example.org",
    day: datetime.date = DAY,
) -> PageRequest:
    state = state or ("granted" if session else "unknown")
    return PageRequest(
        at(clock, day), uuid.uuid4().hex, host, path, "", "GET", status, 100, 1.0, referrer, "",
        agent, "en", state, visitor, session, "203.0.113.9" if session else "",
    )  # fmt: skip


def engaged(page: PageRequest, ms: int, scroll: int, useful: bool | None = None) -> Engagement:
    return Engagement(
        page.ts + ms / 1000 + 1, page.pageview_id, page.visitor_id, page.session_id,
        page.host, page.path, ms, scroll, useful,
    )  # fmt: skip


def decision(
    clock: str,
    action: str,
    categories: tuple[str, ...],
    revision: int,
    source: str = "banner",
    day: datetime.date = DAY,
) -> ConsentRecord:
    return ConsentRecord(
        at(clock, day), uuid.uuid4().hex, action, categories, revision, source, "", "", HUMAN
    )


# Session A (visitor vA): /a → /b → /a.  Session B (vB): /a → /c.  Session C (vA): /a.
A1 = view("10:00:00", "/a", session="sA", visitor="vA", referrer=GOOGLE)
A2 = view("10:00:30", "/b", session="sA", visitor="vA", referrer="https://example.org/a")
A3 = view("10:01:00", "/a", session="sA", visitor="vA")
B1 = view("11:00:00", "/a", session="sB", visitor="vB", referrer=HN)
B2 = view("11:00:20", "/c", session="sB", visitor="vB")
C1 = view("12:00:00", "/a", session="sC", visitor="vA")
BOT_VIEW = view("09:30:00", "/a", agent=BOT)
PAGES = [
    A1, A2, A3, B1, B2, C1, BOT_VIEW,
    view("09:00:00", "/a", referrer=GOOGLE),  # anonymous, no decision yet
    view("09:10:00", "/a", state="denied"),
    view("09:20:00", "/b"),
    view("13:00:00", "/missing", status=404),
    view("13:05:00", "/missing", status=404),
    view("13:10:00", "/missing", status=404, agent=BOT),
    view("14:00:00", "/b", status=500),
    view("15:00:00", "/a", host="other.org"),
    view("10:00:00", "/a", session="sD", visitor="vD", day=AFTER),  # outside the range
]  # fmt: skip
ENGAGEMENTS = [
    engaged(A1, 2000, 30),  # a running total, superseded by the next one
    engaged(A1, 12000, 80, True),  # → 10-30 s, scroll 75-99 %
    engaged(A2, 4000, 100),
    engaged(A3, 61000, 50),  # → 1-2 min, scroll 50-74 %
    engaged(B1, 700, 10),  # → < 5 s, scroll 0-24 %
    engaged(C1, 300000, 100),  # → 5 min +, scroll 100 %
    engaged(BOT_VIEW, 50000, 60),  # a bot's: never counted
]
DECISIONS = [
    decision("08:00:00", "accept_all", ("analytics", "marketing"), 1),
    decision("08:05:00", "reject_all", (), 1),
    decision("08:10:00", "custom", ("analytics",), 2),
    decision("08:15:00", "gpc", (), 2, source="gpc"),
    decision("08:20:00", "withdraw", (), 2),
    decision("08:25:00", "custom", ("marketing",), 2, source="form"),
    decision("08:30:00", "erase", (), 2),  # not a decision: never counted
    decision("08:00:00", "accept_all", ("analytics",), 2, day=AFTER),  # outside the range
]


@pytest.fixture(scope="module")
def db(store: Store, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The data set above, in a database of its own."""
    database = f"reports_{uuid.uuid4().hex[:8]}"
    spool: Path = tmp_path_factory.mktemp("spool")
    writer = Writer(store, database=database, spool_dir=spool, flush_interval=0.05)
    for event in [*PAGES, *ENGAGEMENTS, *DECISIONS]:
        writer.submit(event)
    assert writer.stop(60)
    return database


def test_overview(store: Store, db: str) -> None:
    """Totals of the day: 12 + 1 (other host) human views, 2 bot views, visitors vA and vB,
    3 sessions; 6 decisions (erase excluded), 2 of them accept analytics."""
    want = reports.Overview(
        views=13,
        bot_views=2,
        visitors=2,
        sessions=3,
        anonymous_views=7,
        granted_views=6,
        denied_views=1,
        unknown_views=6,
        decisions=6,
        analytics_accepted=2,
        analytics_refused=3,
        withdrawals=1,
        consent_rate=pytest.approx(2 / 6),  # type: ignore[arg-type]
        granted_view_share=pytest.approx(6 / 13),  # type: ignore[arg-type]
    )
    assert want == reports.overview(store, db, DAY, DAY)
    assert 12 == reports.overview(store, db, DAY, DAY, host="example.org").views


def test_overview_of_an_empty_range(store: Store, db: str) -> None:
    """No rows: zero counts and no rates (None, not NaN)."""
    got = reports.overview(store, db, BEFORE, BEFORE)
    assert 0 == got.views == got.decisions
    assert got.consent_rate is None
    assert got.granted_view_share is None


def test_trend_has_every_day(store: Store, db: str) -> None:
    """One row per day of the range, zero on quiet days; per page when asked."""
    assert [
        reports.DayCount(BEFORE, 0, 0),
        reports.DayCount(DAY, 13, 2),
        reports.DayCount(AFTER, 1, 1),
    ] == reports.trend(store, db, BEFORE, AFTER)
    assert [reports.DayCount(DAY, 7, 2)] == reports.trend(store, db, DAY, DAY, path="/a")
    assert [reports.DayCount(DAY, 6, 2)] == reports.trend(
        store, db, DAY, DAY, path="/a", host="example.org"
    )


def test_engaged_histogram(store: Store, db: str) -> None:
    """Each human view of /a in the bucket of its largest engaged time."""
    got = reports.engaged_histogram(store, db, DAY, DAY, "/a")
    assert [
        (0, 5000, 1),
        (5000, 10000, 0),
        (10000, 30000, 1),
        (30000, 60000, 0),
        (60000, 120000, 1),
        (120000, 300000, 0),
        (300000, None, 1),
    ] == [(b.from_ms, b.to_ms, b.views) for b in got]
    assert [0] * 7 == [b.views for b in reports.engaged_histogram(store, db, DAY, DAY, "/nope")]


def test_scroll_histogram(store: Store, db: str) -> None:
    """Each human view of /a in the bucket of its deepest scroll; 100 % apart."""
    got = reports.scroll_histogram(store, db, DAY, DAY, "/a")
    assert [(0, 25, 1), (25, 50, 0), (50, 75, 1), (75, 100, 1), (100, None, 1)] == [
        (b.from_pct, b.to_pct, b.views) for b in got
    ]


def test_referrers(store: Store, db: str) -> None:
    """Referrer hosts of /a's human views, anonymous ones included; visitors are
    consented ones only."""
    assert [
        reports.Referrer("", 4, 1),
        reports.Referrer("www.google.com", 2, 1),
        reports.Referrer("news.ycombinator.com", 1, 1),
    ] == reports.referrers(store, db, DAY, DAY, "/a")
    assert [reports.Referrer("", 4, 1)] == reports.referrers(store, db, DAY, DAY, "/a", limit=1)


def test_next_pages(store: Store, db: str) -> None:
    """After /a: /b (session A), /c (session B), and two exits (A's second /a, C)."""
    assert [
        reports.NextPage("", 2),
        reports.NextPage("/b", 1),
        reports.NextPage("/c", 1),
    ] == reports.next_pages(store, db, DAY, DAY, "/a")
    assert [reports.NextPage("/a", 1)] == reports.next_pages(store, db, DAY, DAY, "/b")


def test_consent_decisions(store: Store, db: str) -> None:
    """Decisions of the day by revision and action, erasures left out."""
    assert [
        reports.ConsentDay(DAY, 1, "accept_all", 1, 1),
        reports.ConsentDay(DAY, 1, "reject_all", 1, 0),
        reports.ConsentDay(DAY, 2, "custom", 2, 1),
        reports.ConsentDay(DAY, 2, "gpc", 1, 0),
        reports.ConsentDay(DAY, 2, "withdraw", 1, 0),
    ] == reports.consent_decisions(store, db, DAY, DAY)


def test_gpc_share(store: Store, db: str) -> None:
    """One decision in six came from Global Privacy Control; none without decisions."""
    assert reports.GpcShare(6, 1, pytest.approx(1 / 6)) == reports.gpc_share(store, db, DAY, DAY)
    assert reports.GpcShare(0, 0, None) == reports.gpc_share(store, db, BEFORE, BEFORE)


def test_errors(store: Store, db: str) -> None:
    """404 and 5xx by page and status, bots apart; one page when asked."""
    got = reports.errors(store, db, DAY, DAY)
    assert [("/missing", 404, 2, 1), ("/b", 500, 1, 0)] == [
        (e.path, e.status, e.views, e.bot_views) for e in got
    ]
    assert datetime.datetime(2026, 3, 10, 13, 10) == got[0].last_seen.replace(tzinfo=None)
    assert ["/b"] == [e.path for e in reports.errors(store, db, DAY, DAY, path="/b")]


def test_rows_serialise(store: Store, db: str) -> None:
    """Every report row turns into a plain dict keyed by its columns."""
    row = reports.trend(store, db, DAY, DAY)[0]
    assert {"day": DAY, "views": 13, "visitors": 2} == row.as_dict()
