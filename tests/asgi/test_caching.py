"""Caching: a response that now depends on the visitor's cookies is private to their
browser and varies by Cookie; one the middleware left alone keeps the host's headers."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from consentlog.asgi.responder import private
from consentlog.testing import consent_cookie
from tests.helpers import MakeApp

PAGE = "<html><body><h1>cached</h1></body></html>"
CACHING = {"cache-control": "public, max-age=600, s-maxage=3600", "vary": "Accept-Encoding"}


def _cached_app() -> Starlette:
    """A host whose every answer is cacheable by shared caches."""

    async def page(request: Request) -> Response:
        return HTMLResponse(PAGE, headers=CACHING)

    async def fragment(request: Request) -> Response:  # HTML without </body>: no banner
        return HTMLResponse("<p>fragment</p>", headers=CACHING)

    async def analytics(request: Request) -> Response:
        response = PlainTextResponse("ok", headers=CACHING)
        response.set_cookie("_ga", "GA1.1.1")
        return response

    async def plain(request: Request) -> Response:
        return PlainTextResponse("ok", headers=CACHING)

    return Starlette(
        routes=[Route("/", page), Route("/fragment", fragment), Route("/ga", analytics),
                Route("/plain", plain)]
    )  # fmt: skip


def test_a_page_with_the_banner_is_private(make_app: MakeApp) -> None:
    """The banner shows this visitor's state: ``public`` and ``s-maxage`` give way to
    ``private`` (the browser's max-age stays), and Vary gains Cookie."""
    response = TestClient(make_app(_cached_app())).get("/")
    assert 'id="cl-banner"' in response.text
    assert "private, max-age=600" == response.headers["cache-control"]
    assert "Accept-Encoding, Cookie" == response.headers["vary"]


def test_a_response_that_gains_a_cookie_is_private(make_app: MakeApp) -> None:
    """A GPC refusal sets the consent cookie on a page without a banner: private."""
    response = TestClient(make_app(_cached_app())).get("/fragment", headers={"sec-gpc": "1"})
    assert "cl_consent" in response.headers["set-cookie"]
    assert "<p>fragment</p>" == response.text
    assert ("private, max-age=600", "Accept-Encoding, Cookie") == (
        response.headers["cache-control"],
        response.headers["vary"],
    )


def test_a_consent_governed_cookie_makes_a_response_private(make_app: MakeApp) -> None:
    """A host `_ga` cookie is passed or withheld by consent: either way the answer
    depends on the visitor's cookies and no shared cache may keep it."""
    app = make_app(_cached_app())
    declined = TestClient(app).get("/ga")
    accepted = TestClient(app).get("/ga", headers={"cookie": consent_cookie(app, ["analytics"])})
    assert ([], ["_ga"]) == (
        declined.headers.get_list("set-cookie"),
        [c.split("=", 1)[0] for c in accepted.headers.get_list("set-cookie")],
    )
    for response in (declined, accepted):
        assert "private, max-age=600" == response.headers["cache-control"]


def test_responses_left_alone_keep_the_hosts_caching(make_app: MakeApp) -> None:
    """A text answer and a decided visitor's fragment are the host's, headers and all."""
    app = make_app(_cached_app())
    client = TestClient(app, cookies={"cl_consent": consent_cookie(app).split("=", 1)[1]})
    for path in ("/plain", "/fragment"):
        response = client.get(path)
        assert [] == response.headers.get_list("set-cookie")
        assert CACHING == {k: response.headers[k] for k in CACHING}, path


def test_private_keeps_the_browsers_directives() -> None:
    """``no-store``, ``no-cache``, quoted values stay; shared-cache headers and directives
    go; a ``Vary: *`` or one naming Cookie already is kept as it is."""
    headers = [
        (b"Cache-Control", b'no-cache="Set-Cookie, X-A", no-store'),
        (b"Cache-Control", b"public, must-revalidate, private"),
        (b"CDN-Cache-Control", b"max-age=3600"),
        (b"Surrogate-Control", b"max-age=3600"),
        (b"Vary", b"*"),
        (b"x-other", b"1"),
    ]
    assert [
        (b"x-other", b"1"),
        (b"cache-control", b'private, no-cache="Set-Cookie, X-A", no-store, must-revalidate'),
        (b"vary", b"*"),
    ] == private(headers)
    assert [(b"cache-control", b"private"), (b"vary", b"accept, cookie")] == private(
        [(b"vary", b"accept, cookie")]
    )
