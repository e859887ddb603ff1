"""Reading the Cookie header, writing Set-Cookie values, and filtering host cookies."""

from __future__ import annotations

import pytest

from consentlog.consent.cookies import (
    MAX_EXPIRIES,
    CookieFilter,
    CookieWriter,
    parse_cookie_header,
)
from consentlog.settings import DEFAULT_CATEGORIES, Category

# -- parse_cookie_header ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", {}),
        ("a=1", {"a": "1"}),
        ("a=1; b=2", {"a": "1", "b": "2"}),
        ("  a = 1 ;b=2  ", {"a": "1", "b": "2"}),
        ('a="quoted value"', {"a": "quoted value"}),
        ("a=x=y", {"a": "x=y"}),
        ("a=", {"a": ""}),
        ("a=1; a=2", {"a": "1"}),
        ("novalue; =nameless; b=2", {"b": "2"}),
        (";;;", {}),
    ],
)
def test_parse_cookie_header(raw: str, expected: dict[str, str]) -> None:
    """Pairs are split on ';' and '=', trimmed and unquoted; malformed pairs are skipped
    and the first of a repeated name wins."""
    assert expected == dict(parse_cookie_header(raw))


def test_parsed_cookies_are_read_only() -> None:
    """The mapping parsed from a header cannot be changed (callers share it)."""
    parsed = parse_cookie_header("shared=1")
    with pytest.raises(TypeError):
        parsed["shared"] = "2"  # type: ignore[index]


# -- CookieWriter -------------------------------------------------------------------------


def test_set_has_path_max_age_and_samesite() -> None:
    """A set cookie is site-wide, lives ``max_age`` seconds and is SameSite=Lax."""
    value = CookieWriter().set("cl_sid", "abc", max_age=1800, secure=False, http_only=False)
    assert b"cl_sid=abc; Path=/; Max-Age=1800; SameSite=Lax" == value


def test_set_adds_domain_secure_and_httponly_when_asked() -> None:
    """Domain, Secure and HttpOnly appear exactly when configured."""
    value = CookieWriter("example.org").set(
        "cl_vid", "abc", max_age=60, secure=True, http_only=True
    )
    expected = b"cl_vid=abc; Path=/; Max-Age=60; SameSite=Lax; Domain=example.org; Secure"
    assert expected + b"; HttpOnly" == value


def test_expire_deletes_now_with_the_same_scope() -> None:
    """Expiring empties the value, sets Max-Age=0 and a past Expires, and keeps the
    Domain and Secure the cookie was set with (or the browser would keep it)."""
    assert (
        b'cl_vid=""; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; SameSite=Lax'
        == CookieWriter().expire("cl_vid", secure=False)
    )
    assert (
        b'_ga=""; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; '
        b"Domain=example.org; SameSite=Lax; Secure"
        == CookieWriter("example.org").expire("_ga", secure=True)
    )


# -- CookieFilter -------------------------------------------------------------------------


def test_category_of_follows_the_patterns() -> None:
    """Exact names and shell-style patterns map cookie names to their category."""
    cookies = CookieFilter(DEFAULT_CATEGORIES)
    assert {
        "_ga": "analytics",
        "_ga_ABC123": "analytics",
        "_gat_UA": "analytics",
        "_fbp": "marketing",
        "_gcl_au": "marketing",
        "theme": None,
        "_gax": None,  # "_ga" is exact, "_ga_*" needs the underscore
    } == {name: cookies.category_of(name) for name in (
        "_ga", "_ga_ABC123", "_gat_UA", "_fbp", "_gcl_au", "theme", "_gax",
    )}  # fmt: skip


def test_required_categories_govern_nothing() -> None:
    """Patterns of a required category are not enforced: those cookies always pass."""
    cookies = CookieFilter(
        [
            Category("necessary", "N", "", ("session*",), required=True),
            Category("analytics", "A", "", ("_ga",)),
        ]
    )
    assert None is cookies.category_of("session_id")
    assert True is cookies.allows(b"session_id=1; Path=/", frozenset())


def test_allows_only_accepted_categories() -> None:
    """A governed Set-Cookie passes only when its category was accepted; others always."""
    cookies = CookieFilter(DEFAULT_CATEGORIES)
    assert False is cookies.allows(b"_ga=GA1.1.1; Path=/", frozenset())
    assert False is cookies.allows(b"_ga=GA1.1.1", frozenset({"marketing"}))
    assert True is cookies.allows(b" _ga =GA1.1.1", frozenset({"analytics"}))
    assert True is cookies.allows(b"theme=dark", frozenset())


def test_governed_lists_the_sent_cookies_consent_no_longer_allows() -> None:
    """Of the names a browser sent, those of categories not accepted, in order."""
    cookies = CookieFilter(DEFAULT_CATEGORIES)
    sent = ["theme", "_ga", "_fbp", "_gid"]
    assert ["_ga", "_fbp", "_gid"] == cookies.governed(sent, frozenset())
    assert ["_fbp"] == cookies.governed(sent, frozenset({"analytics"}))
    assert [] == cookies.governed(sent, frozenset({"analytics", "marketing"}))


def test_the_name_memo_is_bounded() -> None:
    """Cookie names come from visitors: however many there are, the memo stays bounded
    and still answers correctly."""
    cookies = CookieFilter(DEFAULT_CATEGORIES)
    for i in range(12_000):
        cookies.category_of(f"name{i}")
    assert len(cookies._known) <= 10_000
    assert "analytics" == cookies.category_of("_ga_NEW")


def test_long_names_are_matched_but_not_remembered() -> None:
    """A name longer than 64 characters is categorised each time and never memoised, so
    the memo's bytes are bounded too."""
    cookies = CookieFilter(DEFAULT_CATEGORIES)
    name = "_ga_" + "x" * 8000
    assert "analytics" == cookies.category_of(name)
    assert name not in cookies._known


def test_a_response_expires_only_a_few_host_cookies() -> None:
    """800 governed cookies sent: at most MAX_EXPIRIES are expired per response, the first
    ones first; the browser, no longer sending those, gets the next ones next time."""
    cookies = CookieFilter(DEFAULT_CATEGORIES)
    sent = [f"_ga_{i}" for i in range(800)]
    assert sent[:MAX_EXPIRIES] == cookies.governed(sent, frozenset())
    assert sent[MAX_EXPIRIES : 2 * MAX_EXPIRIES] == cookies.governed(
        sent[MAX_EXPIRIES:], frozenset()
    )
