"""The background writer: every event lands exactly once, storage failures never reach pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from consentlog.ingest.writer import Writer
from consentlog.store import Store
from consentlog.testing import OutageStore
from tests.helpers import SECRET, MakeApp, host_app, rows


class FlakyStore:
    """Wraps the real store; the first ``fail`` inserts raise — before or after writing."""

    def __init__(self, store: Store, *, fail: int, after_write: bool) -> None:
        self._store = store
        self._fail = fail
        self._after_write = after_write
        self.attempts = 0

    def insert_arrow(self, table: str, data: Any, *, dedup_token: str) -> None:
        self.attempts += 1
        if self._fail and not self._after_write:
            self._fail -= 1
            raise ConnectionError("injected outage")
        self._store.insert_arrow(table, data, dedup_token=dedup_token)
        if self._fail:
            self._fail -= 1
            raise ConnectionError("injected: answer lost after the write")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def _writer(store: Any, database: str) -> Writer:
    return Writer(store, database=database, batch_size=500, flush_interval=0.02)


@pytest.mark.slow
def test_many_requests_land_exactly_once(make_stored_app: MakeApp) -> None:
    """3,000 page requests → 3,000 rows, every pageview_id once, in batches."""
    app = make_stored_app(batch_size=500)
    client = TestClient(app)
    for i in range(3000):
        assert 200 == client.get(f"/docs/{i}").status_code
    [result] = rows(
        app, "SELECT count() AS n, uniqExact(pageview_id) AS ids FROM {db}.page_requests"
    )
    assert {"n": 3000, "ids": 3000} == result
    assert isinstance(app.writer, Writer)
    assert app.writer.counters.batches >= 6


def test_outage_keeps_pages_serving_and_loses_nothing(
    store: Store, database: str, make_app: MakeApp
) -> None:
    """While inserts fail, pages answer 200; afterwards every event is stored once."""
    flaky = FlakyStore(store, fail=3, after_write=False)
    app = make_app(writer=_writer(flaky, database))
    client = TestClient(app)
    for i in range(200):
        assert 200 == client.get(f"/docs/{i}").status_code
    [result] = rows(
        app, "SELECT count() AS n, uniqExact(pageview_id) AS ids FROM {db}.page_requests"
    )
    assert {"n": 200, "ids": 200} == result
    assert isinstance(app.writer, Writer)
    assert app.writer.counters.failures >= 3


def test_retry_after_a_lost_answer_is_deduplicated(
    store: Store, database: str, make_app: MakeApp
) -> None:
    """A batch written but reported failed is retried with its token and stored once."""
    flaky = FlakyStore(store, fail=1, after_write=True)
    app = make_app(writer=_writer(flaky, database))
    client = TestClient(app)
    for i in range(50):
        client.get(f"/docs/{i}")
    [result] = rows(app, "SELECT count() AS n FROM {db}.page_requests")
    assert {"n": 50} == result
    assert flaky.attempts >= 2


def test_unreachable_server_url_does_not_break_the_site(tmp_path: Path) -> None:
    """With ClickHouse unreachable at start-up the site serves, and events wait queued."""
    from consentlog.asgi.middleware import ConsentMiddleware

    app = ConsentMiddleware(
        host_app(),
        secret_keys=[SECRET],
        clickhouse_url="http://127.0.0.1:9/",
        flush_interval=0.05,
        spool_dir=str(tmp_path),
    )
    assert isinstance(app.writer, Writer)
    try:
        client = TestClient(app)
        assert 200 == client.get("/").status_code
        assert False is app.writer.flush(timeout=0.5)
        assert 1 == app.writer.counters.queued
        assert 0 == app.writer.counters.written
    finally:
        assert False is app.writer.stop(timeout=0.1)
    assert 1 == app.writer.counters.spooled
    assert 1 == app.writer.spool.stats().files


@pytest.mark.slow
def test_outage_spools_with_bounded_queue_then_replays_exactly_once(
    store: Store, database: str, tmp_path: Path, make_app: MakeApp
) -> None:
    """ClickHouse down: pages answer 200, the queue stays under its bound, spool files
    appear; back up: every event is stored exactly once."""
    down = OutageStore(store, down=True)
    writer = Writer(
        down,
        database=database,
        spool_dir=tmp_path,
        queue_size=400,
        batch_size=100,
        flush_interval=0.02,
    )
    app = make_app(writer=writer)
    client = TestClient(app)
    longest_queue = 0
    for i in range(1500):
        assert 200 == client.get(f"/docs/{i}").status_code
        longest_queue = max(longest_queue, writer.status()["queue_length"])
    assert 0 == writer.counters.dropped
    assert longest_queue <= 400
    assert writer.spool.stats().files > 0
    assert 0 == writer.counters.written
    down.down = False
    # hundreds of small spool files replay one insert each: seconds, a minute on a busy
    # machine (rows() flushes for 30 s)
    assert writer.flush(timeout=300), "the spool did not replay"
    [result] = rows(
        app, "SELECT count() AS n, uniqExact(pageview_id) AS ids FROM {db}.page_requests"
    )
    assert {"n": 1500, "ids": 1500} == result
    assert 0 == writer.spool.stats().files
    assert writer.counters.replayed > 0


class HangingStore:
    """Wraps the real store; inserts hang until ``release`` is set, as a wedged engine's."""

    def __init__(self, store: Store) -> None:
        import threading

        self._store = store
        self.entered = threading.Event()
        self.release = threading.Event()

    def insert_arrow(self, table: str, data: Any, *, dedup_token: str) -> None:
        self.entered.set()
        self.release.wait(30)
        self._store.insert_arrow(table, data, dedup_token=dedup_token)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_stop_spools_what_a_stuck_insert_holds(
    store: Store, database: str, make_app: MakeApp, tmp_path: Path
) -> None:
    """A writer whose insert hangs as the server stops spools the batch it holds; the next
    writer writes it once — also when the hung insert lands after all."""
    hanging = HangingStore(store)
    writer = Writer(hanging, database=database, batch_size=500, flush_interval=0.02,
                    spool_dir=tmp_path / "spool")  # fmt: skip
    app = make_app(writer=writer)
    client = TestClient(app)
    for i in range(40):
        assert 200 == client.get(f"/docs/{i}").status_code
    assert hanging.entered.wait(10)  # the batch is in the hung insert
    assert False is writer.stop(timeout=0.3)
    assert 40 == writer.counters.spooled
    hanging.release.set()  # the hung insert lands after all
    after = Writer(store, database=database, batch_size=500, flush_interval=0.02,
                   spool_dir=tmp_path / "spool")  # fmt: skip
    try:
        assert after.flush(30)
    finally:
        after.stop()
    [result] = rows(
        app, "SELECT count() AS n, uniqExact(pageview_id) AS ids FROM {db}.page_requests"
    )
    assert {"n": 40, "ids": 40} == result
