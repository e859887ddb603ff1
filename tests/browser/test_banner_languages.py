"""The banner in the visitor's language, in a real browser: chosen from the browser's
languages, marked with ``lang`` and ``dir``, laid out right to left for Arabic and
Hebrew, without an axe-core violation either way; the vote widget speaks it too."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

pytest.importorskip("playwright", reason="the browser tests need Playwright (the test extra)")

from playwright.sync_api import expect

from consentlog.texts import shipped
from tests.browser.banner import ACCEPT, BANNER, DECLINE, SETTINGS, decide, wait_for_animations
from tests.browser.test_banner_accessibility import AXE_SCRIPT
from tests.helpers import HUMAN

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.live import LiveServer, NewContext

pytest_plugins = ["tests.browser.live"]
pytestmark = pytest.mark.browser


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's findings on the banner, with its Settings layer open."""
    page.locator(SETTINGS).click()
    wait_for_animations(page)
    page.add_script_tag(path=AXE_SCRIPT)
    violations = page.evaluate(
        "async () => (await axe.run(document.getElementById('cl-banner'))).violations"
    )
    return [{"id": v["id"], "nodes": [n["html"][:120] for n in v["nodes"]]} for v in violations]


@pytest.mark.parametrize(
    ("locale", "tag", "direction"),
    [
        ("de-AT", "de", "ltr"),
        ("ar-EG", "ar", "rtl"),
        ("he-IL", "he", "rtl"),
        ("pt-BR", "pt-BR", "ltr"),
    ],
)
def test_the_banner_speaks_the_browser_language(
    live: LiveServer, new_context: NewContext, locale: str, tag: str, direction: str
) -> None:
    """A browser set to ``locale`` gets that language's banner, marked ``lang`` and
    ``dir``; right to left, Decline (first in the markup) sits right of Accept; axe-core
    finds nothing, Settings open."""
    page = new_context(locale=locale).new_page()
    page.goto(live("/"))
    banner = page.locator(BANNER)
    expect(banner).to_be_visible()
    words = shipped()[tag]
    assert (tag, direction) == (banner.get_attribute("lang"), banner.get_attribute("dir"))
    assert direction == banner.evaluate("(el) => getComputedStyle(el).direction")
    expect(page.locator(ACCEPT)).to_have_text(words["accept"])
    expect(page.locator(DECLINE)).to_have_text(words["decline"])
    expect(banner.locator("h2")).to_have_text(words["title"])
    decline_x = page.locator(DECLINE).bounding_box()["x"]  # type: ignore[index]
    accept_x = page.locator(ACCEPT).bounding_box()["x"]  # type: ignore[index]
    assert (decline_x > accept_x) == (direction == "rtl")
    assert [] == axe_violations(page)
    expect(banner.locator(".cl-cat b").nth(1)).to_have_text(words["analytics_label"])


def test_the_vote_widget_speaks_the_visitor_language(
    live: LiveServer, new_context: NewContext
) -> None:
    """After accepting in Japanese, the page's "was this useful?" widget asks in
    Japanese and thanks in Japanese."""
    page = new_context(locale="ja-JP", user_agent=HUMAN).new_page()
    page.goto(live("/docs/getting-started"))
    decide(page, ACCEPT)
    words = shipped()["ja"]
    widget = page.locator("[data-consent-feedback]")
    expect(widget).to_have_attribute("aria-label", words["feedback_question"])
    expect(widget.locator("button")).to_have_text([words["feedback_yes"], words["feedback_no"]])
    widget.locator("button").first.click()
    expect(widget).to_have_text(words["feedback_thanks"])
    page.reload()  # a decided visitor's page: the words come from the script tag
    expect(page.locator("[data-consent-feedback] button")).to_have_text(
        [words["feedback_yes"], words["feedback_no"]]
    )
