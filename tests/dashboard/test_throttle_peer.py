"""Failed dashboard logins are counted per socket peer, whatever X-Forwarded-For says."""

from __future__ import annotations

from starlette.testclient import TestClient

from consentlog.dashboard import create_dashboard
from consentlog.dashboard.auth import FAILURE_LIMIT
from consentlog.store import Store


def test_rotating_forwarded_for_does_not_escape_the_throttle(store: Store) -> None:
    """Behind a trusted proxy setting, a client forging a new X-Forwarded-For per attempt
    is still refused (429) after the limit: the throttle keys on the connection."""
    app = create_dashboard(
        store, database="unused", password="right", secret_keys=["k"], trusted_proxy_hops=1
    )
    client = TestClient(app, base_url="http://testserver")
    statuses = [
        client.post(
            "/login",
            data={"secret": "wrong", "next": "/"},
            headers={"x-forwarded-for": f"198.51.100.{attempt}", "origin": "http://testserver"},
        ).status_code
        for attempt in range(FAILURE_LIMIT + 1)
    ]
    assert [401] * FAILURE_LIMIT + [429] == statuses
