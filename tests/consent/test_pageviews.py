"""Page-view tokens: a beacon may report only on a recent page view of its own session and
path, and only under the visitor id the token was issued to."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consentlog.consent.pageviews import TOKEN_MAX_AGE, Pageview, PageviewTokens

SESSION = "session-id-of-the-visitor"
VISITOR = "visitor-id_of.the~visitor"


class FrozenTokens(PageviewTokens):
    """Tokens whose clock a test sets."""

    at = 1_800_000_000.0

    def now(self) -> float:
        return self.at


def test_an_issued_token_verifies_for_its_session_and_path() -> None:
    """A token gives back its page-view id for the same session and path."""
    tokens = PageviewTokens(["key"])
    pageview_id, token = tokens.issue(SESSION, "/docs/a", "")
    assert re.fullmatch(r"[0-9a-f]{32}\.[0-9a-f]{32}", token)
    assert token.startswith(pageview_id + ".")
    assert Pageview(pageview_id, "") == tokens.verify(token, SESSION, "/docs/a")


def test_the_token_carries_the_visitor_id_it_was_issued_to() -> None:
    """The visitor id comes back from the verified token; changing it breaks the MAC."""
    tokens = PageviewTokens(["key"])
    pageview_id, token = tokens.issue(SESSION, "/docs/a", VISITOR)
    assert Pageview(pageview_id, VISITOR) == tokens.verify(token, SESSION, "/docs/a")
    assert token.endswith("." + VISITOR)
    forged = token.rpartition(".")[0] + ".another-visitor"
    assert None is tokens.verify(forged, SESSION, "/docs/a")


def test_a_visitor_id_that_is_not_url_safe_is_refused_at_issue() -> None:
    """A token sits in an HTML attribute: quotes or spaces in a visitor id are refused."""
    with pytest.raises(ValueError, match="url-safe"):
        PageviewTokens(["key"]).issue(SESSION, "/", 'x" onload="alert(1)')


def test_tokens_expire_after_a_day() -> None:
    """A token verifies up to TOKEN_MAX_AGE seconds after it was issued, not after; one
    from further in the future than clock skew explains does not verify either."""
    tokens = FrozenTokens(["key"])
    pageview_id, token = tokens.issue(SESSION, "/", VISITOR)
    tokens.at += TOKEN_MAX_AGE
    assert Pageview(pageview_id, VISITOR) == tokens.verify(token, SESSION, "/")
    tokens.at += 1
    assert None is tokens.verify(token, SESSION, "/")
    tokens.at -= TOKEN_MAX_AGE + 3600
    assert None is tokens.verify(token, SESSION, "/")


def test_the_page_view_id_begins_with_its_issue_time_which_the_mac_binds() -> None:
    """The id's first 8 hex digits are the issue time; moving an expired token's time
    forward breaks it."""
    tokens = FrozenTokens(["key"])
    pageview_id, token = tokens.issue(SESSION, "/", "")
    assert int(tokens.at) == int(pageview_id[:8], 16)
    tokens.at += TOKEN_MAX_AGE + 10
    later = f"{int(tokens.at):08x}{token[8:]}"
    assert None is tokens.verify(later, SESSION, "/")


def test_every_page_view_gets_its_own_id() -> None:
    """Two views of the same page are two page-view ids."""
    tokens = PageviewTokens(["key"])
    assert tokens.issue(SESSION, "/", "")[0] != tokens.issue(SESSION, "/", "")[0]


def test_another_session_or_path_does_not_verify() -> None:
    """The token is bound to the session id and the path it was issued for."""
    tokens = PageviewTokens(["key"])
    _, token = tokens.issue(SESSION, "/docs/a", "")
    assert None is tokens.verify(token, "another-session", "/docs/a")
    assert None is tokens.verify(token, SESSION, "/docs/a%20b")
    assert None is tokens.verify(token, SESSION, "/docs/b")
    assert None is tokens.verify(token, "", "/docs/a")


def test_a_forged_id_or_mac_does_not_verify() -> None:
    """Changing either half of the token breaks it."""
    tokens = PageviewTokens(["key"])
    pageview_id, token = tokens.issue(SESSION, "/", "")
    mac = token.partition(".")[2]
    other_id = pageview_id[:-1] + ("0" if pageview_id[-1] != "0" else "1")
    other_mac = ("0" if mac[0] != "0" else "1") + mac[1:]
    assert None is tokens.verify(f"{other_id}.{mac}", SESSION, "/")
    assert None is tokens.verify(f"{pageview_id}.{other_mac}", SESSION, "/")


@pytest.mark.parametrize(
    "token",
    ["", ".", "a" * 32, "a" * 32 + "." + "b" * 31, "g" * 32 + "." + "b" * 32,
     "A" * 32 + "." + "b" * 32, "a" * 32 + ".." + "b" * 31, "é" * 32 + "." + "b" * 32,
     "a" * 32 + "." + "b" * 32 + ".v i", "a" * 32 + "." + "b" * 32 + '.v"'],
)  # fmt: skip
def test_malformed_tokens_do_not_verify(token: str) -> None:
    """Anything but 32 lower-case hex digits, a dot, 32 more and an optional url-safe
    visitor id after another dot is refused."""
    assert None is PageviewTokens(["key"]).verify(token, SESSION, "/")


def test_key_rotation_issues_with_the_newest_and_verifies_with_all() -> None:
    """After adding a key (newest last), tokens of the old key still verify, new tokens
    are made with the new key."""
    old, rotated = PageviewTokens(["old"]), PageviewTokens(["old", "new"])
    pageview_id, token = old.issue(SESSION, "/", "")
    assert Pageview(pageview_id, "") == rotated.verify(token, SESSION, "/")
    new_id, new_token = rotated.issue(SESSION, "/", "")
    assert Pageview(new_id, "") == PageviewTokens(["new"]).verify(new_token, SESSION, "/")
    assert None is old.verify(new_token, SESSION, "/")


@pytest.mark.parametrize("path", [b"/caf\xe9".decode("utf-8", "surrogateescape"), "/\ud800"])
def test_paths_that_are_not_utf_8_still_work(path: str) -> None:
    """A path with undecodable bytes or a lone surrogate gets a token that verifies."""
    tokens = PageviewTokens(["key"])
    pageview_id, token = tokens.issue(SESSION, path, "")
    assert Pageview(pageview_id, "") == tokens.verify(token, SESSION, path)


def test_a_token_issued_with_the_former_hmac_still_verifies() -> None:
    """Tokens were HMAC-SHA256 before BLAKE2b: one issued by the previous version (a page
    left open while the site was upgraded) still reports, within its day; its MAC with
    another session or path still does not verify."""
    import hashlib
    import hmac
    import time

    key = hashlib.sha256(b"consentlog.pageview" + b"key").digest()
    pageview_id = f"{int(time.time()):08x}" + "ab" * 12
    message = f"32:{pageview_id}{len(SESSION)}:{SESSION}{len(VISITOR)}:{VISITOR}7:/docs/a"
    mac = hmac.new(key, message.encode(), hashlib.sha256).hexdigest()[:32]
    token = f"{pageview_id}.{mac}.{VISITOR}"
    tokens = PageviewTokens(["key"])
    assert Pageview(pageview_id, VISITOR) == tokens.verify(token, SESSION, "/docs/a")
    assert tokens.verify(token, SESSION, "/docs/b") is None
    assert not tokens.issue(SESSION, "/docs/a", VISITOR)[1].endswith(f"{mac}.{VISITOR}")


def test_page_view_ids_are_unique_and_differ_in_a_forked_child() -> None:
    """The random part of page-view ids comes from a pool of ``os.urandom`` digits, drawn
    anew in a forked child: parent and child never draw the same ids."""
    import os

    from consentlog.consent.randomness import random_hex

    drawn = {random_hex(12) for _ in range(10_000)}
    assert 10_000 == len(drawn)
    assert all(re.fullmatch(r"[0-9a-f]{24}", value) for value in drawn)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: report its next ids, then leave at once
        os.write(write, " ".join(random_hex(12) for _ in range(100)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read) as pipe:
        theirs = set(pipe.read().split())
    ours = {random_hex(12) for _ in range(100)}
    assert 100 == len(theirs)
    assert not theirs & ours


def test_page_view_ids_drawn_from_many_threads_never_repeat() -> None:
    """Threads drawing at once across many refills of the pool: every draw its own."""
    import threading

    from consentlog.consent.randomness import random_hex

    drawn: list[list[str]] = [[] for _ in range(8)]

    def draw(into: list[str]) -> None:
        for _ in range(5_000):
            into.append(random_hex(16))

    threads = [threading.Thread(target=draw, args=(d,)) for d in drawn]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    values = [v for d in drawn for v in d]
    assert len(set(values)) == len(values) == 40_000
    assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in values)


@given(
    session=st.text(max_size=60), path=st.text(max_size=80), visitor=st.sampled_from(["", "v.1"])
)
def test_a_bound_issuer_gives_the_mac_the_verifier_computes(
    session: str, path: str, visitor: str
) -> None:
    """``bound(...).issue`` (a remembered visitor's pages) is ``issue`` worked out in
    parts: its MAC is the one of the whole message, for any session id and path."""
    tokens = PageviewTokens(["k" * 40])
    pageview_id, token = tokens.bound(session, visitor).issue(path)
    mac = token.split(".")[1]
    assert mac == tokens._mac(tokens._keys[-1], pageview_id, session, visitor, path)
    if session:
        assert tokens.verify(token, session, path) == Pageview(pageview_id, visitor)
