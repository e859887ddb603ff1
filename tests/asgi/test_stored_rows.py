"""The rows the consent surface leaves behind: a ``consent_records`` proof per decision,
and a ``page_requests`` row per HTML page that carries identifiers only with consent."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.helpers import MakeApp, rows

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def _html(title: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html><head><title>{title}</title></head><body><h1>{title}</h1>"
        "</body></html>",
        status_code=status,
    )


async def _page(request: Request) -> Response:
    return _html(request.url.path)


async def _text(request: Request) -> Response:
    return PlainTextResponse("ok")


async def _not_found(request: Request, exc: Exception) -> Response:
    return _html("not found", status=404)


def site() -> Starlette:
    """A host app with an HTML 404 page and an HTML health check (excluded by path)."""
    return Starlette(
        routes=[
            Route("/", _page),
            Route("/docs/{slug}", _page),
            Route("/healthz", _page),
            Route("/api/text", _text),
        ],
        exception_handlers={404: _not_found},
    )


# -- consent_records ----------------------------------------------------------------------

XFF = {"x-forwarded-for": "203.0.113.77"}


def test_consent_records_of_one_browser(make_stored_app: MakeApp) -> None:
    """GPC visit, accept, reject, custom, withdraw: five proofs under one consent id;
    only the consented ones carry a visitor id and an IP prefix."""
    middleware = make_stored_app(trusted_proxy_hops=1)
    client = TestClient(middleware, headers={**XFF, "user-agent": FIREFOX})
    client.get("/", headers={"sec-gpc": "1"})
    client.post("/_consent", json={"action": "accept_all"})
    first_visitor = client.cookies["cl_vid"]
    client.post("/_consent", json={"action": "reject_all"})
    client.post(
        "/_consent", data={"action": "custom", "category": "analytics"}, follow_redirects=False
    )
    second_visitor = client.cookies["cl_vid"]
    client.delete("/_consent")
    found = rows(
        middleware,
        "SELECT action, categories, source, visitor_id, ip_prefix, consent_id, browser, "
        "policy_revision FROM {db}.consent_records ORDER BY ts",
    )
    assert [
        ("gpc", [], "gpc", "", ""),
        ("accept_all", ["analytics", "marketing"], "banner", first_visitor, "203.0.113.0/24"),
        ("reject_all", [], "banner", "", ""),
        ("custom", ["analytics"], "form", second_visitor, "203.0.113.0/24"),
        ("withdraw", [], "banner", "", ""),
    ] == [
        (r["action"], r["categories"], r["source"], r["visitor_id"], r["ip_prefix"]) for r in found
    ]
    assert first_visitor != second_visitor
    assert {client.get("/_consent").json()["consent_id"]} == {r["consent_id"] for r in found}
    assert {"Firefox"} == {r["browser"] for r in found}
    assert {1} == {r["policy_revision"] for r in found}


def test_two_browsers_have_two_consent_ids(make_stored_app: MakeApp) -> None:
    """Each browser's decisions are linked under its own consent id."""
    middleware = make_stored_app()
    for _ in range(2):
        browser = TestClient(middleware)
        browser.post("/_consent", json={"action": "accept_all"})
        browser.post("/_consent/withdraw")
    found = rows(middleware, "SELECT consent_id, action FROM {db}.consent_records")
    by_id: dict[str, list[str]] = {}
    for r in found:
        by_id.setdefault(r["consent_id"], []).append(r["action"])
    assert [["accept_all", "withdraw"]] * 2 == [sorted(v) for v in by_id.values()]


def test_gpc_visit_is_recorded_once(make_stored_app: MakeApp) -> None:
    """A GPC refusal is stored on the first visit and then remembered by its cookie."""
    middleware = make_stored_app()
    client = TestClient(middleware, headers={"sec-gpc": "1"})
    for _ in range(3):
        client.get("/")
    found = rows(middleware, "SELECT action, source, visitor_id FROM {db}.consent_records")
    assert [{"action": "gpc", "source": "gpc", "visitor_id": ""}] == found


# -- page_requests ------------------------------------------------------------------------

PAGE_SQL = "SELECT * FROM {db}.page_requests ORDER BY ts"


def test_one_row_per_html_page_request(make_stored_app: MakeApp) -> None:
    """HTML page requests are rows, 404 pages included; text, health checks, consent
    routes and non-GET requests are not."""
    middleware = make_stored_app(site())
    client = TestClient(middleware)
    for path in ("/", "/docs/a", "/api/text", "/healthz", "/missing", "/_consent"):
        client.get(path)
    client.get("/_consent/banner.js")
    client.get("/_consent/banner.html")
    client.get("/.well-known/gpc.json")
    client.post("/", data={"a": "1"})
    found = rows(middleware, "SELECT path, route, status, method FROM {db}.page_requests")
    assert [
        ("/", "/", 200, "GET"),
        ("/docs/a", "/docs/{slug}", 200, "GET"),
        ("/missing", "", 404, "GET"),
    ] == sorted((r["path"], r["route"], r["status"], r["method"]) for r in found)


def test_page_row_without_consent(make_stored_app: MakeApp) -> None:
    """Without consent: UTM tags and the referrer's host, but no identifier, referrer
    path or IP prefix."""
    middleware = make_stored_app(site(), trusted_proxy_hops=1)
    client = TestClient(middleware)
    page = client.get(
        "/docs/a?utm_source=x&utm_medium=mail&utm_campaign=spring",
        headers={
            **XFF,
            "referer": "https://search.example/results?q=secret",
            "accept-language": "de-AT,de;q=0.9",
        },
    )
    [row] = rows(middleware, PAGE_SQL)
    assert {
        "host": "testserver",
        "path": "/docs/a",
        "route": "/docs/{slug}",
        "utm_source": "x",
        "utm_medium": "mail",
        "utm_campaign": "spring",
        "referrer_host": "search.example",
        "referrer_path": "",
        "language": "de",
        "consent_state": "unknown",
        "visitor_id": "",
        "session_id": "",
        "ip_prefix": "",
        "response_bytes": len(page.content),
    } == {k: row[k] for k in (
        "host", "path", "route", "utm_source", "utm_medium", "utm_campaign", "referrer_host",
        "referrer_path", "language", "consent_state", "visitor_id", "session_id", "ip_prefix",
        "response_bytes",
    )}  # fmt: skip


def test_page_row_after_reject_is_denied_without_ids(make_stored_app: MakeApp) -> None:
    """After Decline the row is 'denied' and carries no identifier or IP prefix."""
    middleware = make_stored_app(site(), trusted_proxy_hops=1)
    client = TestClient(middleware, headers=XFF)
    client.post("/_consent", json={"action": "reject_all"})
    client.get("/docs/a", headers={"referer": "https://search.example/results"})
    [row] = rows(middleware, PAGE_SQL)
    assert ("denied", "", "", "", "search.example", "") == (
        row["consent_state"],
        row["visitor_id"],
        row["session_id"],
        row["ip_prefix"],
        row["referrer_host"],
        row["referrer_path"],
    )


@pytest.mark.parametrize(
    ("address", "prefix"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("2001:db8:1:2::1", "2001:db8:1::/48"),
        ("198.51.100.1, 203.0.113.77", "203.0.113.0/24"),
        ("not-an-ip", ""),
    ],
)
def test_page_row_with_consent(make_stored_app: MakeApp, address: str, prefix: str) -> None:
    """With consent the row carries the visitor and session ids, the referrer path and
    the IP as a prefix from the trusted proxy's X-Forwarded-For."""
    middleware = make_stored_app(site(), trusted_proxy_hops=1)
    client = TestClient(middleware)
    client.post("/_consent", json={"action": "accept_all"})
    client.get(
        "/docs/b",
        headers={"x-forwarded-for": address, "referer": "https://search.example/results?q=1"},
    )
    [row] = rows(middleware, PAGE_SQL)
    assert {
        "consent_state": "granted",
        "visitor_id": client.cookies["cl_vid"],
        "session_id": client.cookies["cl_sid"],
        "ip_prefix": prefix,
        "referrer_host": "search.example",
        "referrer_path": "/results",
    } == {k: row[k] for k in (
        "consent_state", "visitor_id", "session_id", "ip_prefix", "referrer_host",
        "referrer_path",
    )}  # fmt: skip


def test_client_address_is_used_without_a_trusted_proxy(make_stored_app: MakeApp) -> None:
    """Without ``trusted_proxy_hops`` X-Forwarded-For is not believed: the connection's
    own address is the one stored (as a prefix)."""
    middleware = make_stored_app(site())
    client = TestClient(middleware, client=("198.51.100.7", 50000))
    client.post("/_consent", json={"action": "accept_all"})
    client.get("/", headers=XFF)
    [row] = rows(middleware, PAGE_SQL)
    assert "198.51.100.0/24" == row["ip_prefix"]


def test_page_rows_name_browser_os_and_device(make_stored_app: MakeApp) -> None:
    """User agents are stored as families only; Googlebot is flagged as a bot."""
    middleware = make_stored_app(site())
    agents = {"chrome": CHROME, "firefox": FIREFOX, "iphone": IPHONE, "googlebot": GOOGLEBOT}
    for name, user_agent in agents.items():
        TestClient(middleware).get(f"/docs/{name}", headers={"user-agent": user_agent})
    found = rows(middleware, "SELECT path, browser, os, device, is_bot FROM {db}.page_requests")
    assert {
        "/docs/chrome": ("Chrome", "Windows", "desktop", False),
        "/docs/firefox": ("Firefox", "Ubuntu", "desktop", False),
        "/docs/iphone": ("Mobile Safari", "iOS", "mobile", False),
        "/docs/googlebot": ("Googlebot", "Other", "bot", True),
    } == {r["path"]: (r["browser"], r["os"], r["device"], r["is_bot"]) for r in found}
