"""Helpers shared by the consent-route tests: the state of an undecided visitor, and the
message of a JSON error response."""

from __future__ import annotations

from typing import Any

UNDECIDED = {
    "decided": False,
    "categories": {"necessary": True, "analytics": False, "marketing": False},
    "policy_revision": 1,
    "consent_id": None,
    "decided_at": None,
    "source": None,
    "gpc": False,
    "policy_changed": False,
}


def json_error(response: Any) -> str:
    """The message of a JSON error response (and that it is one)."""
    assert response.headers["content-type"].startswith("application/json")
    message = response.json()["error"]
    assert isinstance(message, str)
    return message
