"""The dashboard login's same-origin check is the middleware's: X-Forwarded-Host counts
only from a trusted proxy and only when configured."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from consentlog.dashboard import create_dashboard
from consentlog.store import Store


@pytest.mark.parametrize(("trust", "status"), [(False, 403), (True, 303)])
def test_forwarded_host_counts_only_when_trusted(store: Store, trust: bool, status: int) -> None:
    """A login from the public host behind a proxy passes only with trust_forwarded_host."""
    app = create_dashboard(
        store,
        database="unused",
        password="right",
        secret_keys=["k"],
        trusted_proxy_hops=1,
        trust_forwarded_host=trust,
    )
    client = TestClient(app, base_url="http://internal:8001", follow_redirects=False)
    answer = client.post(
        "/login",
        data={"secret": "right", "next": "/"},
        headers={
            "origin": "https://analytics.example",
            "x-forwarded-host": "analytics.example",
            "x-forwarded-proto": "https",
            "x-forwarded-for": "198.51.100.7",
        },
    )
    assert status == answer.status_code
