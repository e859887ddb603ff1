"""Embeds held back until consent, in a real browser: nothing loads before a choice;
"Load once" loads one embed once; "Always allow" records the category and the page
comes back with it; accepting in the banner loads them in place; without JavaScript the
placeholder is a plain link; axe-core finds nothing in the placeholder."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

pytest.importorskip("playwright", reason="the browser tests need Playwright (the test extra)")

from playwright.sync_api import expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.testing import MemorySink
from tests.browser.banner import ACCEPT, BANNER, consent_state, wait_for_animations
from tests.browser.test_banner_accessibility import AXE_SCRIPT

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.live import LiveServer, NewContext

pytest_plugins = ["tests.browser.live"]
pytestmark = pytest.mark.browser

PLACEHOLDER = ".cl-embed"
LOAD_ONCE = f"{PLACEHOLDER} [data-consent-load]"
ALWAYS = f"{PLACEHOLDER} button[value=allow]"


class Site:
    """A page with a video embed and a widget whose script makes an iframe; it counts
    what the browser fetched of the third party (here: the same server)."""

    def __init__(self) -> None:
        self.fetched: list[str] = []

    async def page(self, request: Request) -> HTMLResponse:
        base = str(request.base_url).rstrip("/")
        return HTMLResponse(
            '<!doctype html><html lang="en"><head><title>Talk</title></head><body><main>'
            "<h1>The talk</h1>"
            f'<iframe data-consent-src="{base}/video" data-consent="marketing" width="480"'
            ' height="270" title="The talk, on video" data-consent-provider="VideoHost">'
            "</iframe>"
            f'<div data-consent-embed="marketing" data-consent-provider="PostHost"'
            f' data-consent-href="{base}/post"><p>A post about the talk.</p>'
            f'<script type="text/plain" data-consent="marketing" src="{base}/widget.js">'
            "</script></div></main></body></html>"
        )

    async def video(self, request: Request) -> HTMLResponse:
        self.fetched.append("video")
        return HTMLResponse("<!doctype html><title>video</title><p>playing</p>")

    async def widget(self, request: Request) -> Response:
        self.fetched.append("widget")
        script = (
            "var f=document.createElement('iframe');f.title='post';f.id='made';"
            "document.currentScript.parentNode.appendChild(f);"
        )
        return Response(script, media_type="text/javascript")

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/", self.page),
                Route("/video", self.video),
                Route("/widget.js", self.widget),
            ]
        )


@pytest.fixture
def site() -> Iterator[tuple[LiveServer, Site]]:
    from tests.browser.live import SECRET, serve  # a plugin module: imported once loaded

    host = Site()
    live = serve(ConsentMiddleware(host.app(), secret_keys=[SECRET], writer=MemorySink()))
    yield live, host
    live.stop()


def test_load_once_loads_one_embed_and_decides_nothing(
    site: tuple[LiveServer, Site], page: Page
) -> None:
    """Before a choice nothing of the third party is fetched; "Load once" loads the
    video (focus on it) and, on the widget, runs its script; no cookie is set; on the
    next page view both are held back again."""
    live, host = site
    page.goto(live("/"))
    expect(page.locator(PLACEHOLDER).first).to_contain_text("VideoHost")
    expect(page.locator(PLACEHOLDER).first).to_contain_text("“Marketing”")
    assert [] == host.fetched
    page.locator(LOAD_ONCE).first.click()
    expect(page.locator('iframe[title="The talk, on video"]')).to_be_visible()
    expect(page.frame_locator('iframe[title="The talk, on video"]').locator("p")).to_have_text(
        "playing"
    )
    page.locator(LOAD_ONCE).click()  # the widget's, the one left
    expect(page.locator("#made")).to_be_attached()
    assert ["video", "widget"] == host.fetched
    assert [] == page.context.cookies()
    page.reload()
    expect(page.locator(PLACEHOLDER)).to_have_count(2)


def test_always_allow_records_marketing_and_the_page_comes_back_with_it(
    site: tuple[LiveServer, Site], page: Page
) -> None:
    """The "Always allow" button is a decision for marketing alone: the page returns with the
    embed loaded by the server and the widget's script run; the banner is gone."""
    live, _ = site
    page.goto(live("/"))
    with page.expect_navigation():
        page.locator(ALWAYS).first.click()
    expect(page.locator(PLACEHOLDER)).to_have_count(0)
    expect(page.locator('iframe[src$="/video"]')).to_be_visible()
    expect(page.locator("#made")).to_be_attached()
    expect(page.locator(BANNER)).to_be_hidden()
    categories = consent_state(page.context, live)["categories"]
    assert (True, False) == (categories["marketing"], categories["analytics"])


def test_accepting_in_the_banner_loads_the_embeds_in_place(
    site: tuple[LiveServer, Site], page: Page
) -> None:
    """Accept in the banner: the placeholders give way without a reload."""
    live, _ = site
    page.goto(live("/"))
    page.evaluate("() => { window.stayed = true; }")
    page.locator(ACCEPT).click()
    expect(page.locator(PLACEHOLDER)).to_have_count(0)
    expect(page.locator('iframe[title="The talk, on video"]')).to_be_visible()
    expect(page.locator("#made")).to_be_attached()
    assert page.evaluate("() => window.stayed === true")


def test_without_javascript_the_placeholder_is_a_link(
    site: tuple[LiveServer, Site], new_context: NewContext
) -> None:
    """No script: no "Load once" button, a plain link to the content, and "Always
    allow" still works (a form)."""
    live, host = site
    page = new_context(java_script_enabled=False).new_page()
    page.goto(live("/"))
    expect(page.locator(LOAD_ONCE).first).to_be_hidden()
    link = page.locator(f"{PLACEHOLDER} a").first
    expect(link).to_have_text("Open this content on VideoHost")
    assert live("/video") == link.get_attribute("href")
    page.locator(ALWAYS).first.click()
    page.wait_for_load_state()
    expect(page.locator('iframe[src$="/video"]')).to_be_attached()
    assert [] == [n for n in host.fetched if n == "widget"]  # scripts need JavaScript


def test_the_placeholder_has_no_axe_violations(site: tuple[LiveServer, Site], page: Page) -> None:
    """axe-core finds nothing in either placeholder, light and dark."""
    live, _ = site
    found: dict[str, list[dict[str, Any]]] = {}
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.goto(live("/"))
        expect(page.locator(LOAD_ONCE).first).to_be_visible()
        wait_for_animations(page)
        page.add_script_tag(path=AXE_SCRIPT)
        violations = page.evaluate(
            "async () => (await axe.run({include: [['.cl-embed']]})).violations"
        )
        found[scheme] = [
            {"id": v["id"], "nodes": [n["html"][:80] for n in v["nodes"]]} for v in violations
        ]
    assert {"light": [], "dark": []} == found
