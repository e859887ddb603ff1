"""Shared fixtures: one embedded chDB store per test session, a database per test.

chDB opens one store path per process, so every test shares the session's store and gets
its own database; apps are built fresh per test, as Starlette's own tests do.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.store import Store, open_store
from tests.helpers import SECRET, MakeApp, host_app

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
