"""Page-view tokens: a beacon may report only on a page view of its own session and path."""

from __future__ import annotations

import re

import pytest

from consentlog.consent.pageviews import PageviewTokens

SESSION = "session-id-of-the-visitor"


def test_an_issued_token_verifies_for_its_session_and_path() -> None:
    """A token gives back its page-view id for the same session and path."""
    tokens = PageviewTokens(["key"])
    pageview_id, token = tokens.issue(SESSION, "/docs/a")
    assert re.fullmatch(r"[0-9a-f]{32}\.[0-9a-f]{32}", token)
    assert token.startswith(pageview_id + ".")
    assert pageview_id == tokens.verify(token, SESSION, "/docs/a")


def test_every_page_view_gets_its_own_id() -> None:
    """Two views of the same page are two page-view ids."""
    tokens = PageviewTokens(["key"])
    assert tokens.issue(SESSION, "/")[0] != tokens.issue(SESSION, "/")[0]


def test_another_session_or_path_does_not_verify() -> None:
    """The token is bound to the session id and the path it was issued for."""
    tokens = PageviewTokens(["key"])
    _, token = tokens.issue(SESSION, "/docs/a")
    assert None is tokens.verify(token, "another-session", "/docs/a")
    assert None is tokens.verify(token, SESSION, "/docs/b")
    assert None is tokens.verify(token, "", "/docs/a")


def test_a_forged_id_or_mac_does_not_verify() -> None:
    """Changing either half of the token breaks it."""
    tokens = PageviewTokens(["key"])
    pageview_id, token = tokens.issue(SESSION, "/")
    mac = token.partition(".")[2]
    other_id = ("0" if pageview_id[0] != "0" else "1") + pageview_id[1:]
    other_mac = ("0" if mac[0] != "0" else "1") + mac[1:]
    assert None is tokens.verify(f"{other_id}.{mac}", SESSION, "/")
    assert None is tokens.verify(f"{pageview_id}.{other_mac}", SESSION, "/")


@pytest.mark.parametrize(
    "token",
    ["", ".", "a" * 32, "a" * 32 + "." + "b" * 31, "g" * 32 + "." + "b" * 32,
     "A" * 32 + "." + "b" * 32, "a" * 32 + ".." + "b" * 31, "é" * 32 + "." + "b" * 32],
)  # fmt: skip
def test_malformed_tokens_do_not_verify(token: str) -> None:
    """Anything but 32 lower-case hex digits, a dot and 32 more is refused."""
    assert None is PageviewTokens(["key"]).verify(token, SESSION, "/")


def test_key_rotation_issues_with_the_newest_and_verifies_with_all() -> None:
    """After adding a key (newest last), tokens of the old key still verify, new tokens
    are made with the new key."""
    old, rotated = PageviewTokens(["old"]), PageviewTokens(["old", "new"])
    pageview_id, token = old.issue(SESSION, "/")
    assert pageview_id == rotated.verify(token, SESSION, "/")
    new_id, new_token = rotated.issue(SESSION, "/")
    assert new_id == PageviewTokens(["new"]).verify(new_token, SESSION, "/")
    assert None is old.verify(new_token, SESSION, "/")


def test_paths_that_are_not_utf_8_still_work() -> None:
    """A path with undecodable bytes (surrogate escapes) gets a token that verifies."""
    tokens = PageviewTokens(["key"])
    path = b"/caf\xe9".decode("utf-8", "surrogateescape")
    pageview_id, token = tokens.issue(SESSION, path)
    assert pageview_id == tokens.verify(token, SESSION, path)
