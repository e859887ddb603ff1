"""The rows the consent surface leaves behind: a ``consent_records`` proof per decision,
and a ``page_requests`` row per HTML page that carries identifiers only with consent."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.helpers import BROWSER, MakeApp, rows

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
DATACENTRES = Path(__file__).with_name("datacentres.txt")  # one test range of each family


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
    """User agents are stored as families only; bots are flagged with the first signal
    that marks them (``ingest/bots.py``): Googlebot by its agent, curl by the crawler
    list, a browser's agent without a browser's headers by those, and an address in a
    data-centre range by that. A request claiming the spool's reduced form of an agent
    is a bot's too."""
    middleware = make_stored_app(site(), datacentre_ranges=str(DATACENTRES))
    agents = {"chrome": CHROME, "firefox": FIREFOX, "iphone": IPHONE, "googlebot": GOOGLEBOT,
              "curl": "curl/8.5.0",
              # the spool's reduced form, claimed by a request: no browser sends it
              "claims": "consentlog-agent:Chrome/Windows/desktop/0"}  # fmt: skip
    for name, user_agent in agents.items():
        TestClient(middleware, headers=BROWSER).get(
            f"/docs/{name}", headers={"user-agent": user_agent}
        )
    TestClient(middleware).get("/docs/copied", headers={"user-agent": CHROME})  # no headers
    TestClient(middleware, headers=BROWSER, client=("198.18.0.7", 1)).get("/docs/cloud")
    found = rows(
        middleware, "SELECT path, browser, os, device, is_bot, bot_signal FROM {db}.page_requests"
    )
    assert {
        "/docs/chrome": ("Chrome", "Windows", "desktop", False, ""),
        "/docs/firefox": ("Firefox", "Ubuntu", "desktop", False, ""),
        "/docs/iphone": ("Mobile Safari", "iOS", "mobile", False, ""),
        "/docs/googlebot": ("Googlebot", "Other", "bot", True, "agent"),
        "/docs/curl": ("curl", "Other", "bot", True, "list"),
        "/docs/claims": ("Other", "Other", "bot", True, "agent"),
        "/docs/copied": ("Chrome", "Windows", "desktop", True, "headers"),
        "/docs/cloud": ("Chrome", "Linux", "desktop", True, "datacentre"),
    } == {
        r["path"]: (r["browser"], r["os"], r["device"], r["is_bot"], r["bot_signal"]) for r in found
    }


@pytest.mark.parametrize(
    ("address", "prefix"),
    [("198.51.100.7", "198.51.0.0/16"), ("2001:db8:1:2::1", "2001:db8::/32")],
)
def test_the_configured_prefixes_are_the_ones_stored(
    make_stored_app: MakeApp, address: str, prefix: str
) -> None:
    """``ipv4_prefix`` / ``ipv6_prefix`` reach the writer: a site that keeps less of the
    address gets less, in page and consent rows alike."""
    middleware = make_stored_app(site(), ipv4_prefix=16, ipv6_prefix=32)
    client = TestClient(middleware, client=(address, 50000))
    client.post("/_consent", json={"action": "accept_all"})
    client.get("/docs/a")
    [page] = rows(middleware, "SELECT ip_prefix FROM {db}.page_requests")
    [proof] = rows(middleware, "SELECT ip_prefix FROM {db}.consent_records")
    assert page["ip_prefix"] == proof["ip_prefix"] == prefix


@pytest.mark.parametrize(
    ("base_url", "host_header", "stored"),
    [
        ("https://example.org", "example.org:443", "example.org"),
        ("http://example.org", "Example.ORG:80", "example.org"),
        ("https://example.org", "example.org:80", "example.org:80"),  # not https's default
        ("http://example.org", "example.org:8080", "example.org:8080"),
        ("https://example.org", "www.example.org", "example.org"),  # an alias
        ("https://example.org", "www.example.org:443", "example.org"),
    ],
)
def test_hosts_are_stored_without_default_port_and_by_their_canonical_name(
    make_stored_app: MakeApp, base_url: str, host_header: str, stored: str
) -> None:
    """One site, one host: a Host header's default port is dropped, and an alias named
    in ``host_aliases`` is stored as its canonical host — in page rows and engagements."""
    middleware = make_stored_app(site(), host_aliases=("www.example.org=example.org",))
    client = TestClient(middleware, base_url=base_url)
    client.post("/_consent", json={"action": "accept_all"}, headers={"host": host_header})
    client.get("/docs/a", headers={"host": host_header})
    client.get("/docs/a")
    found = rows(middleware, "SELECT host FROM {db}.page_requests ORDER BY ts")
    assert found[0] == {"host": stored}


def test_a_client_address_that_is_no_address_costs_no_row(make_stored_app: MakeApp) -> None:
    """A forwarded address holding a control character (a proxy passing a client's value)
    is no IP: the page is stored, with no prefix, and the pages around it too."""
    middleware = make_stored_app(site(), trusted_proxy_hops=1)
    client = TestClient(middleware)
    client.post("/_consent", json={"action": "accept_all"})
    client.get("/docs/a", headers={"x-forwarded-for": "198.51.100.7"})
    client.get("/docs/b", headers={"x-forwarded-for": "1.2\x013.4"})
    client.get("/docs/c", headers={"x-forwarded-for": "198.51.100.8"})
    found = rows(middleware, "SELECT path, ip_prefix FROM {db}.page_requests ORDER BY ts")
    assert [(r["path"], r["ip_prefix"]) for r in found] == [
        ("/docs/a", "198.51.100.0/24"),
        ("/docs/b", ""),
        ("/docs/c", "198.51.100.0/24"),
    ]


def test_every_page_row_has_its_country_and_no_address_without_consent(
    make_stored_app: MakeApp,
) -> None:
    """The writer looks the full address up before it drops it (no consent) or cuts it to
    a prefix: the country is stored either way; a configured CDN header wins."""
    middleware = make_stored_app(site(), country_header="cf-ipcountry")
    anonymous = TestClient(middleware, client=("81.2.69.160", 50000))
    anonymous.get("/docs/a")
    anonymous.get("/docs/b", headers={"cf-ipcountry": "NZ"})
    anonymous.get("/docs/c", headers={"cf-ipcountry": "XX"})  # the CDN does not know
    consented = TestClient(middleware, client=("2a00:1450:4001:82a::200e", 50000))
    consented.post("/_consent", json={"action": "accept_all"})
    consented.get("/docs/d")
    TestClient(middleware, client=("10.0.0.1", 50000)).get("/docs/e")
    found = rows(middleware, "SELECT path, country, ip_prefix FROM {db}.page_requests")
    assert sorted((r["path"], r["country"], r["ip_prefix"]) for r in found) == [
        ("/docs/a", "GB", ""),
        ("/docs/b", "NZ", ""),
        ("/docs/c", "", ""),
        ("/docs/d", "DE", "2a00:1450:4001::/48"),
        ("/docs/e", "", ""),
    ]


def test_no_country_without_a_database_or_header(make_stored_app: MakeApp) -> None:
    middleware = make_stored_app(site(), country_database="")
    TestClient(middleware, client=("81.2.69.160", 50000)).get("/docs/a")
    assert [{"country": ""}] == rows(middleware, "SELECT country FROM {db}.page_requests")


def test_campaign_columns_and_channels_are_stored_and_a_click_id_only_by_name(
    make_stored_app: MakeApp,
) -> None:
    middleware = make_stored_app(site())
    client = TestClient(middleware, base_url="https://example.org")
    client.get(
        "/docs/a?gclid=Cj0SECRETCLICK&utm_term=shoes&utm_content=hero&ref=hn&utm_source=g",
        headers={"referer": "https://www.google.com/"},
    )
    client.get("/docs/b", headers={"referer": "https://example.org/docs/a"})
    client.get("/docs/c", headers={"referer": "https://news.ycombinator.com/item?id=1"})
    client.get("/docs/d")
    found = rows(
        middleware,
        "SELECT path, utm_source, utm_term, utm_content, ref, click_id, channel"
        " FROM {db}.page_requests ORDER BY path",
    )
    assert [tuple(r.values()) for r in found] == [
        ("/docs/a", "g", "shoes", "hero", "hn", "gclid", "campaign"),
        ("/docs/b", "", "", "", "", "", "internal"),
        ("/docs/c", "", "", "", "", "", "social"),
        ("/docs/d", "", "", "", "", "", "direct"),
    ]
    everything = rows(middleware, "SELECT * FROM {db}.page_requests")
    assert "SECRETCLICK" not in repr(everything)
