"""The consent decision routes: ``GET /_consent`` reports the state, ``POST /_consent``
records a choice sent as JSON or by an HTML form, and a form returns to a local ``next``."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

import pytest
from starlette.testclient import TestClient

from tests.asgi.support import UNDECIDED
from tests.helpers import set_cookies

TRAFFIC_COOKIES = {"cl_consent", "cl_vid", "cl_sid"}


# -- GET /_consent ------------------------------------------------------------------------


def test_state_before_any_decision(client: TestClient) -> None:
    """An undecided visitor gets the full JSON shape with nulls and no cookie."""
    response = client.get("/_consent")
    assert 200 == response.status_code
    assert UNDECIDED == response.json()
    assert [] == response.headers.get_list("set-cookie")


def test_state_after_accept_and_after_reject(client: TestClient) -> None:
    """After a decision the state names its categories, consent id, time and source."""
    client.post("/_consent", json={"action": "accept_all"})
    accepted = client.get("/_consent").json()
    assert {"necessary": True, "analytics": True, "marketing": True} == accepted["categories"]
    assert (True, "banner", False, False) == (
        accepted["decided"],
        accepted["source"],
        accepted["gpc"],
        accepted["policy_changed"],
    )
    assert re.fullmatch(r"[0-9a-f]{32}", accepted["consent_id"])
    assert isinstance(accepted["decided_at"], int)
    client.post("/_consent", json={"action": "reject_all"})
    rejected = client.get("/_consent").json()
    assert {"necessary": True, "analytics": False, "marketing": False} == rejected["categories"]
    assert accepted["consent_id"] == rejected["consent_id"]
    assert set(UNDECIDED) == set(rejected)


def test_state_under_gpc(client: TestClient) -> None:
    """With Sec-GPC: 1 the state is a decided refusal from source gpc, flagged gpc."""
    state = client.get("/_consent", headers={"sec-gpc": "1"}).json()
    assert (True, "gpc", True) == (state["decided"], state["source"], state["gpc"])
    assert {"necessary": True, "analytics": False, "marketing": False} == state["categories"]


# -- POST /_consent -----------------------------------------------------------------------


ALL = {"necessary": True, "analytics": True, "marketing": True}
NONE = {"necessary": True, "analytics": False, "marketing": False}
ANALYTICS_ONLY = {"necessary": True, "analytics": True, "marketing": False}


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"action": "accept_all"}, ALL),
        ({"action": "reject_all"}, NONE),
        ({"categories": {"analytics": True}}, ANALYTICS_ONLY),
        ({"categories": {"necessary": True, "analytics": True}}, ANALYTICS_ONLY),
        ({"categories": {}}, NONE),
        (
            {"action": "custom", "categories": {"analytics": False, "marketing": True}},
            {"necessary": True, "analytics": False, "marketing": True},
        ),
    ],
)
def test_json_decision_sets_categories(
    client: TestClient, payload: dict[str, Any], expected: dict[str, bool]
) -> None:
    """A JSON decision answers 200 with the resulting categories, and they stick."""
    response = client.post("/_consent", json=payload)
    assert 200 == response.status_code
    assert "no-store" == response.headers["cache-control"]
    assert expected == response.json()["categories"]
    assert expected == client.get("/_consent").json()["categories"]
    assert ("cl_vid" in set_cookies(response)) is expected["analytics"]


def test_form_decision_redirects_to_next(client: TestClient) -> None:
    """An HTML form post records the choice and answers 303 to the same-origin ``next``."""
    response = client.post(
        "/_consent",
        data={"action": "custom", "category": "analytics", "next": "/docs/a"},
        follow_redirects=False,
    )
    assert 303 == response.status_code
    assert "/docs/a" == response.headers["location"]
    assert TRAFFIC_COOKIES == set(set_cookies(response))
    state = client.get("/_consent").json()
    assert ("form", {"necessary": True, "analytics": True, "marketing": False}) == (
        state["source"],
        state["categories"],
    )


def test_form_next_keeps_its_query(client: TestClient) -> None:
    """A local ``next`` with a query string is returned to as it was given."""
    response = client.post(
        "/_consent",
        data={"action": "reject_all", "next": "/docs/a?tab=2&x=%20"},
        follow_redirects=False,
    )
    assert "/docs/a?tab=2&x=%20" == response.headers["location"]


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "http://evil.example",
        "//evil.example",
        "//evil.example/docs",
        "/\\evil.example",
        "/docs\\..\\evil",
        "\\\\evil.example",
        "javascript:alert(1)",
        "docs/a",
        "",
        "/docs/a\r\nSet-Cookie: x=1",
        "/docs/a\nx",
        "/docs/\x00a",
        "/docs/\ta",
        "/\t/evil.example",
        "/docs/\x7fa",
        "/docs/\x85a",
        "/" + "a" * 3000,
    ],
)
def test_form_next_that_is_not_local_goes_home(client: TestClient, target: str) -> None:
    """A ``next`` that is absolute, protocol-relative, backslashed or has control
    characters is replaced by ``/``."""
    response = client.post(
        "/_consent", data={"action": "accept_all", "next": target}, follow_redirects=False
    )
    assert 303 == response.status_code
    assert "/" == response.headers["location"]


def test_form_without_next_goes_home(client: TestClient) -> None:
    """A form post without ``next`` returns to ``/``."""
    response = client.post("/_consent", data={"action": "reject_all"}, follow_redirects=False)
    assert (303, "/") == (response.status_code, response.headers["location"])


def test_form_next_with_non_ascii_path_is_percent_encoded(client: TestClient) -> None:
    """A local ``next`` with non-ASCII characters comes back percent-encoded (UTF-8)."""
    for path in ("/docs/caf\u00e9", "/docs/\u20ac", "/docs/\u65e5\u672c"):
        response = client.post(
            "/_consent", data={"action": "reject_all", "next": path}, follow_redirects=False
        )
        assert 303 == response.status_code
        location = response.headers["location"]
        assert location.isascii()
        assert path == unquote(location)
