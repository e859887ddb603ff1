"""Shared fixtures: apps built fresh per test (as Starlette's own tests do), and one
embedded chDB store per test session with a database per test.

``make_app`` keeps a middleware's events in memory; only tests that read stored rows ask
for ``make_stored_app`` and so start a writer on chDB. chDB opens one store path per
process, so those tests share the session's store, each in its own database.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

# Asserts in the shared helper modules (tests.helpers, tests.*.support …) report their
# values like those in test modules; this must run before any of them is imported.
pytest.register_assert_rewrite(
    "tests.helpers",
    "tests.asgi.support",
    "tests.dashboard.support",
    "tests.dashboard.team",
    "tests.analytics.grafana",
    "tests.browser.banner",
)

from starlette.testclient import TestClient  # noqa: E402

from consentlog.asgi.middleware import ConsentMiddleware  # noqa: E402
from consentlog.store import Store, open_store  # noqa: E402
from consentlog.testing import MemorySink  # noqa: E402
from tests.helpers import SECRET, MakeApp, host_app  # noqa: E402

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


def _builder(
    built: list[ConsentMiddleware], store_url: str, database: str, *, stored: bool
) -> MakeApp:
    """A ``make_app`` function; what it builds is collected in ``built``, to be stopped."""

    def make(app: Any = None, **options: Any) -> ConsentMiddleware:
        options.setdefault("secret_keys", [SECRET])
        options.setdefault("flush_interval", 0.05)
        if not stored:
            options.setdefault("writer", MemorySink())
        middleware = ConsentMiddleware(
            app if app is not None else host_app(),
            clickhouse_url=store_url,
            database=database,
            **options,
        )
        built.append(middleware)
        return middleware

    return make


@pytest.fixture
def make_app(store_url: str, database: str) -> Iterator[MakeApp]:
    """Build a ConsentMiddleware around ``app`` (the host app by default) for this test;
    its events stay in a ``MemorySink`` (no writer, no chDB) unless ``writer=`` is given."""
    built: list[ConsentMiddleware] = []
    yield _builder(built, store_url, database, stored=False)
    for middleware in built:
        middleware.writer.stop()


@pytest.fixture
def make_stored_app(store_url: str, store: Store, database: str) -> Iterator[MakeApp]:
    """Like ``make_app``, with the real background writer into this test's database on
    the session's chDB store: for tests that read the rows back (``helpers.rows``)."""
    built: list[ConsentMiddleware] = []
    yield _builder(built, store_url, database, stored=True)
    for middleware in built:
        middleware.writer.stop()


@pytest.fixture
def client(make_app: MakeApp) -> TestClient:
    return TestClient(make_app(), base_url="http://testserver")
