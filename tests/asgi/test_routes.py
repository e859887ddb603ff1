"""The consent HTTP surface: decisions, refusals, assets, and the rows they leave behind."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import json
import re
from typing import Any
from urllib.parse import unquote

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import Message

from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.testing import http_scope
from tests.helpers import MakeApp, rows, set_cookies

TRAFFIC_COOKIES = {"cl_consent", "cl_vid", "cl_sid"}
UNDECIDED = {
    "decided": False,
    "categories": {"necessary": True, "analytics": False, "marketing": False},
    "policy_revision": 1,
    "consent_id": None,
    "decided_at": None,
    "source": None,
    "gpc": False,
    "policy_changed": False,
}

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


def _error(response: Any) -> str:
    """The message of a JSON error response (and that it is one)."""
    assert response.headers["content-type"].startswith("application/json")
    message = response.json()["error"]
    assert isinstance(message, str)
    return message


# -- GET /_consent ------------------------------------------------------------------------


def test_state_before_any_decision(client: TestClient) -> None:
    """An undecided visitor gets the full JSON shape with nulls and no cookie."""
    response = client.get("/_consent")
    assert 200 == response.status_code
    assert UNDECIDED == response.json()
    assert [] == response.headers.get_list("set-cookie")


def test_state_after_accept_and_after_reject(client: TestClient) -> None:
    """After a decision the state names its categories, consent id, time and source."""
    client.post("/_consent", json={"action": "accept_all"})
    accepted = client.get("/_consent").json()
    assert {"necessary": True, "analytics": True, "marketing": True} == accepted["categories"]
    assert (True, "banner", False, False) == (
        accepted["decided"],
        accepted["source"],
        accepted["gpc"],
        accepted["policy_changed"],
    )
    assert re.fullmatch(r"[0-9a-f]{32}", accepted["consent_id"])
    assert isinstance(accepted["decided_at"], int)
    client.post("/_consent", json={"action": "reject_all"})
    rejected = client.get("/_consent").json()
    assert {"necessary": True, "analytics": False, "marketing": False} == rejected["categories"]
    assert accepted["consent_id"] == rejected["consent_id"]
    assert set(UNDECIDED) == set(rejected)


def test_state_under_gpc(client: TestClient) -> None:
    """With Sec-GPC: 1 the state is a decided refusal from source gpc, flagged gpc."""
    state = client.get("/_consent", headers={"sec-gpc": "1"}).json()
    assert (True, "gpc", True) == (state["decided"], state["source"], state["gpc"])
    assert {"necessary": True, "analytics": False, "marketing": False} == state["categories"]


# -- POST /_consent -----------------------------------------------------------------------


ALL = {"necessary": True, "analytics": True, "marketing": True}
NONE = {"necessary": True, "analytics": False, "marketing": False}
ANALYTICS_ONLY = {"necessary": True, "analytics": True, "marketing": False}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"action": "accept_all"}, ALL),
        ({"action": "reject_all"}, NONE),
        ({"categories": {"analytics": True}}, ANALYTICS_ONLY),
        ({"categories": {"necessary": True, "analytics": True}}, ANALYTICS_ONLY),
        ({"categories": {}}, NONE),
        (
            {"action": "custom", "categories": {"analytics": False, "marketing": True}},
            {"necessary": True, "analytics": False, "marketing": True},
        ),
    ],
)
def test_json_decision_sets_categories(
    client: TestClient, payload: dict[str, Any], expected: dict[str, bool]
) -> None:
    """A JSON decision answers 200 with the resulting categories, and they stick."""
    response = client.post("/_consent", json=payload)
    assert 200 == response.status_code
    assert "no-store" == response.headers["cache-control"]
    assert expected == response.json()["categories"]
    assert expected == client.get("/_consent").json()["categories"]
    assert ("cl_vid" in set_cookies(response)) is expected["analytics"]


def test_form_decision_redirects_to_next(client: TestClient) -> None:
    """An HTML form post records the choice and answers 303 to the same-origin ``next``."""
    response = client.post(
        "/_consent",
        data={"action": "custom", "category": "analytics", "next": "/docs/a"},
        follow_redirects=False,
    )
    assert 303 == response.status_code
    assert "/docs/a" == response.headers["location"]
    assert TRAFFIC_COOKIES == set(set_cookies(response))
    state = client.get("/_consent").json()
    assert ("form", {"necessary": True, "analytics": True, "marketing": False}) == (
        state["source"],
        state["categories"],
    )


def test_form_next_keeps_its_query(client: TestClient) -> None:
    """A local ``next`` with a query string is returned to as it was given."""
    response = client.post(
        "/_consent",
        data={"action": "reject_all", "next": "/docs/a?tab=2&x=%20"},
        follow_redirects=False,
    )
    assert "/docs/a?tab=2&x=%20" == response.headers["location"]


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "http://evil.example",
        "//evil.example",
        "//evil.example/docs",
        "/\\evil.example",
        "/docs\\..\\evil",
        "\\\\evil.example",
        "javascript:alert(1)",
        "docs/a",
        "",
        "/docs/a\r\nSet-Cookie: x=1",
        "/docs/a\nx",
        "/docs/\x00a",
        "/docs/\ta",
        "/\t/evil.example",
        "/docs/\x7fa",
        "/docs/\x85a",
        "/" + "a" * 3000,
    ],
)
def test_form_next_that_is_not_local_goes_home(client: TestClient, target: str) -> None:
    """A ``next`` that is absolute, protocol-relative, backslashed or has control
    characters is replaced by ``/``."""
    response = client.post(
        "/_consent", data={"action": "accept_all", "next": target}, follow_redirects=False
    )
    assert 303 == response.status_code
    assert "/" == response.headers["location"]


def test_form_without_next_goes_home(client: TestClient) -> None:
    """A form post without ``next`` returns to ``/``."""
    response = client.post("/_consent", data={"action": "reject_all"}, follow_redirects=False)
    assert (303, "/") == (response.status_code, response.headers["location"])


def test_form_next_with_non_ascii_path_is_percent_encoded(client: TestClient) -> None:
    """A local ``next`` with non-ASCII characters comes back percent-encoded (UTF-8)."""
    for path in ("/docs/caf\u00e9", "/docs/\u20ac", "/docs/\u65e5\u672c"):
        response = client.post(
            "/_consent", data={"action": "reject_all", "next": path}, follow_redirects=False
        )
        assert 303 == response.status_code
        location = response.headers["location"]
        assert location.isascii()
        assert path == unquote(location)


# -- cross-site refusals ------------------------------------------------------------------

STATE_CHANGES = [
    ("POST", "/_consent", {"json": {"action": "reject_all"}}),
    ("POST", "/_consent", {"data": {"action": "reject_all", "next": "/"}}),
    ("DELETE", "/_consent", {}),
    ("POST", "/_consent/withdraw", {}),
    ("POST", "/_consent/withdraw", {"data": {"next": "/"}}),
]
CROSS_SITE = [
    {"origin": "https://evil.example"},
    {"origin": "http://testserver.evil.example"},
    {"origin": "null"},
    {"sec-fetch-site": "cross-site"},
    {"sec-fetch-site": "same-site"},
    {"sec-fetch-site": "cross-site", "origin": "http://testserver"},
]


@pytest.mark.parametrize(("method", "path", "body"), STATE_CHANGES)
@pytest.mark.parametrize("headers", CROSS_SITE)
def test_cross_site_state_changes_are_refused(
    make_stored_app: MakeApp,
    method: str,
    path: str,
    body: dict[str, Any],
    headers: dict[str, str],
) -> None:
    """A cross-site decision or withdrawal gets 403 with a JSON error and changes nothing."""
    middleware = make_stored_app()
    client = TestClient(middleware)
    client.post("/_consent", json={"action": "accept_all"})
    before = client.get("/_consent").json()
    response = client.request(method, path, headers=headers, follow_redirects=False, **body)
    assert 403 == response.status_code
    assert "cross-" in _error(response)
    assert [] == response.headers.get_list("set-cookie")
    assert before == client.get("/_consent").json()
    assert ["accept_all"] == [
        r["action"] for r in rows(middleware, "SELECT action FROM {db}.consent_records")
    ]


@pytest.mark.parametrize(("method", "path", "body"), STATE_CHANGES)
@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://testserver"},
        {"sec-fetch-site": "same-origin"},
        {"sec-fetch-site": "same-origin", "origin": "http://testserver"},
        {"sec-fetch-site": "none"},
    ],
)
def test_same_origin_state_changes_are_accepted(
    client: TestClient, method: str, path: str, body: dict[str, Any], headers: dict[str, str]
) -> None:
    """The site's own origin may decide and withdraw."""
    response = client.request(method, path, headers=headers, follow_redirects=False, **body)
    expected = 303 if "data" in body else 200
    assert expected == response.status_code
    assert "cl_consent" in set_cookies(response)


def test_reading_the_state_is_allowed_cross_site(client: TestClient) -> None:
    """GET /_consent changes nothing, so a cross-site read is answered."""
    response = client.get("/_consent", headers={"origin": "https://evil.example"})
    assert 200 == response.status_code


# -- bad input ----------------------------------------------------------------------------

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("content", "content_type", "status", "names"),
    [
        (b"{not json", JSON, 400, "not valid JSON"),
        (b"\xff\xfe{", JSON, 400, "not valid JSON"),
        (b"", JSON, 400, "not valid JSON"),
        (b"[]", JSON, 400, "JSON object"),
        (b'["accept_all"]', JSON, 400, "JSON object"),
        (b'"accept_all"', JSON, 400, "JSON object"),
        (b'{"action": "accept_all", "extra": 1}', JSON, 400, "unknown field 'extra'"),
        (b'{"categories": {"ads": true}}', JSON, 400, "unknown category 'ads'"),
        (b'{"categories": {"analytics": "yes"}}', JSON, 400, "'categories'"),
        (b'{"categories": {"analytics": 1}}', JSON, 400, "'categories'"),
        (b'{"categories": ["analytics"]}', JSON, 400, "'categories'"),
        (b'{"categories": {"necessary": false}}', JSON, 400, "'necessary' is necessary"),
        (b'{"action": "reject_all", "categories": {}}', JSON, 400, "'custom'"),
        (b'{"action": "accept_some"}', JSON, 400, "accept_all"),
        (b'{"action": null}', JSON, 400, "accept_all"),
        (b'{"action": ["accept_all"]}', JSON, 400, "accept_all"),
        (b'{"action": {"accept_all": true}}', JSON, 400, "accept_all"),
        (b"{}", JSON, 400, "accept_all"),
        pytest.param(b"[" * 5000 + b"]" * 5000, JSON, 400, "not valid JSON", id="deep-json"),
        (b"action=maybe", FORM, 400, "'action'"),
        (b"next=/docs/a", FORM, 400, "'action'"),
        (b"action=custom&category=ads", FORM, 400, "unknown category 'ads'"),
        (b"action=custom&category=\xff", FORM, 400, "UTF-8"),
        (b"action=accept_all", "text/plain", 415, "application/json"),
        (b'{"action": "accept_all"}', "text/plain", 415, "application/json"),
        (b'{"action": "accept_all"}', "multipart/form-data; boundary=x", 415, "urlencoded"),
        (b'{"action": "accept_all"}', None, 415, "application/json"),
    ],
)
def test_bad_decisions_get_a_json_error(
    client: TestClient, content: bytes, content_type: str | None, status: int, names: str
) -> None:
    """Bad input is refused with a 4xx JSON error that names the problem, and no cookie."""
    headers = {"content-type": content_type} if content_type else {}
    response = client.post("/_consent", content=content, headers=headers)
    assert status == response.status_code
    assert names in _error(response)
    assert [] == response.headers.get_list("set-cookie")
    assert UNDECIDED == client.get("/_consent").json()


def test_json_content_type_with_charset_is_accepted(client: TestClient) -> None:
    """``application/json; charset=utf-8`` is JSON."""
    response = client.post(
        "/_consent",
        content=b'{"action": "accept_all"}',
        headers={"content-type": "Application/JSON; charset=utf-8"},
    )
    assert 200 == response.status_code


def test_body_over_the_limit_by_content_length(make_app: MakeApp) -> None:
    """A declared Content-Length over ``max_body_bytes`` is refused with 413."""
    client = TestClient(make_app(max_body_bytes=64))
    payload = json.dumps({"action": "accept_all", "pad": "x" * 100}).encode()
    response = client.post("/_consent", content=payload, headers={"content-type": JSON})
    assert 413 == response.status_code
    assert "64 bytes" in _error(response)
    assert [] == response.headers.get_list("set-cookie")


def _scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return http_scope(path, method=method, headers=headers, client=("198.51.100.7", 50000))


def _call(
    app: ConsentMiddleware,
    scope: dict[str, Any],
    chunks: list[bytes],
) -> tuple[list[Message], int]:
    """Run one raw ASGI request whose body arrives in ``chunks``; the messages sent and
    how many body chunks the app asked for."""
    pending = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    received = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal received
        if not pending:
            return {"type": "http.disconnect"}
        received += 1
        return pending.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent, received


def test_streamed_body_over_the_limit(make_app: MakeApp) -> None:
    """A chunked body without Content-Length is cut off with 413 as soon as it passes
    ``max_body_bytes``; the rest is not read."""
    middleware = make_app(max_body_bytes=64)
    scope = _scope("POST", "/_consent", [(b"content-type", b"application/json")])
    chunks = [b'{"action": "accept_all", "pad": "', *[b"x" * 20] * 10, b'"}']
    sent, received = _call(middleware, scope, chunks)
    start, body = sent[0], sent[-1]
    assert 413 == start["status"]
    assert not any(k == b"set-cookie" for k, _ in start["headers"])
    assert "64 bytes" in json.loads(body["body"])["error"]
    assert received < len(chunks)


def test_streamed_body_within_the_limit(make_app: MakeApp) -> None:
    """A chunked body within ``max_body_bytes`` is read whole and decided."""
    middleware = make_app(max_body_bytes=64)
    scope = _scope("POST", "/_consent", [(b"content-type", b"application/json")])
    sent, _ = _call(middleware, scope, [b'{"action": ', b'"accept_all"', b"}"])
    assert 200 == sent[0]["status"]
    assert True is json.loads(sent[-1]["body"])["categories"]["analytics"]


def test_client_gone_before_the_body_is_complete(make_app: MakeApp) -> None:
    """A disconnect mid-body is a 400, not a crash."""
    middleware = make_app()
    scope = _scope("POST", "/_consent", [(b"content-type", b"application/json")])
    pending: list[Message] = [{"type": "http.request", "body": b"{", "more_body": True}]
    sent: list[Message] = []

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(middleware(scope, receive, send))
    assert 400 == sent[0]["status"]


def test_content_length_that_is_not_a_number(make_app: MakeApp) -> None:
    """A Content-Length of non-ASCII digits (latin-1 superscripts) is no crash."""
    middleware = make_app()
    for declared in (b"\xb2", b"\xb9\xb2\xb3", b"-1", b"1e9", b"abc"):
        headers = [(b"content-type", b"application/json"), (b"content-length", declared)]
        sent, _ = _call(middleware, _scope("POST", "/_consent", headers), [b"{}"])
        assert 400 == sent[0]["status"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/_consent"),
        ("PATCH", "/_consent"),
        ("GET", "/_consent/withdraw"),
        ("DELETE", "/_consent/withdraw"),
        ("POST", "/_consent/banner.js"),
        ("DELETE", "/_consent/banner.css"),
        ("POST", "/_consent/banner.html"),
        ("POST", "/.well-known/gpc.json"),
    ],
)
def test_wrong_method_is_405(client: TestClient, method: str, path: str) -> None:
    """A method a consent route does not take is a 405 naming the method."""
    response = client.request(method, path)
    assert 405 == response.status_code
    assert method in _error(response)


@pytest.mark.parametrize("path", ["/_consent/nope", "/_consent/banner.js/x", "/_consent/my-data/x"])
def test_unknown_consent_route_is_404(client: TestClient, path: str) -> None:
    """An unknown path under the prefix is a JSON 404 naming it, not the host app's."""
    response = client.get(path)
    assert 404 == response.status_code
    assert path in _error(response)


# -- assets -------------------------------------------------------------------------------

ASSETS = [("banner.js", "text/javascript"), ("banner.css", "text/css")]


def _asset(middleware: ConsentMiddleware, name: str) -> Any:
    return middleware.script if name == "banner.js" else middleware.stylesheet


@pytest.mark.parametrize(("name", "media_type"), ASSETS)
def test_versioned_asset_is_cached_forever(make_app: MakeApp, name: str, media_type: str) -> None:
    """``?v=<digest>`` is served with its content type and an immutable year-long cache."""
    middleware = make_app()
    asset = _asset(middleware, name)
    response = TestClient(middleware).get(
        f"/_consent/{name}?v={asset.digest}", headers={"accept-encoding": "identity"}
    )
    assert 200 == response.status_code
    assert f"{media_type}; charset=utf-8" == response.headers["content-type"]
    assert "public, max-age=31536000, immutable" == response.headers["cache-control"]
    assert asset.body == response.content
    assert "content-encoding" not in response.headers


@pytest.mark.parametrize(("name", "media_type"), ASSETS)
@pytest.mark.parametrize("query", ["", "?v=000000000000", "?x=1"])
def test_unversioned_asset_is_cached_briefly(
    client: TestClient, name: str, media_type: str, query: str
) -> None:
    """Without the current digest the asset gets a short, non-immutable cache."""
    response = client.get(f"/_consent/{name}{query}")
    cache = response.headers["cache-control"]
    assert "immutable" not in cache
    max_age = int(re.search(r"max-age=(\d+)", cache).group(1))  # type: ignore[union-attr]
    assert max_age <= 3600


@pytest.mark.parametrize(("name", "media_type"), ASSETS)
def test_asset_etag_revalidates_to_304(make_app: MakeApp, name: str, media_type: str) -> None:
    """The ETag is the digest; sending it back in If-None-Match gives an empty 304."""
    middleware = make_app()
    client = TestClient(middleware)
    first = client.get(f"/_consent/{name}")
    assert f'"{_asset(middleware, name).digest}"' == first.headers["etag"]
    again = client.get(f"/_consent/{name}", headers={"if-none-match": first.headers["etag"]})
    assert 304 == again.status_code
    assert b"" == again.content
    assert first.headers["etag"] == again.headers["etag"]
    stale = client.get(f"/_consent/{name}", headers={"if-none-match": '"000000000000"'})
    assert 200 == stale.status_code


@pytest.mark.parametrize(("name", "media_type"), ASSETS)
def test_asset_is_gzipped_when_accepted(make_app: MakeApp, name: str, media_type: str) -> None:
    """With Accept-Encoding: gzip the asset is sent compressed; Vary says so."""
    middleware = make_app()
    client = TestClient(middleware)
    with client.stream(
        "GET", f"/_consent/{name}", headers={"accept-encoding": "br, gzip;q=0.8"}
    ) as response:
        raw = b"".join(response.iter_raw())
    assert "gzip" == response.headers["content-encoding"]
    assert "Accept-Encoding" == response.headers["vary"]
    assert f"{media_type}; charset=utf-8" == response.headers["content-type"]
    assert _asset(middleware, name).body == gzip.decompress(raw)
    assert len(raw) < len(_asset(middleware, name).body)


def test_injected_banner_links_the_current_digests(make_app: MakeApp) -> None:
    """The banner in a page links both assets by their current digest, and those URLs
    are the immutable ones."""
    middleware = make_app()
    client = TestClient(middleware)
    page = client.get("/").text
    script = f"/_consent/banner.js?v={middleware.script.digest}"
    style = f"/_consent/banner.css?v={middleware.stylesheet.digest}"
    assert f'<script src="{script}" defer></script>' in page
    assert f'<link rel="stylesheet" href="{style}">' in page
    for url in (script, style):
        assert "immutable" in client.get(url).headers["cache-control"]


def test_banner_fragment_has_markup_and_stylesheet_but_no_script(make_app: MakeApp) -> None:
    """GET /_consent/banner.html is the banner with its stylesheet link and no script."""
    middleware = make_app()
    client = TestClient(middleware)
    response = client.get("/_consent/banner.html", params={"next": "/docs/a"})
    assert 200 == response.status_code
    assert response.headers["content-type"].startswith("text/html")
    assert "no-store" == response.headers["cache-control"]
    fragment = response.text
    assert fragment.startswith(
        f'<link rel="stylesheet" href="/_consent/banner.css?v={middleware.stylesheet.digest}">'
    )
    assert 'id="cl-banner"' in fragment
    assert 'role="dialog"' in fragment
    assert 'name="next" value="/docs/a"' in fragment
    assert "<script" not in fragment
    assert "<html" not in fragment
    assert [] == response.headers.get_list("set-cookie")


def test_banner_fragment_refuses_a_foreign_next(client: TestClient) -> None:
    """The fragment's form returns only to local paths."""
    fragment = client.get("/_consent/banner.html", params={"next": "//evil.example"}).text
    assert 'name="next" value="/"' in fragment


def test_banner_fragment_follows_the_decision(client: TestClient) -> None:
    """After a decision the fragment's banner is hidden and marked decided."""
    client.post("/_consent", json={"action": "accept_all"})
    fragment = client.get("/_consent/banner.html").text
    assert 'data-decided="1"' in fragment
    assert " hidden>" in fragment


def test_gpc_well_known_file(client: TestClient) -> None:
    """/.well-known/gpc.json declares GPC support with an ISO date."""
    response = client.get("/.well-known/gpc.json")
    assert 200 == response.status_code
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert {"gpc", "lastUpdate"} == set(body)
    assert True is body["gpc"]
    datetime.date.fromisoformat(body["lastUpdate"])
    assert [] == response.headers.get_list("set-cookie")


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


@pytest.mark.parametrize("tag", ['W/"{d}"', '"x", "{d}"', "*"])
def test_conditional_asset_requests_match_weak_and_listed_etags(
    client: TestClient, tag: str
) -> None:
    """If-None-Match with a weak tag, a list containing ours, or * → 304."""
    digest = client.get("/_consent/banner.js").headers["etag"].strip('"')
    response = client.get("/_consent/banner.js", headers={"if-none-match": tag.format(d=digest)})
    assert 304 == response.status_code


def test_gzip_refused_with_q_zero(client: TestClient) -> None:
    """Accept-Encoding: gzip;q=0 gets the identity body."""
    response = client.get("/_consent/banner.css", headers={"accept-encoding": "gzip;q=0"})
    assert "content-encoding" not in response.headers


def test_banner_next_keeps_percent_escapes(client: TestClient) -> None:
    """The banner's return path is the raw path: /docs/a%3Fb stays itself."""
    page = client.get("/docs/a%3Fb")
    assert 'name="next" value="/docs/a%3Fb"' in page.text
