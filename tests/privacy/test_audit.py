"""The audit of data-subject requests (``subject_requests``): who acted, a row for a
request that found nothing, a row with outcome ``failed`` when a request broke part way,
and rows written before schema version 12 still readable."""

from __future__ import annotations

import datetime
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from consentlog.analytics.reports import subject_requests
from consentlog.cli import main
from consentlog.dashboard import create_dashboard
from consentlog.privacy.subject import Subject, erase, export
from consentlog.store import Store
from consentlog.store.schema import MIGRATIONS, bootstrap, migrate, render
from tests.dashboard.support import SECRET
from tests.dashboard.team import log_in, team_store

WIDE = (datetime.date(2000, 1, 1), datetime.date(2100, 1, 1))


def _audit(store: Store, database: str) -> list[tuple[str, str, str, int, str]]:
    return sorted(
        (r.request, r.channel, r.actor, r.rows, r.outcome)
        for r in subject_requests(store, database, *WIDE)
    )


def _visitor_rows(store: Store, database: str, visitor: str, count: int) -> None:
    store.command(
        f"INSERT INTO {database}.page_requests (ts, pageview_id, path, visitor_id)"
        f" SELECT now64(3), generateUUIDv4(), '/p', '{visitor}' FROM numbers({count})"
    )


def test_the_privacy_page_records_who_acted_even_when_nothing_matched(
    store: Store, database: str, tmp_path: Path
) -> None:
    """A privacy officer's export and erasure of an unknown subject, and an erasure
    that removed rows: each audited with the user's name, rows and outcome."""
    migrate(store, database)
    _visitor_rows(store, database, "v-known", 3)
    users = team_store(tmp_path / "users.json")
    app = create_dashboard(store, database=database, users=users, secret_keys=[SECRET])
    client = log_in(TestClient(app, base_url="http://testserver"), "privacy")
    assert 200 == client.post("/privacy/export", data={"visitor": "v-nobody"}).status_code
    form = {"visitor": "v-nobody", "confirm": "erase"}
    assert 200 == client.post("/privacy/forget", data=form).status_code
    form = {"visitor": "v-known", "confirm": "erase"}
    page = client.post("/privacy/forget", data=form)
    assert "Erased 3 rows" in page.text
    assert [
        ("erase", "dashboard", "privacy", 0, "done"),
        ("erase", "dashboard", "privacy", 3, "done"),
        ("export", "dashboard", "privacy", 0, "done"),
    ] == _audit(store, database)
    listed = client.get(
        "/privacy",
        params={
            "start": str(datetime.date.today() - datetime.timedelta(days=7)),
            "end": str(datetime.date.today() + datetime.timedelta(days=1)),
        },
    ).text
    assert listed.count('<td class="text">privacy</td>') == 3


def test_the_cli_is_the_actor_of_consentlog_forget(
    store_url: str, store: Store, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`consentlog export` / `forget` of a subject with no rows: audited as 'cli'."""
    migrate(store, database)
    args = ["--clickhouse-url", store_url, "--database", database, "--visitor", "v-none"]
    assert 0 == main(["forget", *args])
    assert 0 == main(["export", *args])
    capsys.readouterr()
    assert [
        ("erase", "operator", "cli", 0, "done"),
        ("export", "operator", "cli", 0, "done"),
    ] == _audit(store, database)


def test_an_erasure_broken_part_way_is_audited_as_failed(store: Store, database: str) -> None:
    """The rows went, then the rollup could not be read (its table is gone): the error
    goes on, and the audit says how many rows were matched and that it failed."""
    migrate(store, database)
    _visitor_rows(store, database, "v-half", 4)
    store.command(f"DROP TABLE {database}.page_daily")
    with pytest.raises(Exception, match="page_daily"):
        erase(store, database, Subject(visitor_ids=("v-half",)), "dashboard", "ana")
    assert [("erase", "dashboard", "ana", 4, "failed")] == _audit(store, database)


def test_a_dashboard_request_names_its_actor(store: Store, database: str) -> None:
    """A dashboard request without an actor is refused before it touches a row."""
    migrate(store, database)
    with pytest.raises(ValueError, match="needs an actor"):
        export(store, database, Subject(visitor_ids=("v",)), "dashboard")
    assert [] == _audit(store, database)


def test_self_service_requests_that_find_nothing_stay_unrecorded(
    store: Store, database: str
) -> None:
    """A visitor replaying their forget finds nothing: no row (they could repeat it
    without end); one that found rows is recorded as 'self-service'."""
    migrate(store, database)
    _visitor_rows(store, database, "v-self", 2)
    subject = Subject(visitor_ids=("v-self",))
    erase(store, database, subject, "self-service")
    erase(store, database, subject, "self-service")
    assert [("erase", "self-service", "self-service", 2, "done")] == _audit(store, database)


def test_rows_from_before_version_12_stay_readable(store: Store, database: str) -> None:
    """An audit row written at version 10 reads with no actor and outcome 'done'."""
    for migration in MIGRATIONS:
        if migration.version <= 10:
            for statement in bootstrap(database) + render(migration, database):
                store.command(statement)
    store.command(
        f"INSERT INTO {database}.subject_requests (ts, request, channel, rows)"
        " VALUES (now64(3), 'erase', 'operator', 5)"
    )
    versions = ", ".join(f"({m.version})" for m in MIGRATIONS if m.version <= 10)
    store.command(f"INSERT INTO {database}.schema_migrations (version) VALUES {versions}")
    assert 12 in migrate(store, database)
    assert [("erase", "operator", "", 5, "done")] == _audit(store, database)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(actor=st.text(min_size=1, max_size=120))
def test_any_actor_is_stored_as_given(store: Store, actor: str) -> None:
    """Whatever the actor's name holds, it is bound, not spliced: stored as given."""
    database = f"audit_{uuid.uuid4().hex[:8]}"
    migrate(store, database)
    export(store, database, Subject(visitor_ids=("v",)), "dashboard", actor)
    assert [("export", "dashboard", actor, 0, "done")] == _audit(store, database)
    store.command(f"DROP DATABASE {database}")
