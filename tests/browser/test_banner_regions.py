"""Regions in a real browser: a visitor from a region the banner asks in sees it; one
from elsewhere gets the operator's default without a banner, can still open Settings,
and their choice then replaces the default."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

pytest.importorskip("playwright", reason="the browser tests need Playwright (the test extra)")

from playwright.sync_api import expect

from tests.browser.banner import ANALYTICS_BOX, BANNER, REOPEN, SAVE, consent_state, cookie_jar

if TYPE_CHECKING:
    from tests.browser.live import NewContext, StartServer

pytest_plugins = ["tests.browser.live"]
pytestmark = pytest.mark.browser


def test_the_banner_asks_only_where_the_operator_requires(
    live_server: StartServer, new_context: NewContext
) -> None:
    """``banner_regions=("EEA", "GB")`` behind a CDN that names the country: Germany
    sees the banner and no cookie; the US gets the denied default (source ``region``),
    no banner, reopens Settings from the footer, accepts analytics, and is measured."""
    live = live_server(
        banner_regions=("EEA", "GB"), country_header="cf-ipcountry", country_database=""
    )
    german = new_context(extra_http_headers={"cf-ipcountry": "DE"})
    page = german.new_page()
    page.goto(live("/"))
    expect(page.locator(BANNER)).to_be_visible()
    assert {} == cookie_jar(german)

    american = new_context(extra_http_headers={"cf-ipcountry": "US"})
    page = american.new_page()
    page.goto(live("/"))
    expect(page.locator(BANNER)).to_have_count(0)  # a decided visitor's page: tags only
    assert ["cl_consent"] == sorted(cookie_jar(american))
    state = consent_state(american, live)
    assert ("region", False) == (state["source"], state["categories"]["analytics"])
    page.locator(REOPEN).click()
    page.locator(ANALYTICS_BOX).check()
    page.locator(SAVE).click()
    expect(page.locator(BANNER)).to_be_hidden()
    assert {"cl_consent", "cl_vid", "cl_sid"} == set(cookie_jar(american))
    assert "banner" == consent_state(american, live)["source"]
