"""Google Consent Mode v2 in a real browser: the page's own gtag config in ``<head>``
runs after consentlog's default, under a strict nonce CSP, and every decision is an
update in ``dataLayer``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

pytest.importorskip("playwright", reason="the browser tests need Playwright (the test extra)")

from playwright.sync_api import expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.testing import MemorySink
from tests.browser.banner import ACCEPT, BANNER, DECLINE, decide

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.live import LiveServer

pytest_plugins = ["tests.browser.live"]
pytestmark = pytest.mark.browser

NONCE = "cHJvb2Ytb2YtY29uc2VudA"
# a page as Google's snippet tells sites to write it: gtag configured in <head>
PAGE = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title>
<script nonce="{NONCE}">window.dataLayer = window.dataLayer || [];
function gtag(){{dataLayer.push(arguments);}}
gtag('js', new Date()); gtag('config', 'G-TEST123');</script>
</head><body><main><h1>Shop</h1></main></body></html>"""
# [command, name] of each dataLayer entry, and the analytics/ad state of consent entries
LAYER = """() => dataLayer.map((a) => [a[0], a[0] === 'js' ? 'date' : a[1],
  a[2] && a[2].analytics_storage || null, a[2] && a[2].ad_storage || null])"""


async def _page(request: Request) -> HTMLResponse:
    csp = f"script-src 'nonce-{NONCE}' 'self'; style-src 'self'"
    return HTMLResponse(PAGE, headers={"content-security-policy": csp})


class WithNonce:
    """The host's own CSP middleware, outside consentlog: hands it the nonce."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})["csp_nonce"] = NONCE
        await self.app(scope, receive, send)


@pytest.fixture
def shop() -> Iterator[LiveServer]:
    """The page above behind consentlog with ``consent_mode`` on, served live."""
    from tests.browser.live import SECRET, serve  # a plugin module: imported once loaded

    host = WithNonce(Starlette(routes=[Route("/", _page)]))
    app = ConsentMiddleware(host, secret_keys=[SECRET], writer=MemorySink(), consent_mode="on")
    live = serve(app)
    yield live
    live.stop()


def layer(page: Page) -> list[list[Any]]:
    return [list(entry) for entry in page.evaluate(LAYER)]


def test_the_default_precedes_the_config_and_each_decision_updates(
    shop: LiveServer, page: Page
) -> None:
    """``dataLayer`` holds consentlog's denied default before the page's ``config``;
    Accept appends a granted update; the next page starts from the decision; Decline
    (reopened) appends a denied update. No script is blocked by the nonce CSP."""
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else None)
    page.goto(shop("/"))
    expect(page.locator(BANNER)).to_be_visible()
    assert [
        ["consent", "default", "denied", "denied"],
        ["set", "ads_data_redaction", None, None],
        ["js", "date", None, None],
        ["config", "G-TEST123", None, None],
    ] == layer(page)

    decide(page, ACCEPT)
    assert ["consent", "update", "granted", "granted"] == layer(page)[-1]

    page.reload()
    entries = layer(page)
    assert ["consent", "update", "granted", "granted"] == entries[2]  # before the config
    assert ["config", "G-TEST123", None, None] == entries[-1]

    page.evaluate("() => consentlog.open()")
    decide(page, DECLINE)
    assert ["consent", "update", "denied", "denied"] == layer(page)[-1]
    assert [] == blocked
