"""The visitor's choices in a real browser (Debian's Chromium against the live demo site):
Accept, Decline, Settings and withdrawal, the cookies each leaves and the page rows that
follow; a consent-gated tag runs only after Accept."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

pytest.importorskip("playwright", reason="the browser tests need Playwright (the test extra)")

from playwright.sync_api import expect

from tests.browser.banner import (
    ACCEPT,
    ANALYTICS_BOX,
    BANNER,
    DECLINE,
    REOPEN,
    SAVE,
    SETTINGS,
    TRAFFIC_COOKIES,
    anonymous,
    consent_state,
    cookie_jar,
    decide,
    nav,
    page_rows,
    wait_for_animations,
)
from tests.helpers import ROOT, rows

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

    from tests.browser.live import LiveServer, NewContext

pytest_plugins = ["tests.browser.live"]  # live_server, live, browser, new_context, context, page
pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "test-artifacts"


def test_first_visit_shows_banner_and_sets_no_cookie(
    live: LiveServer, context: BrowserContext, page: Page
) -> None:
    """Before a decision the banner shows, no cookie is set, and pages are logged anonymously."""
    page.goto(live("/"))
    banner = page.locator(BANNER)
    expect(banner).to_be_visible()
    expect(banner).to_have_attribute("role", "dialog")
    expect(banner).to_have_accessible_name("Cookies on this site")
    optional = page.locator(f"{BANNER} input[name=category]:not([disabled])")
    assert ["analytics", "marketing"] == [box.get_attribute("value") for box in optional.all()]
    assert [False, False] == [box.is_checked() for box in optional.all()]  # nothing pre-ticked
    assert [] == context.cookies()

    ARTIFACTS.mkdir(exist_ok=True)
    wait_for_animations(page)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.screenshot(path=ARTIFACTS / "first-visit-1280x800.png")
    page.set_viewport_size({"width": 360, "height": 740})
    page.screenshot(path=ARTIFACTS / "first-visit-360x740.png")

    nav(page, "/docs")
    expect(banner).to_be_visible()
    assert [] == context.cookies()
    nav(page, "/pricing")  # sets _ga / _fbp for consented visitors only
    expect(banner).to_be_visible()
    assert [] == context.cookies()

    assert [
        anonymous("/", "unknown"),
        anonymous("/docs", "unknown"),
        anonymous("/pricing", "unknown"),
    ] == page_rows(live)


def test_accept_sets_traffic_cookies_and_logs_one_visitor(
    live: LiveServer, context: BrowserContext, page: Page
) -> None:
    """Accept sets the consent and traffic cookies, all HttpOnly, hides the banner for
    good (the script reads the decision from the page, not the cookie), and later page
    requests carry one visitor id."""
    page.goto(live("/"))
    decide(page, ACCEPT)

    jar = cookie_jar(context)
    assert {"cl_consent", "cl_vid", "cl_sid"} <= set(jar)
    assert True is jar["cl_consent"]["httpOnly"]
    assert True is jar["cl_vid"]["httpOnly"]
    assert True is jar["cl_sid"]["httpOnly"]
    assert {"Lax"} == {jar[name]["sameSite"] for name in ("cl_consent", "cl_vid", "cl_sid")}
    visitor, session = jar["cl_vid"]["value"], jar["cl_sid"]["value"]
    assert len(visitor) >= 22  # 128 random bits, url-safe base64

    page.reload()
    expect(page.locator(BANNER)).to_be_hidden()
    assert "cl_" not in page.evaluate("document.cookie")
    assert True is page.evaluate("window.consentlog.categories().analytics")
    nav(page, "/docs")
    nav(page, "/about")
    expect(page.locator(BANNER)).to_be_hidden()
    assert visitor == cookie_jar(context)["cl_vid"]["value"]

    logged = page_rows(live)
    assert anonymous("/", "unknown") == logged[0]
    later = logged[1:]
    assert ["/", "/docs", "/about"] == [r["path"] for r in later]
    assert {("granted", visitor, session)} == {
        (r["consent_state"], r["visitor_id"], r["session_id"]) for r in later
    }
    assert all(r["ip_prefix"] for r in later)
    copies = rows(
        live.app,
        "SELECT path, visitor_id, session_id FROM {db}.page_requests WHERE consented_copy",
    )  # the page accepted on, logged again with consent (view counts leave it out)
    assert [{"path": "/", "visitor_id": visitor, "session_id": session}] == copies


def test_decline_keeps_only_the_consent_cookie(
    live: LiveServer, context: BrowserContext, page: Page
) -> None:
    """Decline leaves exactly one cookie (the refusal) and pages stay anonymous."""
    page.goto(live("/"))
    decide(page, DECLINE)
    for href in ("/docs", "/pricing", "/about"):
        nav(page, href)
        expect(page.locator(BANNER)).to_be_hidden()

    assert ["cl_consent"] == [c["name"] for c in context.cookies()]
    assert [
        anonymous("/", "unknown"),
        anonymous("/docs", "denied"),
        anonymous("/pricing", "denied"),
        anonymous("/about", "denied"),
    ] == page_rows(live)


def test_settings_analytics_only_is_an_acceptance(
    live: LiveServer, context: BrowserContext, page: Page
) -> None:
    """Settings → tick analytics → Save choices accepts analytics and sets the traffic cookies."""
    page.goto(live("/"))
    page.click(SETTINGS)
    expect(page.locator(f"{BANNER} input[name=category][value=necessary]")).to_be_disabled()
    page.check(ANALYTICS_BOX)
    decide(page, SAVE)

    assert TRAFFIC_COOKIES <= set(cookie_jar(context))
    state = consent_state(context, live)
    assert True is state["decided"]
    assert {"necessary": True, "analytics": True, "marketing": False} == state["categories"]


def test_withdrawal_from_footer_link_expires_traffic_cookies(
    live: LiveServer, context: BrowserContext, page: Page
) -> None:
    """The footer's data-consent-open link reopens Settings; unticking analytics there
    expires the traffic cookies at once."""
    page.goto(live("/"))
    decide(page, ACCEPT)
    assert TRAFFIC_COOKIES <= set(cookie_jar(context))

    page.click(REOPEN)
    expect(page.locator(BANNER)).to_be_visible()
    expect(page.locator(f"{BANNER} details.cl-settings")).to_have_attribute("open", "")
    expect(page.locator(ANALYTICS_BOX)).to_be_checked()  # shows the stored choice
    page.uncheck(ANALYTICS_BOX)
    decide(page, SAVE)

    jar = cookie_jar(context)
    assert "cl_consent" in jar
    assert set() == TRAFFIC_COOKIES & set(jar)
    assert False is consent_state(context, live)["categories"]["analytics"]
    nav(page, "/docs")
    assert anonymous("/docs", "denied") == page_rows(live)[-1]


def test_consent_gated_tag_runs_only_after_accept(live: LiveServer, page: Page) -> None:
    """The pricing page's analytics tag stays inert until Accept, then runs without a reload."""
    page.goto(live("/pricing"))
    expect(page.locator(BANNER)).to_be_visible()
    assert "undefined" == page.evaluate("() => typeof window.demoAnalyticsLoaded")
    page.evaluate("() => { window.sameDocument = true; }")
    decide(page, ACCEPT)
    page.wait_for_function("() => window.demoAnalyticsLoaded === true")
    assert True is page.evaluate("() => window.sameDocument")  # no reload happened


def test_a_decided_visitors_next_page_fetches_the_banner_only_when_reopened(
    live: LiveServer, context: BrowserContext, page: Page
) -> None:
    """After a decision, pages carry no banner, only the script (with the decision on its
    tag); the footer link fetches the banner, opens Settings with the stored choice, and a
    change there is saved as before."""
    page.goto(live("/"))
    decide(page, ACCEPT)
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url) if "banner.html" in r.url else None)
    nav(page, "/docs")
    tag = page.locator("script[data-decided='1']")
    expect(tag).to_have_count(1)
    assert "analytics" in str(tag.get_attribute("data-accepted")).split()
    expect(page.locator(BANNER)).to_have_count(0)
    assert [] == fetched  # nothing fetched for a page view
    page.click(REOPEN)
    expect(page.locator(BANNER)).to_be_visible()
    expect(page.locator(f"{BANNER} details.cl-settings")).to_have_attribute("open", "")
    expect(page.locator(ANALYTICS_BOX)).to_be_checked()
    assert 1 == len(fetched)
    page.uncheck(ANALYTICS_BOX)
    decide(page, SAVE)
    assert not TRAFFIC_COOKIES & set(cookie_jar(context))
    assert page.url.endswith("/docs")  # changed in place, no navigation


def test_without_javascript_the_settings_link_leads_to_the_settings_page(
    live: LiveServer, new_context: NewContext
) -> None:
    """Without JavaScript the footer link opens the server-rendered settings page, which
    shows the stored choice and returns to the page it was followed from."""
    context = new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(live("/docs/getting-started"))
    with page.expect_navigation():
        page.click(ACCEPT)
    assert TRAFFIC_COOKIES <= set(cookie_jar(context))
    with page.expect_navigation():
        page.click(REOPEN)
    assert live("/_consent/settings") == page.url
    expect(page.locator(BANNER)).to_be_visible()
    expect(page.locator(f"{BANNER} details.cl-settings")).to_have_attribute("open", "")
    expect(page.locator(ANALYTICS_BOX)).to_be_checked()
    page.uncheck(ANALYTICS_BOX)
    with page.expect_navigation():
        page.click(SAVE)
    assert live("/docs/getting-started") == page.url
    assert not TRAFFIC_COOKIES & set(cookie_jar(context))
