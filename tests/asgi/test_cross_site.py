"""Cross-site refusals: a decision or withdrawal sent from another site is a 403 that
changes nothing; the site's own origin may decide, and anyone may read the state."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.asgi.support import json_error
from tests.helpers import MakeApp, rows, set_cookies

STATE_CHANGES = [
    ("POST", "/_consent", {"json": {"action": "reject_all"}}),
    ("POST", "/_consent", {"data": {"action": "reject_all", "next": "/"}}),
    ("DELETE", "/_consent", {}),
    ("POST", "/_consent/withdraw", {}),
    ("POST", "/_consent/withdraw", {"data": {"next": "/"}}),
]
CROSS_SITE = [
    {"origin": "https://evil.example"},
    {"origin": "http://testserver.evil.example"},
    {"origin": "null"},
    {"sec-fetch-site": "cross-site"},
    {"sec-fetch-site": "same-site"},
    {"sec-fetch-site": "cross-site", "origin": "http://testserver"},
]


@pytest.mark.parametrize(("method", "path", "body"), STATE_CHANGES)
@pytest.mark.parametrize("headers", CROSS_SITE)
def test_cross_site_state_changes_are_refused(
    make_stored_app: MakeApp,
    method: str,
    path: str,
    body: dict[str, Any],
    headers: dict[str, str],
) -> None:
    """A cross-site decision or withdrawal gets 403 with a JSON error and changes nothing."""
    middleware = make_stored_app()
    client = TestClient(middleware)
    client.post("/_consent", json={"action": "accept_all"})
    before = client.get("/_consent").json()
    response = client.request(method, path, headers=headers, follow_redirects=False, **body)
    assert 403 == response.status_code
    assert "cross-" in json_error(response)
    assert [] == response.headers.get_list("set-cookie")
    assert before == client.get("/_consent").json()
    assert ["accept_all"] == [
        r["action"] for r in rows(middleware, "SELECT action FROM {db}.consent_records")
    ]


@pytest.mark.parametrize(("method", "path", "body"), STATE_CHANGES)
@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://testserver"},
        {"sec-fetch-site": "same-origin"},
        {"sec-fetch-site": "same-origin", "origin": "http://testserver"},
        {"sec-fetch-site": "none"},
    ],
)
def test_same_origin_state_changes_are_accepted(
    client: TestClient, method: str, path: str, body: dict[str, Any], headers: dict[str, str]
) -> None:
    """The site's own origin may decide and withdraw."""
    response = client.request(method, path, headers=headers, follow_redirects=False, **body)
    expected = 303 if "data" in body else 200
    assert expected == response.status_code
    assert "cl_consent" in set_cookies(response)


def test_reading_the_state_is_allowed_cross_site(client: TestClient) -> None:
    """GET /_consent changes nothing, so a cross-site read is answered."""
    response = client.get("/_consent", headers={"origin": "https://evil.example"})
    assert 200 == response.status_code
