"""The dashboard in Chromium: every page at laptop and phone widths without horizontal
overflow (screenshots kept), and no axe-core violation in light or dark mode."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from starlette.applications import Starlette

from tests.dashboard.support import PAGES, PASSWORD, RANGE
from tests.helpers import ROOT

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.live import NewContext

pytest_plugins = ["tests.browser.live"]

ARTIFACTS = ROOT / "test-artifacts"
AXE_SCRIPT = ROOT / "js/node_modules/axe-core/axe.min.js"
VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}


@pytest.fixture
def served(app: Starlette) -> Iterator[str]:
    from tests.browser.live import serve  # after pytest_plugins loaded it, so asserts are rewritten

    live = serve(app)  # type: ignore[arg-type]  # any ASGI app serves
    yield live.url
    live.stop()


def _log_in(page: Page, url: str) -> None:
    page.goto(f"{url}/?{RANGE}")
    page.get_by_label("Password or token").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/\?start="))


@pytest.mark.browser
@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_screenshots_at_laptop_and_phone_widths(
    served: str, new_context: NewContext, viewport: str
) -> None:
    """Every page renders in Chromium without horizontal page overflow; screenshots
    are kept in test-artifacts/dashboard-<page>-<width>x<height>.png."""
    width, height = VIEWPORTS[viewport]
    context = new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(f"{served}/login")
    page.screenshot(path=str(ARTIFACTS / f"dashboard-login-{width}x{height}.png"))
    _log_in(page, served)
    for route in PAGES:
        joiner = "&" if "?" in route else "?"
        page.goto(served + route + joiner + RANGE)
        assert 1 == page.locator("h1").count()
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert 0 == overflow, f"{route} overflows by {overflow}px at {width}px"
        name = route.strip("/").split("?")[0].replace("/", "-") or "overview"
        page.screenshot(
            path=str(ARTIFACTS / f"dashboard-{name}-{width}x{height}.png"), full_page=True
        )
    assert [] == errors  # e.g. a Content-Security-Policy violation


@pytest.mark.browser
def test_pages_have_no_axe_violations(served: str, new_context: NewContext) -> None:
    """axe-core finds no accessibility violation on any page, light or dark."""
    context = new_context(bypass_csp=True)  # axe is injected as a script
    page = context.new_page()
    _log_in(page, served)
    found: dict[str, list[str]] = {}
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for route in PAGES:
            joiner = "&" if "?" in route else "?"
            page.goto(served + route + joiner + RANGE)
            page.add_script_tag(path=str(AXE_SCRIPT))
            violations = page.evaluate("async () => (await axe.run(document)).violations")
            found[f"{scheme} {route}"] = [
                f"{v['id']}: {v['nodes'][0]['html'][:100]}" for v in violations
            ]
    assert {k: [] for k in found} == found
