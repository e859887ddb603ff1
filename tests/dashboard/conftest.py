"""Fixtures of the dashboard tests: the week of traffic loaded into a database once per
test module, the dashboard over it, and a client before and after login."""

from __future__ import annotations

import uuid

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from consentlog.dashboard import create_dashboard
from consentlog.ingest.writer import Writer
from consentlog.settings import funnel_rule
from consentlog.store import Store
from tests.dashboard.support import PASSWORD, SECRET, TOKEN, events


@pytest.fixture(scope="module")
def dataset(store: Store, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database with the week of traffic, loaded once for the module."""
    database = f"dashboard_{uuid.uuid4().hex[:8]}"
    writer = Writer(
        store,
        database=database,
        spool_dir=tmp_path_factory.mktemp("spool"),
        batch_size=50_000,
        flush_interval=0.05,
    )
    for event in events():
        writer.submit(event)
    assert writer.stop(120)
    return database


FUNNELS = ("buy=/ > /pricing > goal:signup", "read=/docs/* > goal:signup")


@pytest.fixture
def app(store: Store, dataset: str) -> Starlette:
    return create_dashboard(
        store, database=dataset, password=PASSWORD, token=TOKEN, secret_keys=[SECRET],
        funnels=[funnel_rule(text) for text in FUNNELS],
    )  # fmt: skip


@pytest.fixture
def anonymous(app: Starlette) -> TestClient:
    return TestClient(app, base_url="http://testserver")


@pytest.fixture
def analyst(anonymous: TestClient) -> TestClient:
    """A client logged in with the password."""
    response = anonymous.post("/login", data={"secret": PASSWORD}, follow_redirects=False)
    assert 303 == response.status_code
    return anonymous
