"""Dashboard login over HTTP: redirects and 401s without a session, the password and the
token, the failure throttle, login CSRF, tampered sessions, logout, and the setup errors
that name their fix."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from consentlog.dashboard import create_dashboard
from consentlog.dashboard.auth import FAILURE_LIMIT, SESSION_COOKIE
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
    assert 303 == analyst.get("/", follow_redirects=False).status_code


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
