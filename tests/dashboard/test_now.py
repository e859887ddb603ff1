"""Now: the last five minutes of human page views, site-wide and by page, equal to an
independent count over the rows (consented copies are no views, bots are left out,
older rows too); the page reloads itself when the analyst asks it to (and says how to
stop), and stores nothing in caches."""

from __future__ import annotations

import datetime
import time
import uuid
from collections import defaultdict
from typing import Any

import pytest
from starlette.testclient import TestClient

from consentlog.analytics.reports import NOW_SECONDS, now_pages, now_totals
from consentlog.dashboard import create_dashboard
from consentlog.ingest.events import PageRequest
from consentlog.ingest.writer import Writer
from consentlog.store import Store
from tests.dashboard.support import PASSWORD, SECRET
from tests.helpers import BOT, HUMAN


def _page(ago: float, path: str, *, host: str = "example.org", visitor: str = "",
          agent: str = HUMAN, copy: bool = False) -> PageRequest:  # fmt: skip
    granted = bool(visitor)
    return PageRequest(
        time.time() - ago, uuid.uuid4().hex, host, path, "", "GET", 200, 100, 1.0, "", "",
        agent, "en", "granted" if granted else "unknown", visitor,
        f"s-{visitor}" if granted else "", "203.0.113.1" if granted else "", copy,
    )  # fmt: skip


def _rows() -> list[PageRequest]:
    """The rows, stamped when the fixture writes them (not when the module is imported:
    the window is five minutes, and a long suite reaches this module later)."""
    return [
        _page(30, "/docs", visitor="a"),
        _page(40, "/docs", visitor="a"),
        _page(50, "/docs", visitor="b"),
        _page(60, "/docs"),  # anonymous
        _page(61, "/docs", visitor="c", copy=True),  # accepted on it: a session, no second view
        _page(70, "/pricing"),
        _page(80, "/pricing", host="shop.example", visitor="d"),
        _page(90, "/docs", agent=BOT),  # a bot
        _page(NOW_SECONDS + 60, "/old", visitor="e"),  # before the window
    ]


ROWS: list[PageRequest] = []  # what ``recent`` wrote


def _expected(rows: list[PageRequest], host: str = "") -> tuple[dict[str, int], dict[Any, Any]]:
    recent = [r for r in rows if time.time() - r.ts < NOW_SECONDS - 5 and r.user_agent != BOT
              and (not host or r.host == host)]  # fmt: skip
    totals = {
        "views": sum(1 for r in recent if not r.consented_copy),
        "visitors": len({r.visitor_id for r in recent if r.visitor_id}),
        "sessions": len({r.session_id for r in recent if r.session_id}),
        "anonymous_views": sum(
            1 for r in recent if not r.consented_copy and r.consent_state != "granted"
        ),
    }
    pages: dict[Any, Any] = defaultdict(lambda: [0, set()])
    for r in recent:
        pages[(r.host, r.path)][0] += not r.consented_copy
        if r.visitor_id:
            pages[(r.host, r.path)][1].add(r.visitor_id)
    return totals, {k: (v[0], len(v[1])) for k, v in pages.items()}


@pytest.fixture(scope="module")
def recent(store: Store, tmp_path_factory: pytest.TempPathFactory) -> str:
    database = f"now_{uuid.uuid4().hex[:8]}"
    writer = Writer(store, database=database, spool_dir=tmp_path_factory.mktemp("spool"),
                    flush_interval=0.05)  # fmt: skip
    ROWS[:] = _rows()
    for row in ROWS:
        writer.submit(row)
    assert writer.stop(60)
    return database


@pytest.mark.parametrize("host", ["", "example.org"])
def test_now_equals_an_independent_count(store: Store, recent: str, host: str) -> None:
    until = datetime.datetime.now(datetime.UTC)
    totals, pages = _expected(ROWS, host)
    assert totals == now_totals(store, recent, until, host=host).as_dict()
    found = now_pages(store, recent, until, host=host)
    assert pages == {(p.host, p.path): (p.views, p.visitors) for p in found}
    assert [p.views for p in found] == sorted((p.views for p in found), reverse=True)


def test_the_now_page_lists_the_pages_and_reloads_itself_when_asked(
    store: Store, recent: str
) -> None:
    app = create_dashboard(store, database=recent, password=PASSWORD, secret_keys=[SECRET])
    client = TestClient(app, base_url="http://testserver")
    client.post("/login", data={"secret": PASSWORD}, follow_redirects=False)
    response = client.get("/now")
    assert 200 == response.status_code
    assert "http-equiv" not in response.text  # no reload the analyst did not ask for
    assert "Reload every 10 s" in response.text
    assert "no-store" == response.headers["cache-control"]
    live = client.get("/now?live=1&host=example.org")
    assert '<meta http-equiv="refresh" content="10">' in live.text
    assert "Stop reloading" in live.text
    assert "/pricing" in live.text
    assert "shop.example" not in live.text.split("<tbody>", 1)[1]  # the host filter holds
    assert "/pricing" in response.text
    assert "shop.example" in response.text  # several hosts: each row names its host
    assert "/old" not in response.text
    for personal in ('"a"', "s-a", "203.0.113"):
        assert personal not in response.text
    data = client.get("/api/now?host=shop.example").json()
    assert data["totals"] == {"views": 1, "visitors": 1, "sessions": 1, "anonymous_views": 0}
    assert [("shop.example", "/pricing", 1, 1)] == [
        (p["host"], p["path"], p["views"], p["visitors"]) for p in data["pages"]
    ]


def test_the_host_picker_offers_the_hosts_of_the_range(store: Store, recent: str) -> None:
    """With pages from two hosts every page offers them (most viewed first) beside the
    dates, and keeps the one chosen; its label names it for a screen reader."""
    app = create_dashboard(store, database=recent, password=PASSWORD, secret_keys=[SECRET])
    client = TestClient(app, base_url="http://testserver")
    client.post("/login", data={"secret": PASSWORD}, follow_redirects=False)
    for route in ("/", "/pages", "/now"):
        page = client.get(route).text
        assert '<label>Host <select name="host">' in page, route
        assert page.index('value="example.org"') < page.index('value="shop.example"')
    chosen = client.get("/pages?host=shop.example").text
    assert '<option value="shop.example" selected>shop.example</option>' in chosen
    assert "/pricing" in chosen
    assert "/docs" not in chosen.split("<tbody", 1)[1]  # the table holds that host's pages
