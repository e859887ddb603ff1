"""The script's API for single-page apps, in a real browser: ``consentlog.open()``,
``accepted(category)``, ``onChange(callback)``, and the ``consentlog:ready`` /
``consentlog:change`` events."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

pytest.importorskip("playwright", reason="the browser tests need Playwright (the test extra)")

from playwright.sync_api import expect

from tests.browser.banner import ANALYTICS_BOX, BANNER, SAVE

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.live import LiveServer

pytest_plugins = ["tests.browser.live"]
pytestmark = pytest.mark.browser

# an app that starts before banner.js (deferred, later in the page) and keeps a log
APP = """
window.seen = [];
const log = (kind) => (e) => seen.push([kind, e.detail.analytics === true]);
document.addEventListener('consentlog:ready', log('ready'));
document.addEventListener('consentlog:change', log('event'));
"""


def test_an_app_reads_opens_and_follows_the_decision(live: LiveServer, page: Page) -> None:
    """Before any choice ``accepted('analytics')`` is false; ``open()`` shows Settings;
    saving analytics calls the ``onChange`` callback and fires ``consentlog:change``
    once; ``accepted`` then says true; an unsubscribed callback hears nothing more; on
    the next page ``consentlog:ready`` carries the stored decision."""
    page.add_init_script(APP)
    page.goto(live("/"))
    page.wait_for_function("() => window.seen.length > 0")
    assert [["ready", False]] == page.evaluate("() => window.seen")
    assert False is page.evaluate("() => consentlog.accepted('analytics')")
    page.evaluate(
        """() => { window.calls = [];
        window.stop = consentlog.onChange((c) => calls.push(c.analytics)); }"""
    )
    page.evaluate("() => consentlog.open()")
    expect(page.locator(f"{BANNER} details.cl-settings")).to_have_attribute("open", "")
    page.locator(ANALYTICS_BOX).check()
    page.locator(SAVE).click()
    expect(page.locator(BANNER)).to_be_hidden()
    assert [True] == page.evaluate("() => window.calls")
    assert [["ready", False], ["event", True]] == page.evaluate("() => window.seen")
    assert True is page.evaluate("() => consentlog.accepted('analytics')")
    page.evaluate("() => window.stop()")
    page.evaluate("() => consentlog.open()")
    page.locator(ANALYTICS_BOX).uncheck()
    page.locator(SAVE).click()
    expect(page.locator(BANNER)).to_be_hidden()
    assert [True] == page.evaluate("() => window.calls")
    page.locator(BANNER).wait_for(state="hidden")
    page.reload()
    page.wait_for_function("() => window.seen.length > 0")
    assert [["ready", False]] == page.evaluate("() => window.seen")
