"""The visitor's flow in a real browser: Debian's Chromium against the live demo site.

Each test gets a fresh browser context (no cookies) and its own database; the demo runs
under uvicorn in a background thread (see ``tests/browser/live.py``).
"""

from __future__ import annotations

import base64
import json
import re
import zlib
from typing import TYPE_CHECKING, Any

import pytest

pytest.importorskip("playwright", reason="the browser tests need Playwright (the test extra)")

from playwright.sync_api import expect

from tests.helpers import ROOT, rows

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Cookie, Page

    from tests.browser.live import LiveServer, NewContext, StartServer

pytest_plugins = ["tests.browser.live"]  # live_server, live, browser, new_context, context, page
pytestmark = pytest.mark.browser

AXE_SCRIPT = ROOT / "js" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts"
TRAFFIC_COOKIES = frozenset(("cl_vid", "cl_sid"))

BANNER = "#cl-banner"
ACCEPT = f"{BANNER} button[value=accept_all]"
DECLINE = f"{BANNER} button[value=reject_all]"
SETTINGS = f"{BANNER} details.cl-settings > summary"
ANALYTICS_BOX = f"{BANNER} input[name=category][value=analytics]"
SAVE = f"{BANNER} button[value=custom]"
REOPEN = "footer a[data-consent-open]"

PAGE_ROWS = (
    "SELECT path, consent_state, visitor_id, session_id, ip_prefix"
    " FROM {db}.page_requests ORDER BY ts, path"
)


def anonymous(path: str, state: str) -> dict[str, Any]:
    """A page_requests row as it must look without analytics consent."""
    return {
        "path": path,
        "consent_state": state,
        "visitor_id": "",
        "session_id": "",
        "ip_prefix": "",
    }


def page_rows(live: LiveServer) -> list[dict[str, Any]]:
    """This test's page_requests rows, oldest first (the writer is flushed first)."""
    return rows(live.app, PAGE_ROWS)


def nav(page: Page, href: str) -> None:
    """Follow the site's main navigation link to ``href`` and wait for the new page."""
    page.click(f"nav a[href='{href}']")
    page.wait_for_url(re.compile(re.escape(href) + "$"))


def decide(page: Page, button: str) -> None:
    """Click a banner button and wait until the banner is gone (the decision answered)."""
    page.click(button)
    expect(page.locator(BANNER)).to_be_hidden()


def cookie_jar(context: BrowserContext) -> dict[str, Cookie]:
    """The context's cookies by name (cookies are per host, and every server is 127.0.0.1)."""
    return {c["name"]: c for c in context.cookies()}


def wait_for_animations(page: Page) -> None:
    """Let running CSS animations (the banner's entrance) finish."""
    page.evaluate("() => Promise.all(document.getAnimations().map((a) => a.finished))")


def forge(value: str) -> str:
    """A consent cookie ``value`` with its payload edited and the old signature kept.

    (Editing the signature's last character is not a reliable forgery: base64 ignores its
    two lowest bits, so some such edits decode to the same signature.)
    """
    compressed = value.startswith(".")  # how itsdangerous marks a zlib-compressed payload
    payload, timestamp, signature = value.removeprefix(".").split(".")
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    data = json.loads(zlib.decompress(raw) if compressed else raw)
    data["i"] = "forged-consent-id"
    raw = json.dumps(data, separators=(",", ":")).encode()
    edited = base64.urlsafe_b64encode(zlib.compress(raw) if compressed else raw)
    return "." * compressed + f"{edited.rstrip(b'=').decode()}.{timestamp}.{signature}"


def consent_state(context: BrowserContext, live: LiveServer) -> dict[str, Any]:
    """``GET /_consent`` with the context's cookies."""
    response = context.request.get(live("/_consent"))
    assert 200 == response.status
    state: dict[str, Any] = response.json()
    return state


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
    """Accept sets the consent and HttpOnly traffic cookies, hides the banner for good, and
    later page requests carry one visitor id."""
    page.goto(live("/"))
    decide(page, ACCEPT)

    jar = cookie_jar(context)
    assert {"cl_consent", "cl_vid", "cl_sid"} <= set(jar)
    assert False is jar["cl_consent"]["httpOnly"]
    assert True is jar["cl_vid"]["httpOnly"]
    assert True is jar["cl_sid"]["httpOnly"]
    assert {"Lax"} == {jar[name]["sameSite"] for name in ("cl_consent", "cl_vid", "cl_sid")}
    visitor, session = jar["cl_vid"]["value"], jar["cl_sid"]["value"]
    assert len(visitor) >= 22  # 128 random bits, url-safe base64

    page.reload()
    expect(page.locator(BANNER)).to_be_hidden()
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


def test_policy_revision_bump_brings_the_banner_back(
    live_server: StartServer, context: BrowserContext, page: Page
) -> None:
    """A decision taken under policy revision 1 is stale under revision 2: the banner returns
    with the "policy changed" notice."""
    first = live_server()
    page.goto(first("/"))
    decide(page, ACCEPT)
    consent = cookie_jar(context)["cl_consent"]

    second = live_server(policy_revision=2)
    # Chromium scopes cookies by host, not port, so this is a no-op there; it keeps the
    # test right in a browser that binds cookies to the port.
    context.add_cookies([{"name": "cl_consent", "value": consent["value"], "url": second()}])
    page.goto(second("/docs"))
    banner = page.locator(BANNER)
    expect(banner).to_be_visible()
    expect(banner.locator(".cl-notice")).to_have_text(re.compile("policy has changed"))
    assert True is consent_state(context, second)["policy_changed"]
    assert set() == TRAFFIC_COOKIES & set(cookie_jar(context))  # fails closed

    decide(page, DECLINE)
    page.reload()
    expect(banner).to_be_hidden()
    expect(banner.locator(".cl-notice")).to_have_count(0)
    state = consent_state(context, second)
    assert (True, 2, False) == (state["decided"], state["policy_revision"], state["policy_changed"])


def test_global_privacy_control_is_a_refusal_without_banner(
    live: LiveServer, new_context: NewContext
) -> None:
    """With `Sec-GPC: 1` no banner shows, no traffic cookie is set and pages log as denied."""
    context = new_context(extra_http_headers={"Sec-GPC": "1"})
    page = context.new_page()
    page.goto(live("/"))
    expect(page.locator(BANNER)).to_be_hidden()
    nav(page, "/docs")
    nav(page, "/pricing")
    expect(page.locator(BANNER)).to_be_hidden()

    assert ["cl_consent"] == [c["name"] for c in context.cookies()]
    state = consent_state(context, live)
    assert (True, "gpc", False) == (state["gpc"], state["source"], state["categories"]["analytics"])
    assert [
        anonymous("/", "denied"),
        anonymous("/docs", "denied"),
        anonymous("/pricing", "denied"),
    ] == page_rows(live)


def test_explicit_opt_in_wins_over_global_privacy_control(
    live: LiveServer, new_context: NewContext
) -> None:
    """A GPC visitor who opts in through Cookie settings gets the traffic cookies."""
    context = new_context(extra_http_headers={"Sec-GPC": "1"})
    page = context.new_page()
    page.goto(live("/"))
    page.click(REOPEN)
    page.check(ANALYTICS_BOX)
    decide(page, SAVE)

    assert TRAFFIC_COOKIES <= set(cookie_jar(context))
    page.reload()
    expect(page.locator(BANNER)).to_be_hidden()
    assert "granted" == page_rows(live)[-1]["consent_state"]


def test_banner_works_without_javascript(live: LiveServer, new_context: NewContext) -> None:
    """Without JavaScript, Accept posts the form and the server answers 303 back to the page."""
    context = new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(live("/docs/getting-started?ref=nojs"))
    expect(page.locator(BANNER)).to_be_visible()

    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click(ACCEPT)
    page.wait_for_load_state()
    response = posted.value
    assert (303, "/docs/getting-started?ref=nojs") == (
        response.status,
        response.header_value("location"),
    )
    assert live("/docs/getting-started?ref=nojs") == page.url
    assert {"cl_consent", "cl_vid", "cl_sid"} <= set(cookie_jar(context))
    expect(page.locator(BANNER)).to_be_hidden()


def test_keyboard_only_decline(live: LiveServer, context: BrowserContext, page: Page) -> None:
    """Tabbing reaches Decline with a visible focus ring, and Enter records the refusal."""
    page.goto(live("/"))
    expect(page.locator(BANNER)).to_be_visible()
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.value") == "reject_all":
            break
    assert "reject_all" == page.evaluate("() => document.activeElement.value")

    ring = page.evaluate(
        """() => {
            const s = getComputedStyle(document.activeElement);
            return {style: s.outlineStyle, width: s.outlineWidth, shadow: s.boxShadow};
        }"""
    )
    assert (ring["style"] != "none" and ring["width"] != "0px") or ring["shadow"] != "none", ring

    page.keyboard.press("Enter")
    expect(page.locator(BANNER)).to_be_hidden()
    assert ["cl_consent"] == [c["name"] for c in context.cookies()]
    assert False is consent_state(context, live)["categories"]["analytics"]


def test_tampered_consent_cookie_counts_as_no_decision(
    live: LiveServer, context: BrowserContext, page: Page
) -> None:
    """A consent cookie whose signature does not verify brings the banner back and the
    traffic cookies are expired."""
    page.goto(live("/"))
    decide(page, ACCEPT)
    consent = cookie_jar(context)["cl_consent"]
    forged = forge(consent["value"])
    context.add_cookies([{"name": "cl_consent", "value": forged, "url": live()}])

    page.reload()
    expect(page.locator(BANNER)).to_be_visible()
    jar = cookie_jar(context)
    assert set() == TRAFFIC_COOKIES & set(jar)
    assert forged != jar.get("cl_consent", {}).get("value")  # the forgery is expired too
    assert anonymous("/", "unknown") == page_rows(live)[-1]


def test_banner_has_no_axe_violations_light_and_dark(live: LiveServer, page: Page) -> None:
    """axe-core finds no accessibility violation in the banner, in light and dark mode."""
    assert AXE_SCRIPT.is_file(), f"{AXE_SCRIPT} missing: run `npm ci --prefix js`"
    found: dict[str, list[dict[str, Any]]] = {}
    backgrounds: set[str] = set()
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.goto(live("/"))
        expect(page.locator(BANNER)).to_be_visible()
        wait_for_animations(page)
        backgrounds.add(
            page.locator(BANNER).evaluate("(el) => getComputedStyle(el).backgroundColor")
        )
        page.add_script_tag(path=AXE_SCRIPT)
        violations = page.evaluate(
            "async () => (await axe.run(document.getElementById('cl-banner'))).violations"
        )
        found[scheme] = [
            {"id": v["id"], "nodes": [n["html"][:120] for n in v["nodes"]]} for v in violations
        ]
    assert {"light": [], "dark": []} == found
    assert 2 == len(backgrounds), "the dark scheme did not restyle the banner"


def test_banner_causes_no_layout_shift(live: LiveServer, page: Page) -> None:
    """The banner is a fixed overlay: the page content sits where it would without it."""
    page.goto(live("/docs"))
    banner = page.locator(BANNER)
    expect(banner).to_be_visible()
    assert "fixed" == banner.evaluate("(el) => getComputedStyle(el).position")
    main_top = "() => document.querySelector('main').getBoundingClientRect().top"
    with_banner = page.evaluate(main_top)
    decide(page, DECLINE)
    assert with_banner == page.evaluate(main_top)
    page.reload()
    assert with_banner == page.evaluate(main_top)


def test_consent_gated_tag_runs_only_after_accept(live: LiveServer, page: Page) -> None:
    """The pricing page's analytics tag stays inert until Accept, then runs without a reload."""
    page.goto(live("/pricing"))
    expect(page.locator(BANNER)).to_be_visible()
    assert "undefined" == page.evaluate("() => typeof window.demoAnalyticsLoaded")
    page.evaluate("() => { window.sameDocument = true; }")
    decide(page, ACCEPT)
    page.wait_for_function("() => window.demoAnalyticsLoaded === true")
    assert True is page.evaluate("() => window.sameDocument")  # no reload happened


def test_accept_and_decline_have_equal_weight(live: LiveServer, page: Page) -> None:
    """Accept and Decline look alike: same font, colours, border and height, width within 10%."""
    page.goto(live("/"))
    expect(page.locator(BANNER)).to_be_visible()
    look = """(el) => {
        const s = getComputedStyle(el);
        const box = el.getBoundingClientRect();
        return {
            style: [s.fontSize, s.fontWeight, s.fontFamily, s.backgroundColor, s.color,
                    s.borderTopWidth, s.borderTopStyle, s.borderTopColor, s.borderRadius],
            height: box.height,
            width: box.width,
        };
    }"""
    for width, height in ((1280, 720), (360, 740)):
        page.set_viewport_size({"width": width, "height": height})
        accept = page.locator(ACCEPT).evaluate(look)
        decline = page.locator(DECLINE).evaluate(look)
        assert accept["style"] == decline["style"]
        assert accept["height"] == decline["height"]
        assert abs(accept["width"] - decline["width"]) <= 0.1 * max(
            accept["width"], decline["width"]
        ), (width, accept["width"], decline["width"])
