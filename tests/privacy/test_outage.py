"""An outage never blocks a visitor's choice: decline, withdrawal and erasure are answered
at once, and an erasure asked for while the store is down is carried out when it is back."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.asgi.selfservice import STORE_WAIT
from consentlog.ingest.writer import Writer
from consentlog.privacy.pending import ErasureHook, pending_for
from consentlog.store import Store
from consentlog.testing import OutageStore
from consentlog.texts import shipped
from tests.helpers import MakeApp, rows, set_cookies

ERASURE_PENDING = shipped()["en"]["erasure_pending"]
STORE_UNAVAILABLE = shipped()["en"]["store_unavailable"]


def _outage_app(
    make_stored_app: MakeApp, store: Store, database: str, spool: Path, **options: Any
) -> tuple[ConsentMiddleware, OutageStore]:
    outage = OutageStore(store)
    writer = Writer(
        outage,  # type: ignore[arg-type]
        database=database,
        spool_dir=spool,
        flush_interval=0.05,
        after_cycle=(ErasureHook(policy_revision=1),),
    )
    return make_stored_app(writer=writer, **options), outage


def _visit(client: TestClient, pages: int = 3) -> str:
    client.post("/_consent", json={"action": "accept_all"})
    for i in range(pages):
        client.get(f"/docs/{i}")
    return client.cookies["cl_vid"]


def wait_until_carried_out(app: ConsentMiddleware, seconds: float = 15.0) -> None:
    """Wait for the writer to carry out every kept erasure."""
    writer = app.writer
    assert isinstance(writer, Writer)
    deadline = time.monotonic() + seconds
    while pending_for(writer).files():
        assert time.monotonic() < deadline, "the kept erasure was not carried out"
        time.sleep(0.05)


def _visitor_rows(app: ConsentMiddleware, visitor: str) -> int:
    return sum(
        len(rows(app, f"SELECT 1 FROM {{db}}.{table} WHERE visitor_id = '{visitor}'"))
        for table in ("page_requests", "consent_records", "engagements")
    )


def test_forget_during_an_outage_is_kept_and_carried_out_later(
    make_stored_app: MakeApp, store: Store, database: str, tmp_path: Path
) -> None:
    """forget while the store is down: 202 with a sentence, cookies expired at once, the
    request kept on disk with nothing but the ids, carried out (spooled pages included)
    once the store is back, and the file gone."""
    app, outage = _outage_app(make_stored_app, store, database, tmp_path / "spool")
    client = TestClient(app)
    visitor = _visit(client, pages=2)
    rows(app, "SELECT 1")  # written while the store is up
    outage.down = True
    client.get("/docs/during-outage")  # spooled by the writer, replayed later
    started = time.monotonic()
    response = client.post("/_consent/forget")
    assert time.monotonic() - started < STORE_WAIT + 1
    assert 202 == response.status_code
    assert ERASURE_PENDING == response.json()["message"]
    for name in ("cl_vid", "cl_sid", "cl_consent"):
        assert "Max-Age=0" in set_cookies(response)[name]
    [kept] = pending_for(app.writer).files()  # type: ignore[arg-type]
    request = json.loads(kept.read_text())
    assert {"visitor_ids", "consent_id", "requested_at"} == set(request)
    assert [visitor] == request["visitor_ids"]
    outage.down = False
    wait_until_carried_out(app)
    assert 0 == _visitor_rows(app, visitor)
    erasures = rows(app, "SELECT visitor_id FROM {db}.consent_records WHERE action = 'erase'")
    assert [{"visitor_id": ""}] == erasures
    assert [] == list((tmp_path / "spool" / "erasures").glob("*"))


def test_withdraw_and_decline_during_an_outage_are_answered_at_once(
    make_stored_app: MakeApp, store: Store, database: str, tmp_path: Path
) -> None:
    """With erase_on_withdraw and the store down, withdrawal is answered 202 with the
    traffic cookies expired, decline 200; the erasure happens when the store is back."""
    app, outage = _outage_app(
        make_stored_app, store, database, tmp_path / "spool", erase_on_withdraw=True
    )
    client = TestClient(app)
    visitor = _visit(client)
    rows(app, "SELECT 1")
    outage.down = True
    client.get("/docs/again")  # a failed attempt: the writer now knows the store is down
    deadline = time.monotonic() + 10
    while not app.writer.store_down:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    started = time.monotonic()
    withdrawn = client.delete("/_consent")
    declined = TestClient(app).post("/_consent", json={"action": "reject_all"})
    assert time.monotonic() - started < 1.0
    assert (202, 200) == (withdrawn.status_code, declined.status_code)
    assert ERASURE_PENDING == withdrawn.json()["erasure"]
    assert False is withdrawn.json()["categories"]["analytics"]
    for name in ("cl_vid", "cl_sid"):
        assert "Max-Age=0" in set_cookies(withdrawn)[name]
    outage.down = False
    wait_until_carried_out(app)
    assert 0 == _visitor_rows(app, visitor)


def test_my_data_during_an_outage_is_a_json_503(
    make_stored_app: MakeApp, store: Store, database: str, tmp_path: Path
) -> None:
    """my-data while the store is down: a JSON 503 naming the problem, within the bound."""
    app, outage = _outage_app(make_stored_app, store, database, tmp_path / "spool")
    client = TestClient(app)
    _visit(client)
    rows(app, "SELECT 1")
    outage.down = True
    started = time.monotonic()
    response = client.get("/_consent/my-data")
    assert time.monotonic() - started < STORE_WAIT + 1
    assert 503 == response.status_code
    assert {"error": STORE_UNAVAILABLE} == response.json()
    assert "retry-after" in response.headers


class HangingStore:
    """A store whose queries do not answer for a long time."""

    def __init__(self, store: Store, seconds: float) -> None:
        self._store, self._seconds = store, seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def query(self, *args: Any, **kwargs: Any) -> Any:
        time.sleep(self._seconds)
        return self._store.query(*args, **kwargs)


def test_a_store_that_does_not_answer_never_holds_a_visitor_long(
    make_stored_app: MakeApp, store: Store
) -> None:
    """forget on a store that hangs is answered 202 within STORE_WAIT, not after the hang."""
    app = make_stored_app()
    client = TestClient(app)
    _visit(client, pages=1)
    rows(app, "SELECT 1")
    app.core.store = HangingStore(store, seconds=STORE_WAIT + 3)  # type: ignore[assignment]
    started = time.monotonic()
    response = client.post("/_consent/forget")
    assert time.monotonic() - started < STORE_WAIT + 1
    assert 202 == response.status_code
