"""Shared fixtures: one embedded chDB store per test session, a database per test.

chDB opens one store path per process, so every test shares the session's store and gets
its own database; apps are built fresh per test, as Starlette's own tests do.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from consentlog.middleware import ConsentMiddleware
from consentlog.store import Store, open_store

SECRET = "test-secret-key"
_databases = itertools.count()


@pytest.fixture(scope="session")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"chdb://{tmp_path_factory.mktemp('store')}"


@pytest.fixture(scope="session")
def store(store_url: str) -> Iterator[Store]:
    shared = open_store(store_url)
    yield shared
    shared.close()


@pytest.fixture
def database() -> str:
    return f"t{next(_databases)}"


async def _page(request: Request) -> Response:
    response = HTMLResponse(
        f"<!doctype html><html><head><title>t</title></head><body><h1>{request.url.path}</h1>"
        "</body></html>"
    )
    if "set" in request.query_params:
        response.set_cookie("_ga", "GA1.1.1")
        response.set_cookie("_fbp", "fb.1")
        response.set_cookie("theme", "dark")
    return response


async def _plain(request: Request) -> Response:
    return PlainTextResponse("ok")


def host_app() -> Starlette:
    """A small host application: HTML pages, a text endpoint."""
    return Starlette(
        routes=[
            Route("/", _page),
            Route("/docs/{slug}", _page),
            Route("/healthz", _plain),
            Route("/api/text", _plain),
        ]
    )


MakeApp = Callable[..., ConsentMiddleware]


@pytest.fixture
def make_app(store_url: str, store: Store, database: str) -> Iterator[MakeApp]:
    """Build a ConsentMiddleware around ``app`` (the host app by default) for this test."""
    built: list[ConsentMiddleware] = []

    def make(app: Any = None, **options: Any) -> ConsentMiddleware:
        options.setdefault("secret_keys", [SECRET])
        options.setdefault("flush_interval", 0.05)
        middleware = ConsentMiddleware(
            app if app is not None else host_app(),
            clickhouse_url=store_url,
            database=database,
            **options,
        )
        built.append(middleware)
        return middleware

    yield make
    for middleware in built:
        middleware.writer.stop()


@pytest.fixture
def client(make_app: MakeApp) -> TestClient:
    return TestClient(make_app(), base_url="http://testserver")


def rows(middleware: ConsentMiddleware, sql: str) -> list[dict[str, Any]]:
    """Flush the writer, then run ``sql`` (``{db}`` is the test's database) as dicts."""
    assert middleware.writer.flush(), "writer did not flush"
    columns, result = middleware.writer.store.query(sql.format(db=middleware.settings.database))
    return [dict(zip(columns, r, strict=True)) for r in result]


def set_cookies(response: Any) -> dict[str, str]:
    """Cookie name → raw ``Set-Cookie`` header value of a response."""
    return {v.split("=", 1)[0]: v for v in response.headers.get_list("set-cookie")}


def tmp_store_dir(tmp_path: Path) -> str:
    return f"chdb://{tmp_path / 'store'}"


def cli_env() -> dict[str, str]:
    """The environment for a `consentlog` subprocess: no CONSENTLOG_* settings from the
    developer's shell, and this tree's package first on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTLOG_")}
    package_root = str(Path(__file__).resolve().parent.parent / "middleware")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env
