"""Goals in a real browser: a data-consent-goal link of a consented visitor reaches its
goal through the beacon; the trial form is a server goal, counted with or without
consent; a visitor who declined sends no client goal."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

pytest.importorskip("playwright", reason="the browser tests need Playwright (the test extra)")

from playwright.sync_api import expect

from tests.helpers import HUMAN, rows

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.live import LiveServer, NewContext

pytest_plugins = ["tests.browser.live"]
pytestmark = pytest.mark.browser

GOALS_SQL = (
    "SELECT name, kind, path, consent_state, session_id != '' AS in_session, props"
    " FROM {db}.goals ORDER BY ts"
)


def _visit_pricing(page: Page, live: LiveServer, choice: str) -> None:
    page.goto(live("/pricing"))
    page.get_by_role("button", name=choice).click()
    expect(page.locator("#cl-banner")).to_be_hidden()


def test_a_tracked_link_and_the_trial_form_reach_their_goals(
    live: LiveServer, new_context: NewContext
) -> None:
    page = new_context(user_agent=HUMAN).new_page()
    _visit_pricing(page, live, "Accept")  # the page accepted on is measured at once
    page.get_by_role("link", name="Download").click()  # data-consent-goal="download"
    expect(page).to_have_url(live("/docs/getting-started"))
    page.goto(live("/pricing"))
    page.get_by_role("button", name="Start a 30-day trial").click()  # POST /trial 303
    expect(page).to_have_url(live("/docs/getting-started"))
    found = rows(live.app, GOALS_SQL)
    assert [
        ("download", "client", "/pricing", "granted", True, {}),
        ("trial", "server", "/trial", "granted", True, {}),
    ] == [tuple(r.values()) for r in found]


def test_a_visitor_who_declined_reaches_server_goals_only(
    live: LiveServer, new_context: NewContext
) -> None:
    page = new_context(user_agent=HUMAN).new_page()
    _visit_pricing(page, live, "Decline")
    page.get_by_role("link", name="Download").click()
    expect(page).to_have_url(live("/docs/getting-started"))
    page.evaluate("window.consentlog.track('checkout', {plan: 'pro'})")  # no page view: nothing
    page.goto(live("/pricing"))
    page.get_by_role("button", name="Start a 30-day trial").click()
    expect(page).to_have_url(live("/docs/getting-started"))
    found = rows(live.app, GOALS_SQL)
    assert [("trial", "server", "/trial", "denied", False, {})] == [
        tuple(r.values()) for r in found
    ]


def test_consentlog_track_sends_a_custom_event(live: LiveServer, new_context: NewContext) -> None:
    page = new_context(user_agent=HUMAN).new_page()
    _visit_pricing(page, live, "Accept")
    page.evaluate("window.consentlog.track('plan chosen', {plan: 'team', seats: 5})")
    page.goto(live("/about"))
    expect(page.locator("main")).to_be_visible()
    [goal] = rows(live.app, GOALS_SQL)
    assert ("plan chosen", "client", "/pricing", {"plan": "team", "seats": "5"}) == (
        goal["name"], goal["kind"], goal["path"], goal["props"],
    )  # fmt: skip
