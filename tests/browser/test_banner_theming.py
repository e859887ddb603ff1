"""Themes and placements in a real browser: each theme keeps its colours whatever the
system prefers (``auto`` follows it), each placement sits where it says, and axe-core
finds no contrast or other violation in any of them; the vote widget is styled."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

pytest.importorskip("playwright", reason="the browser tests need Playwright (the test extra)")

from playwright.sync_api import expect

from tests.browser.banner import ACCEPT, BANNER, SETTINGS, decide, wait_for_animations
from tests.browser.test_banner_accessibility import AXE_SCRIPT
from tests.helpers import HUMAN

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.live import LiveServer, NewContext, StartServer

pytest_plugins = ["tests.browser.live"]
pytestmark = pytest.mark.browser

LIGHT, DARK = "rgb(255, 255, 255)", "rgb(30, 30, 30)"


def violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's findings on the banner, Settings open."""
    page.locator(SETTINGS).click()
    wait_for_animations(page)
    page.add_script_tag(path=AXE_SCRIPT)
    found = page.evaluate(
        "async () => (await axe.run(document.getElementById('cl-banner'))).violations"
    )
    return [{"id": v["id"], "nodes": [n["html"][:100] for n in v["nodes"]]} for v in found]


@pytest.mark.parametrize(
    ("theme", "scheme", "background"),
    [
        ("light", "light", LIGHT),
        ("light", "dark", LIGHT),
        ("dark", "light", DARK),
        ("dark", "dark", DARK),
        ("auto", "light", LIGHT),
        ("auto", "dark", DARK),
    ],
)
def test_each_theme_keeps_its_colours_and_passes_axe(
    live_server: StartServer,
    new_context: NewContext,
    theme: str,
    scheme: str,
    background: str,
) -> None:
    """``light`` and ``dark`` ignore the system's preference, ``auto`` follows it; axe
    finds nothing, contrast included."""
    live = live_server(banner_theme=theme)
    page = new_context(color_scheme=scheme).new_page()
    page.goto(live("/"))
    banner = page.locator(BANNER)
    expect(banner).to_be_visible()
    wait_for_animations(page)
    assert background == banner.evaluate("(el) => getComputedStyle(el).backgroundColor")
    assert [] == violations(page)


@pytest.mark.parametrize("position", ["box", "bar", "dialog"])
def test_each_placement_sits_where_it_says(
    live_server: StartServer, new_context: NewContext, position: str
) -> None:
    """``box``: a card above the bottom edge; ``bar``: the full width on the bottom edge;
    ``dialog``: centred in the window. The page under it stays usable; axe finds
    nothing."""
    live = live_server(banner_position=position)
    page = new_context(viewport={"width": 1280, "height": 720}).new_page()
    page.goto(live("/"))
    banner = page.locator(BANNER)
    expect(banner).to_be_visible()
    wait_for_animations(page)
    box = banner.bounding_box()
    assert box is not None
    left, top, width, height = box["x"], box["y"], box["width"], box["height"]
    if position == "bar":
        assert (0, 1280, 720) == (left, width, round(top + height))
    elif position == "dialog":
        assert abs((top + height / 2) - 360) <= 2, box
        assert abs((left + width / 2) - 640) <= 2, box
    else:
        assert 0 < left, box
        assert left + width < 1280, box
        assert 700 <= top + height < 720, box
    page.locator("header nav a").last.click()  # the page is not blocked
    page.wait_for_load_state()
    assert [] == violations(page)


def test_the_vote_widget_is_styled(live: LiveServer, new_context: NewContext) -> None:
    """The filled widget is a row of its question and two outlined buttons of at least
    44 px, in the page's text colour."""
    page = new_context(user_agent=HUMAN).new_page()
    page.goto(live("/docs/getting-started"))
    decide(page, ACCEPT)
    widget = page.locator(".cl-vote")
    expect(widget).to_be_visible()
    style = widget.locator("button").first.evaluate(
        """(b) => { const s = getComputedStyle(b), p = getComputedStyle(b.parentNode);
        return [s.borderTopStyle, s.color === p.color, b.getBoundingClientRect().height >= 44,
                p.display]; }"""
    )
    assert ["solid", True, True, "flex"] == style


def _docs_example() -> str:
    """The CSS example of docs/banner.md's "Theming and placement"."""
    docs = (Path(__file__).parents[2] / "docs" / "banner.md").read_text("utf-8")
    section = docs.split("## Theming and placement", 1)[1]
    return section.split("```css\n", 1)[1].split("```", 1)[0]


@pytest.mark.parametrize(
    ("theme", "scheme", "button"),
    [
        ("light", "dark", "rgb(11, 107, 58)"),
        ("dark", "light", "rgb(127, 214, 164)"),
        ("auto", "dark", "rgb(127, 214, 164)"),
        ("auto", "light", "rgb(11, 107, 58)"),
    ],
)
def test_the_docs_theming_example_passes_axe_in_every_theme(
    live_server: StartServer, new_context: NewContext, theme: str, scheme: str, button: str
) -> None:
    """The documented override, added to the page as a site would, takes effect and
    keeps every contrast, whichever way the banner is light or dark."""
    live = live_server(banner_theme=theme)
    page = new_context(color_scheme=scheme).new_page()
    page.goto(live("/"))
    page.add_style_tag(content=_docs_example())
    expect(page.locator(BANNER)).to_be_visible()
    wait_for_animations(page)
    assert button == page.locator(ACCEPT).evaluate("(el) => getComputedStyle(el).backgroundColor")
    assert [] == violations(page)
