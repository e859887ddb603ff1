"""Google Consent Mode v2 from the server: an inline default at the start of ``<head>``,
before anything the page configures, with the visitor's decision as an update."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from consentlog.asgi.consentmode import CONSENT_TYPES
from consentlog.asgi.document import inject
from consentlog.exceptions import ConfigError
from consentlog.settings import Settings
from tests.helpers import SECRET, MakeApp

GTAG_PAGE = (
    "<!DOCTYPE html><html lang=en><HEAD data-x='1'><meta charset=utf-8>"
    "<script>gtag('config','G-1')</script><header>h</header></head><body>b</body></html>"
)
CALL = re.compile(r'gtag\("(consent|set)","(\w+)",(\{[^}]*\}|true)\)')


async def _gtag_page(request: Request) -> HTMLResponse:
    return HTMLResponse(GTAG_PAGE)


def client(make_app: MakeApp, **options: object) -> TestClient:
    app = make_app(Starlette(routes=[Route("/", _gtag_page)]), consent_mode="on", **options)
    return TestClient(app, base_url="http://testserver")


def calls(page: str) -> list[tuple[str, str, object]]:
    """The gtag calls of the inline script, in order (not its listener's)."""
    script = page[page.index("<script") : page.index("document.addEventListener")]
    return [(kind, name, json.loads(value)) for kind, name, value in CALL.findall(script)]


DENIED = dict.fromkeys(
    ("ad_personalization", "ad_storage", "ad_user_data", "analytics_storage"), "denied"
)


def test_every_decision_on_the_page_is_an_update(make_app: MakeApp) -> None:
    """The script listens for banner.js's ``consentlog:change`` and sends an update of
    every type, from the one mapping of types to categories."""
    page = client(make_app).get("/").text
    listener = page[page.index("document.addEventListener") : page.index("</script>")]
    assert '"consentlog:change"' in listener
    found = re.search(r"t=(\{[^}]*\})", listener)
    assert found is not None
    assert CONSENT_TYPES == json.loads(found.group(1))


@pytest.mark.parametrize(
    ("mode", "page", "gets_it"),
    [
        ("auto", GTAG_PAGE, True),
        ("auto", '<html><head></head><body><script type="text/plain" data-consent="analytics" '
                 'src="https://www.googletagmanager.com/gtag/js?id=G-1"></script></body>', True),
        ("auto", "<html><head></head><body>no tags</body></html>", False),
        # a footer snippet, just before </body> (after 60 KB of page)
        ("auto", "<html><head></head><body>" + "<p>text</p>" * 6000
                 + "<script>gtag('config', 'G-1')</script></body></html>", True),
        # no </head> in the page: its first part is its head
        ("auto", "<title>x</title><script src='https://www.googletagmanager.com/gtm.js'>"
                 "</script><p>body</p>", True),
        # a "</head>" in a head script before the tag: the first 4 KB are searched anyway
        ("auto", "<html><head><script>var s = '</head>';</script><script "
                 "src='https://www.googletagmanager.com/gtag/js?id=G-1'></script></head><body>"
                 + "<p>text</p>" * 6000 + "</body></html>", True),
        # after </body>, where a careless template puts it
        ("auto", "<html><head></head><body>" + "<p>text</p>" * 6000
                 + "</body><script>gtag('config', 'G-1')</script></html>", True),
        # a tag in the middle of a long body is not looked for there: consent_mode="on"
        ("auto", "<html><head></head><body>" + "<p>text</p>" * 3000 + "<script>gtag('x')"
                 "</script>" + "<p>text</p>" * 3000 + "</body></html>", False),
        ("on", "<html><head></head><body>no tags</body></html>", True),
        ("off", GTAG_PAGE, False),
    ],
)  # fmt: skip
def test_auto_adds_it_where_google_tags_are(
    make_app: MakeApp, mode: str, page: str, gets_it: bool
) -> None:
    """``auto`` (the default) puts the script on pages whose head or footer mention
    Google's tags, held back ones included; ``on`` on every page; ``off`` on none."""

    async def handler(request: Request) -> HTMLResponse:
        return HTMLResponse(page)

    app = make_app(Starlette(routes=[Route("/", handler)]), consent_mode=mode)
    assert gets_it == ("window.dataLayer" in TestClient(app).get("/").text)


def test_the_default_opens_head_before_the_page_config(make_app: MakeApp) -> None:
    """The script comes right after the ``<head>`` tag, ahead of the page's own gtag
    config; an undecided visitor gets the denied default with ``wait_for_update`` and
    ads data redaction, and no update."""
    page = client(make_app).get("/").text
    opening = "<!DOCTYPE html><html lang=en><HEAD data-x='1'><meta charset=utf-8><script>"
    assert page.startswith(opening + "window.dataLayer")
    assert page.index("</script>") < page.index("gtag('config'")
    assert [
        ("consent", "default", DENIED | {"wait_for_update": 500}),
        ("set", "ads_data_redaction", True),
    ] == calls(page)
    assert len(page.encode()) == int(
        TestClient(client(make_app).app).get("/").headers["content-length"]
    )


@pytest.mark.parametrize(
    ("action", "analytics", "ads"),
    [("accept_all", "granted", "granted"), ("reject_all", "denied", "denied")],
)
def test_a_decided_visitor_gets_their_decision_as_an_update(
    make_app: MakeApp, action: str, analytics: str, ads: str
) -> None:
    """After a decision, the next pages carry it as an update right after the default."""
    browser = client(make_app)
    browser.post("/_consent", json={"action": action})
    for _ in range(2):  # the second from the remembered plan
        update = calls(browser.get("/").text)[-1]
        expected = {"ad_storage": ads, "ad_user_data": ads, "ad_personalization": ads}
        assert ("consent", "update", expected | {"analytics_storage": analytics}) == update


def test_options_regions_and_the_nonce(make_app: MakeApp) -> None:
    """Region defaults follow the default; url_passthrough, no redaction and no wait
    when so configured; the host's CSP nonce is on the script."""
    app = client(
        make_app,
        consent_mode_regions=("US=granted", "US-CA US-CO=denied"),
        consent_mode_wait_for_update=0,
        consent_mode_ads_data_redaction=False,
        consent_mode_url_passthrough=True,
    ).app

    async def with_nonce(scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("state", {})["csp_nonce"] = 'n"1'
        await app(scope, receive, send)

    page = TestClient(with_nonce).get("/").text
    assert '<meta charset=utf-8><script nonce="n&#34;1">' in page.replace("&quot;", "&#34;")
    granted = dict.fromkeys(DENIED, "granted")
    assert [
        ("consent", "default", DENIED),
        ("consent", "default", granted | {"region": ["US"]}),
        ("consent", "default", DENIED | {"region": ["US-CA", "US-CO"]}),
        ("set", "url_passthrough", True),
    ] == calls(page)


def test_region_defaults_wait_for_the_update_too(make_app: MakeApp) -> None:
    """Each region's default carries ``wait_for_update``: its visitors use it alone."""
    page = client(make_app, consent_mode_regions=("US=granted",)).get("/").text
    assert all(c[2]["wait_for_update"] == 500 for c in calls(page) if c[1] == "default")


@pytest.mark.parametrize(
    ("regions", "message"),
    [
        (("US",), "use REGION …=granted or =denied"),
        (("US=yes",), "use REGION …=granted or =denied"),
        (("us=granted",), "'us' is not a region"),
        (("=granted",), "use REGION"),
        ("US=granted", "use a list of texts"),
    ],
)
def test_bad_region_defaults_are_refused(regions: object, message: str) -> None:
    """A region rule that is not REGION …=granted|denied is refused by name."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings(secret_keys=[SECRET], consent_mode_regions=regions)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (b"<html><head><title>t</title></head><body>x</body>", b"<html><head>H<title>"),
        (b"<!doctype html><html lang=de><body>x</body>", b"<!doctype html><html lang=de>H<body>"),
        (b"<!doctype html><header>x</header></body>", b"<!doctype html>H<header>"),
        (b"<p>x</p></body>", b"H<p>x</p>"),
        (b"<HEAD>x</BODY>", b"<HEAD>Hx"),
        # a charset declaration stays first (browsers read it in the first 1,024 bytes)
        (
            b'<html><head>\n <meta charset="utf-8"><title>',
            b'<html><head>\n <meta charset="utf-8">H',
        ),
        (
            b"<head><!-- x --><meta http-equiv='Content-Type' content='text/html'><title>",
            b"<head><!-- x --><meta http-equiv='Content-Type' content='text/html'>H<title>",
        ),
        # what only looks like a head is never taken for one
        (
            b"<!-- <head> --><!doctype html><html><head>",
            b"<!-- <head> --><!doctype html><html><head>H",
        ),
        (b"<!-- <html> --><p>x</p></body>", b"H<!-- <html> --><p>"),
        (b"<!doctype html><html><script>t='<head>'</script>", b"<!doctype html><html>H<script>"),
        (b"<!doctype html><textarea><head></textarea>", b"<!doctype html>H<textarea>"),
        (b"<html><head data-x='a>b'><title>", b"<html><head data-x='a>b'>H<title>"),
        (b"\xef\xbb\xbf<!DOCTYPE html>\n<html>", b"\xef\xbb\xbf<!DOCTYPE html>\n<html>H"),
        (b"<head/><p>", b"<head/>H<p>"),
    ],
)
def test_the_head_snippet_opens_the_real_head(document: bytes, expected: bytes) -> None:
    """After ``<head>`` (and its charset declaration), else ``<html>``, else the
    doctype; never before the doctype (quirks mode), into ``<header>``, a comment, a
    script, a text area or an attribute value."""
    result = inject(document, b"B", head=b"H")
    assert result is not None
    assert result.startswith(expected)


def test_a_page_without_body_end_still_gets_the_head_script() -> None:
    """No ``</body>``: no banner, but the default still opens the head."""
    assert b"<html><head>H<title>" == inject(b"<html><head><title>", b"B", head=b"H")
    assert inject(b"<html><head><title>", b"B") is None


@given(st.binary(max_size=400), st.binary(max_size=400))
def test_inject_keeps_the_document_whole(before: bytes, after: bytes) -> None:
    """Whatever the page holds, the result is the page with the head snippet and the
    banner added once each, in the page's own order."""
    document = before + b"</body>" + after.replace(b"</body>", b"").replace(b"</BODY>", b"")
    result = inject(document, b"\x01B\x01", head=b"\x02H\x02")
    assert result is not None
    assert document == result.replace(b"\x01B\x01", b"", 1).replace(b"\x02H\x02", b"", 1)
    assert result.index(b"\x02H\x02") <= result.index(b"\x01B\x01")


def test_the_script_is_served_for_pages_that_cannot_be_rewritten(make_app: MakeApp) -> None:
    """``/_consent/consent-mode.js`` is the same script for the same visitor, never
    cached; 404 naming the option while Consent Mode is off."""
    browser = client(make_app)
    first = browser.get("/_consent/consent-mode.js")
    assert (200, "private, no-store") == (first.status_code, first.headers["cache-control"])
    assert first.headers["content-type"].startswith("text/javascript")
    assert calls(browser.get("/").text) == calls("<script>" + first.text)
    browser.post("/_consent", json={"action": "accept_all"})
    assert "update" == calls("<script>" + browser.get("/_consent/consent-mode.js").text)[-1][1]
    off = TestClient(make_app(consent_mode="off")).get("/_consent/consent-mode.js")
    assert 404 == off.status_code
    assert "consent_mode='off'" in off.json()["error"]
