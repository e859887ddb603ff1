"""The visitor's own data in a real browser: see it, delete it."""

from __future__ import annotations

import datetime
import json
from typing import TYPE_CHECKING

import pytest

pytest.importorskip("playwright", reason="the browser tests need Playwright (the test extra)")

from playwright.sync_api import expect

from consentlog.analytics.rollup import rebuild_day
from consentlog.privacy.subject import TABLES
from tests.helpers import rows

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from tests.browser.live import LiveServer, NewContext

pytest_plugins = ["tests.browser.live"]
pytestmark = pytest.mark.browser

PAGES = ["/docs", "/pricing", "/about"]
# headless Chromium announces itself and is counted as a bot: be a person's browser
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0"


def visitors_per_page(live: LiveServer) -> dict[str, int]:
    """Distinct visitors per page as the rollup holds them."""
    return {
        r["path"]: r["v"]
        for r in rows(
            live.app,
            "SELECT path, uniqCombined64IfMerge(12)(visitors) AS v"
            " FROM {db}.page_daily GROUP BY path",
        )
    }


def test_see_and_delete_my_data(
    live: LiveServer, new_context: NewContext, browser: Browser
) -> None:
    """Accept, three pages, Settings → See my data lists them (and nothing of another
    visitor); Delete my data → cookies gone, no row holds the visitor id, and the rollup's
    visitor counts drop."""
    me, other = new_context(user_agent=DESKTOP), new_context(user_agent=DESKTOP)
    for context in (me, other):
        page = context.new_page()
        page.goto(live("/"))
        page.get_by_role("button", name="Accept").click()
        expect(page.locator("#cl-banner")).to_be_hidden()  # the decision is stored
        for path in PAGES:
            page.goto(live(path))
        page.close()
    page = me.new_page()
    page.goto(live("/about"))
    visitor = next(c["value"] for c in me.cookies() if c["name"] == "cl_vid")
    today = datetime.datetime.now(datetime.UTC).date()
    rows(live.app, "SELECT 1")  # flush
    rebuild_day(live.app.writer.store, live.app.settings.database, today)
    before = visitors_per_page(live)

    page.locator("[data-consent-open]").first.click()
    with page.context.expect_page() as opened:
        page.get_by_role("link", name="See my data").click()
    data_page = opened.value
    data = json.loads(data_page.locator("body").inner_text())
    paths = [r["path"] for r in data["page_requests"]]
    assert ["/", *PAGES, "/about"] == paths  # "/": the page accepted on, its consented copy
    assert {visitor} == {r["visitor_id"] for r in data["page_requests"]}
    data_page.close()

    page.get_by_role("button", name="Delete my data").click()
    page.wait_for_url(live("/about"))
    assert [] == [c["name"] for c in me.cookies() if c["name"] in {"cl_vid", "cl_sid"}]
    expect(page.locator("#cl-banner")).to_be_visible()
    for table in TABLES:
        assert [] == rows(live.app, f"SELECT 1 FROM {{db}}.{table} WHERE visitor_id = '{visitor}'")
    after = visitors_per_page(live)
    for path in PAGES:
        assert before[path] - 1 == after[path], path
