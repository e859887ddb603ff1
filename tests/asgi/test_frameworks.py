"""The middleware mounted in Starlette, FastAPI and Django: banner, accept, logged page."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse as FastHTMLResponse
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.store import Store
from tests.helpers import SECRET, MakeApp, rows, set_cookies

PAGE = "<!doctype html><html><head><title>{0}</title></head><body><h1>{0}</h1></body></html>"


@pytest.fixture
def options(store_url: str, store: Store, database: str) -> dict[str, Any]:
    """The keyword options conftest's ``make_stored_app`` passes, for framework-built
    mounts (their tests read the rows back)."""
    return {
        "clickhouse_url": store_url,
        "database": database,
        "secret_keys": [SECRET],
        "flush_interval": 0.05,
    }


@pytest.fixture
def mounted() -> Iterator[list[Starlette]]:
    """Apps whose ConsentMiddleware the framework built; their writers are stopped after."""
    apps: list[Starlette] = []
    yield apps
    for app in apps:
        if app.middleware_stack is not None:
            consent_layer(app).writer.stop()


def consent_layer(app: Starlette) -> ConsentMiddleware:
    """The ConsentMiddleware instance inside a built Starlette/FastAPI middleware stack."""
    layer: Any = app.middleware_stack
    while not isinstance(layer, ConsentMiddleware):
        layer = layer.app
    return layer


def accept_flow(client: TestClient, page: str) -> None:
    """First visit: banner and no cookie; Accept: the three cookies; next visit: hidden
    banner and a session cookie."""
    first = client.get(page)
    assert 200 == first.status_code
    assert 'id="cl-banner"' in first.text
    assert 'data-decided="0"' in first.text
    assert [] == first.headers.get_list("set-cookie")
    assert len(first.content) == int(first.headers["content-length"])
    accepted = client.post("/_consent", json={"action": "accept_all"})
    assert 200 == accepted.status_code
    assert {"cl_consent", "cl_vid", "cl_sid"} == set(set_cookies(accepted))
    after = client.get(page)
    assert 'data-decided="1"' in after.text
    assert " hidden>" in after.text
    assert "cl_sid" in set_cookies(after)


def logged(middleware: ConsentMiddleware, client: TestClient) -> list[tuple[Any, ...]]:
    """(path, route, consent_state, has the browser's visitor id) per page row."""
    found = rows(
        middleware,
        "SELECT path, route, consent_state, visitor_id FROM {db}.page_requests ORDER BY ts",
    )
    visitor = client.cookies["cl_vid"]
    return [(r["path"], r["route"], r["consent_state"], r["visitor_id"] == visitor) for r in found]


# -- Starlette ----------------------------------------------------------------------------


async def _starlette_page(request: Request) -> Response:
    return HTMLResponse(PAGE.format(request.url.path))


async def _starlette_json(request: Request) -> Response:
    return JSONResponse({"ok": True})


def _starlette_routes() -> list[Route]:
    return [Route("/", _starlette_page), Route("/posts/{post_id:int}", _starlette_page),
            Route("/api/ping", _starlette_json)]  # fmt: skip


def test_starlette_middleware_list(options: dict[str, Any], mounted: list[Starlette]) -> None:
    """``Starlette(middleware=[Middleware(ConsentMiddleware, **options)])`` works end to end."""
    app = Starlette(
        routes=_starlette_routes(), middleware=[Middleware(ConsentMiddleware, **options)]
    )
    mounted.append(app)
    client = TestClient(app)
    accept_flow(client, "/posts/7")
    assert b'{"ok":true}' == client.get("/api/ping").content
    assert [
        ("/posts/7", "/posts/{post_id:int}", "unknown", False),
        ("/posts/7", "/posts/{post_id:int}", "granted", True),
    ] == logged(consent_layer(app), client)


def test_starlette_add_middleware(options: dict[str, Any], mounted: list[Starlette]) -> None:
    """``app.add_middleware(ConsentMiddleware, **options)`` takes keyword options only."""
    app = Starlette(routes=_starlette_routes())
    app.add_middleware(ConsentMiddleware, **options)
    mounted.append(app)
    client = TestClient(app)
    accept_flow(client, "/")
    assert ["unknown", "granted"] == [row[2] for row in logged(consent_layer(app), client)]


def test_starlette_wrapped_explicitly(make_stored_app: MakeApp) -> None:
    """``ConsentMiddleware(Starlette(...))`` outside the app records the same rows."""
    middleware = make_stored_app(Starlette(routes=_starlette_routes()))
    client = TestClient(middleware)
    accept_flow(client, "/posts/8")
    assert [
        ("/posts/8", "/posts/{post_id:int}", "unknown", False),
        ("/posts/8", "/posts/{post_id:int}", "granted", True),
    ] == logged(middleware, client)


# -- FastAPI ------------------------------------------------------------------------------


def fastapi_app() -> FastAPI:
    """A FastAPI app with an HTML item page and a JSON endpoint."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/items/{item_id}", response_class=FastHTMLResponse)
    async def item(item_id: int) -> str:
        return PAGE.format(f"item {item_id}")

    @app.get("/api/items/{item_id}")
    async def item_json(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    return app


def test_fastapi_add_middleware(options: dict[str, Any], mounted: list[Starlette]) -> None:
    """``FastAPI.add_middleware``: banner, accept, and rows with FastAPI's route template."""
    app = fastapi_app()
    app.add_middleware(ConsentMiddleware, **options)
    mounted.append(app)
    client = TestClient(app)
    accept_flow(client, "/items/42")
    api = client.get("/api/items/42")
    assert {"item_id": 42} == api.json()
    assert "cl-banner" not in api.text
    assert [
        ("/items/42", "/items/{item_id}", "unknown", False),
        ("/items/42", "/items/{item_id}", "granted", True),
    ] == logged(consent_layer(app), client)


def test_fastapi_wrapped_explicitly(make_stored_app: MakeApp) -> None:
    """``ConsentMiddleware(FastAPI())`` sees the route template FastAPI's router matched."""
    middleware = make_stored_app(fastapi_app())
    client = TestClient(middleware)
    accept_flow(client, "/items/3")
    assert [
        ("/items/3", "/items/{item_id}", "unknown", False),
        ("/items/3", "/items/{item_id}", "granted", True),
    ] == logged(middleware, client)


def test_fastapi_validation_errors_are_not_pages(make_stored_app: MakeApp) -> None:
    """FastAPI's own 422 JSON answer passes through untouched and unlogged."""
    middleware = make_stored_app(fastapi_app())
    client = TestClient(middleware)
    response = client.get("/items/not-a-number")
    assert 422 == response.status_code
    assert "cl-banner" not in response.text
    assert [] == response.headers.get_list("set-cookie")
    client.get("/items/1")
    assert [{"path": "/items/1"}] == rows(middleware, "SELECT path FROM {db}.page_requests")


# -- Django -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def django_app() -> Any:
    """Django's ASGI application for ``tests/asgi/django_site`` (settings read once, then the
    environment is restored)."""
    previous = os.environ.get("DJANGO_SETTINGS_MODULE")
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.asgi.django_site.settings"
    try:
        from django.core.asgi import get_asgi_application

        return get_asgi_application()
    finally:
        if previous is None:
            del os.environ["DJANGO_SETTINGS_MODULE"]
        else:
            os.environ["DJANGO_SETTINGS_MODULE"] = previous


def test_django_asgi(make_stored_app: MakeApp, django_app: Any) -> None:
    """``ConsentMiddleware(get_asgi_application())``: banner, accept, granted page row."""
    middleware = make_stored_app(django_app)
    client = TestClient(middleware)
    accept_flow(client, "/articles/hello/")
    ping = client.get("/api/ping")
    assert {"ok": True} == ping.json()
    assert "cl-banner" not in ping.text
    assert [
        ("/articles/hello/", "", "unknown", False),
        ("/articles/hello/", "", "granted", True),
    ] == logged(middleware, client)


def test_django_cookies_are_enforced(make_app: MakeApp, django_app: Any) -> None:
    """Django's own ``_ga`` cookie is removed until analytics is accepted."""
    client = TestClient(make_app(django_app))
    assert ["theme"] == list(set_cookies(client.get("/?set=1")))
    client.post("/_consent", json={"action": "accept_all"})
    assert {"_ga", "theme", "cl_sid"} == set(set_cookies(client.get("/?set=1")))


def test_django_404_passes_through(make_stored_app: MakeApp, django_app: Any) -> None:
    """Django's 404 page is Django's own (only 200 pages get the banner) and is logged
    with status 404."""
    middleware = make_stored_app(django_app)
    response = TestClient(middleware).get("/nowhere/")
    assert 404 == response.status_code
    assert "cl-banner" not in response.text
    assert [{"path": "/nowhere/", "status": 404}] == rows(
        middleware, "SELECT path, status FROM {db}.page_requests"
    )
