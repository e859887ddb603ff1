"""Dashboard login over HTTP: redirects and 401s without a session, the password and the
token, the failure throttle, login CSRF, tampered sessions, logout that revokes, session
expiry and renewal, key rotation, and the setup errors that name their fix."""

from __future__ import annotations

import time

import pytest
from starlette.testclient import TestClient

from consentlog.dashboard import create_dashboard
from consentlog.dashboard.sessions import (
    SESSION_COOKIE,
    SESSION_IDLE,
    SESSION_MAX_AGE,
    SESSION_REFRESH,
    Sessions,
)
from consentlog.dashboard.throttle import FAILURE_LIMIT
from consentlog.store import Store
from tests.dashboard.support import PAGES, PASSWORD, SECRET, TOKEN


@pytest.mark.parametrize("route", [*PAGES, "/pages.csv"])
def test_pages_redirect_to_login_without_a_session(anonymous: TestClient, route: str) -> None:
    """Every page answers an unauthenticated request with 303 to the login form."""
    response = anonymous.get(route, follow_redirects=False)
    assert 303 == response.status_code
    assert response.headers["location"].startswith("/login?next=/")


@pytest.mark.parametrize(
    "route", ["/api/overview", "/api/pages", "/api/pages/detail?path=/", "/api/consent",
              "/api/errors"],
)  # fmt: skip
def test_api_answers_401_json_without_a_session(anonymous: TestClient, route: str) -> None:
    """The JSON API answers 401 with a JSON error, not a redirect."""
    response = anonymous.get(route, follow_redirects=False)
    assert 401 == response.status_code
    assert "login required" in response.json()["error"]


def test_login_sets_a_strict_session_cookie_and_returns_to_next(anonymous: TestClient) -> None:
    """The password logs in: an HttpOnly, SameSite=Strict cookie, then 303 to `next`."""
    response = anonymous.post(
        "/login", data={"secret": PASSWORD, "next": "/consent"}, follow_redirects=False
    )
    assert 303 == response.status_code
    assert "/consent" == response.headers["location"]
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    for flag in ("HttpOnly", "SameSite=strict", "Path=/", "Max-Age="):
        assert flag in cookie
    assert 200 == anonymous.get("/consent").status_code


def test_login_refuses_a_foreign_next(anonymous: TestClient) -> None:
    """`next` outside the dashboard sends the analyst to the overview instead."""
    for target in ("https://evil.example/", "//evil.example/", "/\\evil"):
        response = anonymous.post(
            "/login", data={"secret": PASSWORD, "next": target}, follow_redirects=False
        )
        assert "/" == response.headers["location"]


def test_token_logs_in_and_works_as_bearer(anonymous: TestClient) -> None:
    """The access token logs in through the form and authorizes the API as a bearer."""
    assert (
        200
        == anonymous.get("/api/overview", headers={"Authorization": f"Bearer {TOKEN}"}).status_code
    )
    assert (
        401 == anonymous.get("/api/overview", headers={"Authorization": "Bearer wrong"}).status_code
    )
    response = anonymous.post("/login", data={"secret": TOKEN}, follow_redirects=False)
    assert 303 == response.status_code
    assert 200 == anonymous.get("/pages").status_code


def test_wrong_password_is_refused_then_throttled(anonymous: TestClient) -> None:
    """Wrong passwords get 401; after five within five minutes the address gets 429 with
    Retry-After — even for the right password — while other addresses are unaffected."""
    for _ in range(FAILURE_LIMIT):
        response = anonymous.post("/login", data={"secret": "guess"}, follow_redirects=False)
        assert 401 == response.status_code
        assert "Wrong password or token." in response.text
        assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    blocked = anonymous.post("/login", data={"secret": PASSWORD}, follow_redirects=False)
    assert 429 == blocked.status_code
    assert 0 < int(blocked.headers["retry-after"]) <= 300
    assert "Too many failed attempts" in blocked.text
    assert (
        429 == anonymous.get("/api/pages", headers={"Authorization": f"Bearer {TOKEN}"}).status_code
    )
    elsewhere = TestClient(anonymous.app, client=("198.51.100.9", 4000))
    assert (
        303
        == elsewhere.post("/login", data={"secret": PASSWORD}, follow_redirects=False).status_code
    )


def test_cross_site_login_is_refused(anonymous: TestClient) -> None:
    """A login posted from another site (login CSRF) is refused with 403."""
    response = anonymous.post(
        "/login",
        data={"secret": PASSWORD},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        follow_redirects=False,
    )
    assert 403 == response.status_code


def test_tampered_or_foreign_session_is_not_a_session(
    store: Store, dataset: str, analyst: TestClient
) -> None:
    """A modified cookie, or one signed for other credentials, reads as logged out."""
    value = analyst.cookies[SESSION_COOKIE]
    analyst.cookies.set(SESSION_COOKIE, value[:-2] + "xx")
    assert 303 == analyst.get("/", follow_redirects=False).status_code
    other = create_dashboard(store, database=dataset, password="another", secret_keys=[SECRET])
    foreign = TestClient(other)
    foreign.cookies.set(SESSION_COOKIE, value)
    assert 303 == foreign.get("/", follow_redirects=False).status_code


def test_logout_ends_the_session(analyst: TestClient) -> None:
    """Log out expires the cookie and leads to the login form."""
    response = analyst.post("/logout", follow_redirects=False)
    assert 303 == response.status_code
    assert "/login" == response.headers["location"]
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert 303 == analyst.get("/", follow_redirects=False).status_code


def test_logout_revokes_the_session_on_the_server(analyst: TestClient) -> None:
    """A copy of the cookie kept from before logout no longer opens anything."""
    copy = analyst.cookies[SESSION_COOKIE]
    analyst.post("/logout", follow_redirects=False)
    analyst.cookies.set(SESSION_COOKIE, copy)
    assert 303 == analyst.get("/", follow_redirects=False).status_code
    assert 401 == analyst.get("/api/overview").status_code


class Clock:
    """Wall-clock seconds for the sessions, moved by the test."""

    def __init__(self) -> None:
        self.now = int(time.time())


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Sessions read the time from this clock (their seam) for the test."""
    clock = Clock()
    monkeypatch.setattr(Sessions, "now", lambda self: clock.now)
    return clock


def test_an_idle_session_ends(clock: Clock, analyst: TestClient) -> None:
    """A session unused for longer than the idle timeout reads as logged out."""
    clock.now += SESSION_IDLE
    assert 200 == analyst.get("/consent", follow_redirects=False).status_code
    clock.now += SESSION_IDLE + 1
    assert 303 == analyst.get("/consent", follow_redirects=False).status_code


def test_use_renews_the_session_until_its_maximum_age(clock: Clock, analyst: TestClient) -> None:
    """Requests renew the cookie (a new Set-Cookie at most every few minutes, Max-Age the
    time left), keeping an active session alive; it still ends at its maximum age."""
    start = clock.now
    assert "set-cookie" not in analyst.get("/consent").headers
    renewals = 0
    while clock.now + SESSION_IDLE - 60 <= start + SESSION_MAX_AGE:
        clock.now += SESSION_IDLE - 60
        response = analyst.get("/consent", follow_redirects=False)
        assert 200 == response.status_code
        cookie = response.headers["set-cookie"]
        assert f"Max-Age={start + SESSION_MAX_AGE - clock.now}" in cookie
        assert "HttpOnly" in cookie
        renewals += 1
    assert SESSION_MAX_AGE // (SESSION_IDLE - 60) == renewals
    assert SESSION_REFRESH < SESSION_IDLE - 60
    clock.now = start + SESSION_MAX_AGE + 1
    assert 303 == analyst.get("/consent", follow_redirects=False).status_code


def test_adding_a_secret_key_keeps_sessions(
    store: Store, dataset: str, analyst: TestClient
) -> None:
    """After rotation (a newer key added last, the app restarted) the session stays."""
    rotated = create_dashboard(
        store, database=dataset, password=PASSWORD, token=TOKEN, secret_keys=[SECRET, "newer"]
    )
    client = TestClient(rotated)
    client.cookies.set(SESSION_COOKIE, analyst.cookies[SESSION_COOKIE])
    assert 200 == client.get("/consent", follow_redirects=False).status_code


def test_missing_tables_are_a_503_naming_the_fix(store: Store) -> None:
    """Before any table exists the pages say how to create them, instead of failing."""
    empty = create_dashboard(store, database="nothing_here", password=PASSWORD, secret_keys=["k"])
    client = TestClient(empty)
    client.post("/login", data={"secret": PASSWORD})
    response = client.get("/pages")
    assert 503 == response.status_code
    assert "consentlog migrate" in response.text
    assert "consentlog migrate" in client.get("/api/pages").json()["error"]


def test_needs_a_password_or_token(store: Store, dataset: str) -> None:
    """Without a secret the dashboard refuses to be built, naming the setting."""
    with pytest.raises(ValueError, match="CONSENTLOG_DASHBOARD_PASSWORD"):
        create_dashboard(store, database=dataset, secret_keys=[SECRET])
