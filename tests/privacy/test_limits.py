"""my-data and forget cannot be used to load the store: rate limits, and an early answer
that leaves no trace when nothing matches."""

from __future__ import annotations

from starlette.testclient import TestClient

from consentlog.asgi.ratelimit import SelfServiceLimits
from consentlog.store import Store
from consentlog.testing import OutageStore
from tests.helpers import MakeApp, rows


class SteppedLimits(SelfServiceLimits):
    """Limits on a clock the test moves."""

    now = 0.0

    def clock(self) -> float:
        return self.now


def test_my_data_and_forget_are_rate_limited_per_client(make_app: MakeApp) -> None:
    """Past its burst a client gets a JSON 429 with Retry-After; another client does not."""
    app = make_app()
    app.routes.limits = limits = SteppedLimits(per_client_rate=1 / 12, per_client_burst=5)
    me = TestClient(app)
    statuses = [me.get("/_consent/my-data").status_code for _ in range(5)]
    assert [200] * 5 == statuses
    refused = me.post("/_consent/forget")
    assert 429 == refused.status_code
    assert "12" == refused.headers["retry-after"]
    assert "too many requests" in refused.json()["error"]
    other = TestClient(app, client=("198.51.100.9", 1234))
    assert 200 == other.get("/_consent/my-data").status_code
    limits.now += 12
    assert 200 == me.get("/_consent/my-data").status_code


def test_site_wide_limit_holds_across_clients(make_stored_app: MakeApp) -> None:
    """Browsers with identifiers from many addresses share one site-wide budget."""
    app = make_stored_app()
    app.routes.limits = SteppedLimits(site_rate=1.0, site_burst=3)
    rows(app, "SELECT 1")  # the store migrated before the clock starts
    statuses = []
    for i in range(4):
        browser = TestClient(app, client=(f"198.51.100.{i}", 1234))
        browser.post("/_consent", json={"action": "accept_all"})
        statuses.append(browser.get("/_consent/my-data").status_code)
    assert [False, False, False, True] == [status == 429 for status in statuses]


def test_a_browser_without_identifiers_is_answered_without_the_store(
    make_app: MakeApp, store: Store
) -> None:
    """Without identifiers my-data and forget never reach the store, and forget queues no
    erase record."""
    app = make_app()
    app.core.store = OutageStore(store, down=True)  # type: ignore[assignment]
    client = TestClient(app)
    data = client.get("/_consent/my-data")
    assert 200 == data.status_code
    assert [] == data.json()["page_requests"]
    forgotten = client.post("/_consent/forget")
    assert (200, {"erased": {}}) == (forgotten.status_code, forgotten.json())
    assert [] == app.writer.consents  # type: ignore[attr-defined]


def test_requests_that_find_nothing_leave_no_trace(make_stored_app: MakeApp) -> None:
    """A second forget or a my-data with the same cookies finds nothing: no audit row, no
    second erase record."""
    app = make_stored_app()
    client = TestClient(app)
    client.post("/_consent", json={"action": "accept_all"})
    client.get("/docs/1")
    cookies = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    assert 200 == client.post("/_consent/forget").status_code
    rows(app, "SELECT 1")
    again = TestClient(app, cookies=None)
    replayed = {"cookie": cookies}
    assert 200 == again.post("/_consent/forget", headers=replayed).status_code
    assert [] == again.get("/_consent/my-data", headers=replayed).json()["page_requests"]
    audits = rows(app, "SELECT request FROM {db}.subject_requests")
    assert [{"request": "erase"}] == audits
    erasures = rows(app, "SELECT 1 AS one FROM {db}.consent_records WHERE action = 'erase'")
    assert 1 == len(erasures)
