"""Data-subject rights: export and erasure, self-service and by the operator."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from consentlog.privacy.subject import TABLES, Subject, erase_statements
from consentlog.store import Store
from tests.helpers import BROWSER, ROOT, MakeApp, cli_env, rows, set_cookies
from tests.privacy.test_outage import wait_until_carried_out


def _visit(client: TestClient, pages: int = 3, prefix: str = "/docs/") -> None:
    client.post("/_consent", json={"action": "accept_all"})
    for i in range(pages):
        client.get(f"{prefix}{i}")


def test_my_data_lists_only_my_rows(make_stored_app: MakeApp) -> None:
    """my-data returns this browser's consent records and page requests, not another's."""
    app = make_stored_app()
    me, other = TestClient(app, headers=BROWSER), TestClient(app, headers=BROWSER)
    _visit(me)
    _visit(other, pages=2)
    data = me.get("/_consent/my-data").json()
    assert ["/docs/0", "/docs/1", "/docs/2"] == [r["path"] for r in data["page_requests"]]
    assert {me.cookies["cl_vid"]} == {r["visitor_id"] for r in data["page_requests"]}
    assert ["accept_all"] == [r["action"] for r in data["consent_records"]]
    assert "without any identifier" in data["statement"]
    response = me.get("/_consent/my-data")
    assert "no-store" == response.headers["cache-control"]
    assert "access-control-allow-origin" not in response.headers


def test_my_data_and_forget_refuse_cross_site(make_stored_app: MakeApp) -> None:
    """Cross-site requests to my-data and forget get 403 and change nothing."""
    client = TestClient(make_stored_app())
    _visit(client)
    for method, path in (("GET", "/_consent/my-data"), ("POST", "/_consent/forget")):
        for header in ({"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"}):
            response = client.request(method, path, headers=header)
            assert 403 == response.status_code
            assert [] == response.headers.get_list("set-cookie")
    assert 3 == len(client.get("/_consent/my-data").json()["page_requests"])


def test_forget_erases_everything_and_expires_cookies(make_stored_app: MakeApp) -> None:
    """forget removes every row with my ids (my goals too), expires my cookies, keeps an
    anonymous record, and leaves the other visitor alone."""
    app = make_stored_app(goals=("docs=GET /docs/{n}",))
    me, other = TestClient(app, headers=BROWSER), TestClient(app, headers=BROWSER)
    _visit(me)
    _visit(other)
    visitor = me.cookies["cl_vid"]
    response = me.post("/_consent/forget")
    assert 200 == response.status_code
    assert {"consent_records": 1, "page_requests": 3, "engagements": 0, "goals": 3} == (
        response.json()["erased"]
    )
    cookies = set_cookies(response)
    for name in ("cl_vid", "cl_sid", "cl_consent"):
        assert "Max-Age=0" in cookies[name]
    for table in TABLES:
        assert [] == rows(app, f"SELECT * FROM {{db}}.{table} WHERE visitor_id = '{visitor}'")
    erasures = rows(
        app, "SELECT consent_id, visitor_id FROM {db}.consent_records WHERE action = 'erase'"
    )
    assert [{"consent_id": "", "visitor_id": ""}] == erasures
    assert 3 == len(other.get("/_consent/my-data").json()["page_requests"])
    [audit] = rows(
        app, "SELECT request, channel, rows FROM {db}.subject_requests WHERE request = 'erase'"
    )
    assert {"request": "erase", "channel": "self-service", "rows": 7} == audit
    assert 3 == len(other.get("/_consent/my-data").json()["goals"])


def test_forget_form_posts_redirect_back(make_stored_app: MakeApp) -> None:
    """The banner's "Delete my data" form post is answered 303 back to the page."""
    client = TestClient(make_stored_app())
    _visit(client)
    response = client.post("/_consent/forget", data={"next": "/docs/1"}, follow_redirects=False)
    assert (303, "/docs/1") == (response.status_code, response.headers["location"])


def test_erase_on_withdraw(make_stored_app: MakeApp) -> None:
    """With erase_on_withdraw, withdrawing consent also erases the visitor's rows (on the
    writer's thread, after the answer)."""
    app = make_stored_app(erase_on_withdraw=True)
    client = TestClient(app)
    _visit(client)
    visitor = client.cookies["cl_vid"]
    assert 200 == client.delete("/_consent").status_code
    wait_until_carried_out(app)
    assert [] == rows(app, f"SELECT * FROM {{db}}.page_requests WHERE visitor_id = '{visitor}'")


def test_erasure_rebuilds_rollup_days(make_stored_app: MakeApp, store: Store) -> None:
    """A rolled-up day that counted the visitor is rebuilt: its visitor count drops."""
    from consentlog.analytics.metrics import page_report
    from consentlog.analytics.rollup import rebuild_day

    app = make_stored_app()
    me, other = TestClient(app, headers=BROWSER), TestClient(app, headers=BROWSER)
    _visit(me, pages=1)
    _visit(other, pages=1)
    rows(app, "SELECT 1")  # flush
    db, today = app.settings.database, datetime.datetime.now(datetime.UTC).date()
    rebuild_day(store, db, today)
    visitors = {m.path: m.visitors for m in page_report(store, db, today, today, use_rollup=False)}
    assert 2 == visitors["/docs/0"]
    me.post("/_consent/forget")
    _, [(rolled, hashes)] = store.query(
        "SELECT uniqCombined64IfMerge(12)(visitors),"
        " sum(length(visitor_hashes) + length(visitor_sample))"
        f" FROM {db}.page_daily WHERE path = '/docs/0'"
    )
    assert (1, 1) == (rolled, hashes), "the erased visitor's state and hash are gone"


POPULATE = """
import sys
from starlette.testclient import TestClient
from consentlog.asgi.middleware import ConsentMiddleware
from tests.helpers import host_app
app = ConsentMiddleware(host_app(), secret_keys=["k" * 32], clickhouse_url=sys.argv[1])
client = TestClient(app)
client.post("/_consent", json={"action": "accept_all"})
for i in range(3):
    client.get(f"/docs/{i}")
app.writer.stop()
columns, result = app.writer.store.query("SELECT consent_id FROM consentlog.consent_records")
print(result[0][0])
"""


@pytest.mark.slow
def test_cli_export_and_forget_by_consent_id(tmp_path: Path) -> None:
    """`consentlog export/forget --consent ID` on an embedded store (separate processes)."""
    url = f"chdb://{tmp_path / 'store'}"
    env = cli_env()
    env["PYTHONPATH"] += f":{ROOT}"
    populated = subprocess.run(
        [sys.executable, "-c", POPULATE, url],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    consent_id = populated.stdout.strip().splitlines()[-1]

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "consentlog.cli", *args, "--clickhouse-url", url],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    exported = cli("export", "--consent", consent_id)
    assert 0 == exported.returncode, exported.stderr
    assert 3 == len(json.loads(exported.stdout)["page_requests"])
    forgotten = cli("forget", "--consent", consent_id)
    assert 0 == forgotten.returncode, forgotten.stderr
    assert {"consent_records": 1, "page_requests": 3, "engagements": 0, "goals": 0} == (
        json.loads(forgotten.stdout)["erased"]
    )
    data = json.loads(cli("export", "--consent", consent_id).stdout)
    assert ([], []) == (data["page_requests"], data["consent_records"])


def test_forget_sql_for_a_server_and_a_cluster_is_valid(store: Store) -> None:
    """The erasure statements for a server and a cluster parse in ClickHouse."""
    subject = Subject(visitor_ids=("v",), consent_id="c")
    for cluster in (None, "prod"):
        statements = erase_statements("consentlog", subject, cluster)
        assert len(TABLES) == len(statements)
        for statement in statements:
            _, ast = store.query("EXPLAIN AST " + statement, subject.parameters)
            assert ast[0][0].startswith("AlterQuery"), statement
    assert (
        "consent_records_local ON CLUSTER prod"
        in erase_statements("consentlog", subject, "prod")[0]
    )
