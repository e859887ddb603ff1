"""Team access over HTTP: every role against every class of route (HTML, CSV, JSON API,
privacy actions, share links), the navigation each role sees, named login with TOTP under
the throttle, sessions that end when a user is removed or changes role, cross-site POSTs,
and hostile login input."""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.testclient import TestClient

from consentlog.dashboard import create_dashboard
from consentlog.dashboard.roles import ROLES, Role
from consentlog.dashboard.sessions import PENDING_MAX_AGE, SESSION_COOKIE, Sessions
from consentlog.dashboard.throttle import FAILURE_LIMIT, Throttle
from consentlog.dashboard.users import UserStore
from consentlog.store import Store
from tests.dashboard.support import PASSWORD, RANGE, SECRET
from tests.dashboard.team import PASSWORDS, code_now, log_in, team_store

NO_DELAY = {"delay": 0.0}


@pytest.fixture
def users(tmp_path: Path) -> UserStore:
    return team_store(tmp_path / "users.json", totp=frozenset({"admin"}))


def _app(store: Store, dataset: str, users: UserStore, **options: object) -> Starlette:
    options.setdefault("throttle", Throttle(**NO_DELAY))  # type: ignore[arg-type]
    return create_dashboard(
        store,
        database=dataset,
        users=users,
        secret_keys=[SECRET],
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def team(store: Store, dataset: str, users: UserStore) -> TestClient:
    return TestClient(_app(store, dataset, users), base_url="http://testserver")


# -- every role × every class of route ----------------------------------------------------

# (method, route, form) per class of route; the subject of the privacy actions is unknown,
# so they change nothing (erasure itself is tested below)
ROUTE_CLASSES: dict[str, list[tuple[str, str, dict[str, str] | None]]] = {
    "reports": [("GET", "/", None), ("GET", "/pages", None), ("GET", "/now", None),
                ("GET", "/pages/detail?path=/docs", None), ("GET", "/sources", None)],
    "consent": [("GET", "/consent", None)],
    "download": [("GET", "/pages.csv", None)],
    "api": [("GET", "/api/pages", None), ("GET", "/api/overview", None)],
    "api_consent": [("GET", "/api/consent", None)],
    "privacy": [
        ("GET", "/privacy", None),
        ("POST", "/privacy/export", {"visitor": "no-such-visitor"}),
        ("POST", "/privacy/forget", {"visitor": "no-such-visitor", "confirm": "erase"}),
    ],
    "share": [("POST", "/share", {"page": "/pages", "query": RANGE, "days": "7"})],
    "saved": [("POST", "/saved", {"label": "week", "page": "/consent", "query": RANGE}),
              ("POST", "/saved/delete", {"label": "week"})],
}  # fmt: skip
ALLOWED: dict[Role, set[str]] = {
    "viewer": {"reports", "consent"},
    "analyst": {"reports", "consent", "download", "api", "api_consent", "share", "saved"},
    "privacy": {"consent", "privacy"},
    "admin": set(ROUTE_CLASSES),
}
CASES = [
    (role, kind, method, route, form)
    for role in ROLES
    for kind, routes in ROUTE_CLASSES.items()
    for method, route, form in routes
]


@pytest.fixture(scope="module")
def logged_in(
    store: Store, dataset: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, TestClient]:
    """A client per role, logged in once for the matrix (no TOTP)."""
    users = team_store(tmp_path_factory.mktemp("team") / "users.json")
    app = _app(store, dataset, users)
    return {role: log_in(TestClient(app, base_url="http://testserver"), role) for role in ROLES}


@pytest.mark.parametrize(("role", "kind", "method", "route", "form"), CASES)
def test_each_role_opens_exactly_what_it_may(
    logged_in: dict[str, TestClient],
    role: Role,
    kind: str,
    method: str,
    route: str,
    form: dict[str, str] | None,
) -> None:
    """A role's routes answer 200 (a form's 303 onwards); every other route 403 with a
    message naming the role and what it may not open (JSON on the API)."""
    client = logged_in[role]
    response = client.request(method, route, data=form, follow_redirects=False)
    if kind in ALLOWED[role]:
        assert (303 if kind == "saved" else 200) == response.status_code, response.text[:300]
        return
    assert 403 == response.status_code, response.text[:300]
    message = response.json()["error"] if route.startswith("/api/") else response.text
    assert f"(role {role}) may not open" in message
    assert "ask an administrator for another role" in message


NAV = re.compile(r'<nav class="nav".*?</nav>', re.S)
LABELS = ["Overview", "Pages", "Goals", "Funnels", "Sources", "Countries", "Bots", "Consent",
          "Errors", "Now", "Privacy"]  # fmt: skip
SEES: dict[Role, list[str]] = {
    "viewer": LABELS[:-1],
    "analyst": LABELS[:-1],
    "privacy": ["Consent", "Privacy"],
    "admin": LABELS,
}


@pytest.mark.parametrize("role", ROLES)
def test_the_navigation_lists_only_what_the_role_opens(
    logged_in: dict[str, TestClient], role: Role
) -> None:
    """The navigation names exactly the role's pages, and the header who is logged in;
    the CSV link and the share form appear only for those who may use them."""
    page = logged_in[role].get(f"/consent?{RANGE}").text
    nav = NAV.search(page)
    assert nav is not None
    assert SEES[role] == re.findall(r">([A-Za-z]+)</a></li>", nav.group())
    assert f"{role} ({role})" in page
    assert (role in {"analyst", "admin"}) == ('action="/share"' in page)
    if role != "privacy":
        pages = logged_in[role].get(f"/pages?{RANGE}").text
        assert (role in {"analyst", "admin"}) == ("Download CSV" in pages)


@pytest.mark.parametrize(("role", "landing"), [("viewer", "/"), ("privacy", "/consent")])
def test_login_lands_on_a_page_the_role_may_open(team: TestClient, role: str, landing: str) -> None:
    """After login, a role that may not open the overview lands on its first page."""
    response = team.post(
        "/login", data={"username": role, "secret": PASSWORDS[role]}, follow_redirects=False
    )
    assert landing == response.headers["location"]


def test_the_single_password_is_a_full_access_user(analyst: TestClient) -> None:
    """Without a users file, the dashboard password opens everything, Privacy included."""
    assert 200 == analyst.get("/privacy").status_code
    assert 200 == analyst.get("/api/consent").status_code
    assert ">Privacy</a>" in analyst.get("/consent").text


# -- the privacy actions ------------------------------------------------------------------


def test_the_privacy_role_exports_and_erases_a_subject(
    store: Store, dataset: str, logged_in: dict[str, TestClient]
) -> None:
    """A privacy user downloads a visitor's rows as JSON, erases them, and the audit on
    the Privacy page shows both requests (never whom)."""
    _, rows = store.query(
        "SELECT visitor_id FROM {db:Identifier}.page_requests WHERE visitor_id != '' LIMIT 1",
        {"db": dataset},
    )
    visitor = rows[0][0]
    client = logged_in["privacy"]
    exported = client.post("/privacy/export", data={"visitor": visitor})
    assert 200 == exported.status_code
    assert "attachment" in exported.headers["content-disposition"]
    assert exported.json()["page_requests"]
    refused = client.post("/privacy/forget", data={"visitor": visitor})
    assert 400 == refused.status_code
    assert "confirms the erasure" in refused.text
    erased = client.post("/privacy/forget", data={"visitor": visitor, "confirm": "erase"})
    assert 200 == erased.status_code
    assert "Erased" in erased.text
    again = client.post("/privacy/export", data={"visitor": visitor})
    assert [] == again.json()["page_requests"]
    audit = client.get("/privacy").text
    assert ">export<" in audit
    assert ">erase<" in audit
    assert ">dashboard<" in audit
    assert visitor not in audit


@pytest.mark.parametrize(
    "form", [{}, {"visitor": "x" * 201}, {"visitor": "a\x00b"}, {"consent": "ü"}]
)
def test_a_privacy_action_without_a_proper_subject_is_a_400(
    logged_in: dict[str, TestClient], form: dict[str, str]
) -> None:
    """No id, or one no id can be, is refused with a message, nothing done."""
    response = logged_in["privacy"].post("/privacy/export", data=form)
    assert 400 == response.status_code
    assert "visitor id" in response.text or "consent id" in response.text


@pytest.mark.parametrize(
    "headers", [{"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"}]
)
@pytest.mark.parametrize("route", ["/privacy/forget", "/privacy/export", "/share", "/logout"])
def test_cross_site_posts_are_refused(
    logged_in: dict[str, TestClient], route: str, headers: dict[str, str]
) -> None:
    """A state-changing request from another site is a 403, whoever's cookie it carries."""
    response = logged_in["admin"].post(
        route, data={"visitor": "v", "confirm": "erase"}, headers=headers, follow_redirects=False
    )
    assert 403 == response.status_code
    assert "cross-site request refused" in response.text


# -- named login, TOTP, the throttle ------------------------------------------------------


def test_unknown_user_and_wrong_password_read_the_same(team: TestClient) -> None:
    """An unknown name and a wrong password get the same 401 and words (no enumeration)."""
    unknown = team.post("/login", data={"username": "nobody", "secret": "whatever pw"})
    wrong = team.post("/login", data={"username": "viewer", "secret": "whatever pw"})
    assert (401, 401) == (unknown.status_code, wrong.status_code)
    assert unknown.text == wrong.text
    assert "Wrong user name or password." in unknown.text


def test_the_login_form_asks_for_a_user_name(team: TestClient, analyst: TestClient) -> None:
    """Named mode shows a user name field; single-password mode keeps it hidden."""
    assert 'id="username"' in team.get("/login").text
    assert 'id="username"' not in TestClient(analyst.app).get("/login").text


def test_the_single_password_does_not_open_named_mode(
    store: Store, dataset: str, users: UserStore
) -> None:
    """With a users file, the dashboard password and token log nobody in."""
    app = _app(store, dataset, users, password=PASSWORD, token="tok-1234")
    client = TestClient(app)
    assert 401 == client.post("/login", data={"secret": PASSWORD}).status_code
    api = client.get("/api/pages", headers={"authorization": "Bearer tok-1234"})
    assert 401 == api.status_code


def _pending(response_text: str) -> str:
    found = re.search(r'name="pending" value="([^"]+)"', response_text)
    assert found is not None, response_text[:500]
    return found.group(1)


def test_totp_is_asked_after_the_password_and_accepted_once(
    team: TestClient, users: UserStore
) -> None:
    """A TOTP user's right password gives the code form, no session; the right code the
    session; the same code in a new login is refused (replayed)."""
    first = team.post("/login", data={"username": "admin", "secret": PASSWORDS["admin"]})
    assert 200 == first.status_code
    assert "six-digit code" in first.text
    assert SESSION_COOKIE not in team.cookies
    code = code_now(users, "admin")
    done = team.post(
        "/login/totp", data={"pending": _pending(first.text), "code": code}, follow_redirects=False
    )
    assert 303 == done.status_code
    assert SESSION_COOKIE in done.headers["set-cookie"]
    assert 200 == team.get("/privacy").status_code
    fresh = TestClient(team.app)
    again = fresh.post("/login", data={"username": "admin", "secret": PASSWORDS["admin"]})
    replay = fresh.post("/login/totp", data={"pending": _pending(again.text), "code": code})
    assert 401 == replay.status_code
    assert "already used" in replay.text
    assert SESSION_COOKIE not in fresh.cookies


def test_totp_failures_meet_the_throttle_per_client_and_per_user(
    store: Store, dataset: str, users: UserStore
) -> None:
    """Wrong codes count as failed logins: the client is refused after the limit, and so
    is the user's code step from any other address (a distributed guess)."""
    app = _app(store, dataset, users, trusted_proxy_hops=1)
    client = TestClient(app)

    def attempt(address: str) -> int:
        headers = {"x-forwarded-for": address}
        form = {"username": "admin", "secret": PASSWORDS["admin"]}
        first = client.post("/login", data=form, headers=headers)
        if first.status_code != 200:
            return first.status_code
        form = {"pending": _pending(first.text), "code": "000000"}
        return client.post("/login/totp", data=form, headers=headers).status_code

    assert [401] * FAILURE_LIMIT + [429] == [attempt("198.51.100.1") for _ in range(6)]
    # other addresses: the user's TOTP step is locked for everyone now
    assert 429 == attempt("198.51.100.2")


def test_a_stale_or_tampered_totp_step_starts_over(
    team: TestClient, users: UserStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The password step's token is good for a few minutes and only as signed."""
    first = team.post("/login", data={"username": "admin", "secret": PASSWORDS["admin"]})
    pending = _pending(first.text)
    tampered = team.post("/login/totp", data={"pending": pending[:-3] + "AAA", "code": "1"})
    assert 400 == tampered.status_code
    assert "log in again" in tampered.text
    later = int(time.time()) + PENDING_MAX_AGE + 1
    monkeypatch.setattr(Sessions, "now", lambda self: later)
    stale = team.post("/login/totp", data={"pending": pending, "code": code_now(users, "admin")})
    assert 400 == stale.status_code


# -- sessions end when the user changes ---------------------------------------------------


def test_removing_a_user_ends_their_sessions(team: TestClient, users: UserStore) -> None:
    """A removed user's live session reads as logged out on the next request."""
    log_in(team, "analyst")
    assert 200 == team.get("/consent").status_code
    UserStore(users.path).remove("analyst")  # as `consentlog users remove` does
    assert 303 == team.get("/consent", follow_redirects=False).status_code
    assert 401 == team.get("/api/pages").status_code


def test_a_role_change_ends_the_sessions_and_the_new_role_applies(
    team: TestClient, users: UserStore
) -> None:
    """A user given another role is logged out; logging in again gives the new role."""
    log_in(team, "viewer")
    assert 403 == team.get("/privacy").status_code
    UserStore(users.path).set_role("viewer", "privacy")
    assert 303 == team.get("/consent", follow_redirects=False).status_code
    log_in(team, "viewer")
    assert 200 == team.get("/privacy").status_code


def test_a_new_password_ends_the_sessions(team: TestClient, users: UserStore) -> None:
    """A user given a new password is logged out everywhere; the new password logs in."""
    log_in(team, "analyst")
    UserStore(users.path).set_password("analyst", "a brand new password")
    assert 303 == team.get("/consent", follow_redirects=False).status_code
    log_in(team, "analyst", "a brand new password")
    assert 200 == team.get("/consent").status_code


def test_a_cookie_planted_before_login_is_replaced(team: TestClient) -> None:
    """Session fixation: a cookie set before login never becomes the session."""
    team.cookies.set(SESSION_COOKIE, "planted-value")
    response = team.post(
        "/login", data={"username": "viewer", "secret": PASSWORDS["viewer"]}, follow_redirects=False
    )
    assert 303 == response.status_code
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith(f"{SESSION_COOKIE}=")
    assert "planted-value" not in set_cookie


# -- hostile input ------------------------------------------------------------------------

FIELD = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["viewer", "admin", PASSWORDS["viewer"], "<script>x</script>", "x" * 5000,
                     "//evil.example/", "/\\evil", "000000", "%00"]),
)  # fmt: skip


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    route=st.sampled_from(["/login", "/login/totp"]),
    form=st.dictionaries(
        st.sampled_from(["username", "secret", "next", "pending", "code"]), FIELD, max_size=5
    ),
)
def test_hostile_login_input_gets_a_login_page_or_a_4xx(
    team: TestClient, route: str, form: dict[str, str]
) -> None:
    """Whatever the form holds, the login routes answer a login step, a redirect inside
    the dashboard or a 4xx — never a 500 — and never reflect markup."""
    body = urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in form.items()})
    response = team.post(
        route,
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert response.status_code in {200, 303, 400, 401, 403, 429}, response.text[:300]
    if response.status_code == 303:
        assert response.headers["location"].startswith("/")
        assert not response.headers["location"].startswith("//")
    assert "<script>x</script>" not in response.text
