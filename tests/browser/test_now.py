"""The real-time view in a real browser: an analyst keeps the dashboard's Now page open
while visitors read the demo site; it lists their pages and reloads by itself (no
script) once asked to, so a new visit appears without touching the page again."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

pytest.importorskip("playwright", reason="the browser tests need Playwright (the test extra)")

from playwright.sync_api import expect

from consentlog.demo.app import DASHBOARD_PATH
from tests.helpers import ROOT

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

    from tests.browser.live import NewContext, StartServer

pytest_plugins = ["tests.browser.live"]
pytestmark = pytest.mark.browser

HUMAN = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0"
PASSWORD = "now-view-password"


def _visit(new_context: NewContext, url: str, *, accept: bool) -> None:
    """One visitor reads one page (accepting analytics, or not deciding)."""
    visitor = new_context(user_agent=HUMAN).new_page()
    visitor.goto(url)
    if accept:
        visitor.get_by_role("button", name="Accept").click()
        expect(visitor.locator("#cl-banner")).to_be_hidden()
    visitor.context.close()


def _kpi(page: Page, label: str) -> Locator:
    """The value of the headline number ``label``."""
    return (
        page.locator(".kpi")
        .filter(has=page.locator("dt", has_text=re.compile(f"^{label}$")))
        .locator("dd")
    )


def test_now_lists_the_pages_being_read_and_refreshes_itself(
    live_server: StartServer, new_context: NewContext
) -> None:
    live = live_server(dashboard_password=PASSWORD)
    _visit(new_context, live("/docs/getting-started"), accept=True)
    assert live.app.writer.flush()  # written: the tables exist, the view is in them
    analyst = new_context().new_page()
    analyst.goto(live(f"{DASHBOARD_PATH}/now"))
    analyst.get_by_label("Password or token").fill(PASSWORD)
    analyst.get_by_role("button", name="Log in").click()
    expect(analyst.get_by_role("heading", name="Now", exact=True)).to_be_visible()
    analyst.get_by_role("link", name="Reload every 10 s").click()
    expect(analyst.get_by_role("link", name="Stop reloading")).to_be_visible()
    table = analyst.get_by_role("table", name="Pages viewed in the last five minutes")
    row = table.get_by_role("row").filter(has_text="/docs/getting-started")
    expect(row.get_by_role("cell").nth(0)).to_have_text("1")  # one view (the copy is none)
    expect(row.get_by_role("cell").nth(1)).to_have_text("1")  # one consented visitor
    # the view was served before the decision: an anonymous one; its visitor is counted
    expect(_kpi(analyst, "Views")).to_have_text(re.compile("^1"))
    expect(_kpi(analyst, "Visitors")).to_have_text(re.compile("^1"))
    expect(_kpi(analyst, "Anonymous views")).to_have_text(re.compile("^1"))
    # another visitor arrives on another page, by another host name of the site, without
    # deciding; the analyst does nothing
    _visit(new_context, live("/pricing").replace("127.0.0.1", "localhost"), accept=False)
    assert live.app.writer.flush()
    expect(table.get_by_role("row").filter(has_text="/pricing")).to_be_visible(timeout=20_000)
    expect(_kpi(analyst, "Views")).to_have_text(re.compile("^2"))
    expect(_kpi(analyst, "Anonymous views")).to_have_text(re.compile("^2"))
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    analyst.screenshot(path=str(ROOT / "test-artifacts" / "now.png"), full_page=True)
    # two hosts now: every page offers them; the phone layout still fits
    analyst.set_viewport_size({"width": 390, "height": 844})
    analyst.goto(live(f"{DASHBOARD_PATH}/pages"))
    picker = analyst.get_by_label("Host")
    expect(picker.locator("option")).to_have_count(3)  # all hosts, and each
    picker.select_option(label="127.0.0.1:" + live.url.rsplit(":", 1)[1])
    analyst.get_by_role("button", name="Apply").click()
    expect(analyst.get_by_label("Host")).to_have_value("127.0.0.1:" + live.url.rsplit(":", 1)[1])
    overflow = analyst.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert 0 == overflow
    analyst.screenshot(path=str(ROOT / "test-artifacts" / "pages-host-390.png"), full_page=True)
