"""When a stored decision no longer holds, in a real browser: a policy revision makes it
stale, Global Privacy Control refuses without a banner (until the visitor opts in), and
a consent cookie with a forged payload counts as no decision."""

from __future__ import annotations

import base64
import json
import re
import zlib
from typing import TYPE_CHECKING

import pytest

pytest.importorskip("playwright", reason="the browser tests need Playwright (the test extra)")

from playwright.sync_api import expect

from tests.browser.banner import (
    ACCEPT,
    ANALYTICS_BOX,
    BANNER,
    DECLINE,
    REOPEN,
    SAVE,
    TRAFFIC_COOKIES,
    anonymous,
    consent_state,
    cookie_jar,
    decide,
    nav,
    page_rows,
)

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

    from tests.browser.live import LiveServer, NewContext, StartServer

pytest_plugins = ["tests.browser.live"]  # live_server, live, browser, new_context, context, page
pytestmark = pytest.mark.browser


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
