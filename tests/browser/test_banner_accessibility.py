"""The banner for every visitor, in a real browser: it works without JavaScript and by
keyboard alone, axe-core finds no violation in light or dark mode, it shifts no layout,
and Accept and Decline carry equal weight."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

pytest.importorskip("playwright", reason="the browser tests need Playwright (the test extra)")

from playwright.sync_api import expect

from tests.browser.banner import (
    ACCEPT,
    BANNER,
    DECLINE,
    consent_state,
    cookie_jar,
    decide,
    wait_for_animations,
)
from tests.helpers import ROOT

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

    from tests.browser.live import LiveServer, NewContext

pytest_plugins = ["tests.browser.live"]  # live_server, live, browser, new_context, context, page
pytestmark = pytest.mark.browser

AXE_SCRIPT = ROOT / "js" / "node_modules" / "axe-core" / "axe.min.js"


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
