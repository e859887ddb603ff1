"""Steps for the banner's browser tests: its selectors, what a page row looks like without
consent, and the moves a visitor makes (follow a link, decide, read the cookie jar).

Each test gets a fresh browser context (no cookies) and its own database; the demo runs
under uvicorn in a background thread (see ``tests/browser/live.py``). Import this module
after ``pytest.importorskip("playwright")``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from playwright.sync_api import expect

from tests.helpers import rows

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Cookie, Page

    from tests.browser.live import LiveServer


TRAFFIC_COOKIES = frozenset(("cl_vid", "cl_sid"))

BANNER = "#cl-banner"
ACCEPT = f"{BANNER} button[value=accept_all]"
DECLINE = f"{BANNER} button[value=reject_all]"
SETTINGS = f"{BANNER} details.cl-settings > summary"
ANALYTICS_BOX = f"{BANNER} input[name=category][value=analytics]"
SAVE = f"{BANNER} button[value=custom]"
REOPEN = "footer a[data-consent-open]"

PAGE_ROWS = (  # the pages as served: not the consented copy of the page accepted on
    "SELECT path, consent_state, visitor_id, session_id, ip_prefix"
    " FROM {db}.page_requests WHERE NOT consented_copy ORDER BY ts, path"
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


def consent_state(context: BrowserContext, live: LiveServer) -> dict[str, Any]:
    """``GET /_consent`` with the context's cookies."""
    response = context.request.get(live("/_consent"))
    assert 200 == response.status
    state: dict[str, Any] = response.json()
    return state
