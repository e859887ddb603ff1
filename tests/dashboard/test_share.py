"""Read-only share links (dashboard/share.py): signing, expiry, tampering, revocation and
scope — a link opens its one report with its own filters, without login, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
import structlog
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from itsdangerous import URLSafeSerializer
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from consentlog.dashboard import create_dashboard
from consentlog.dashboard.roles import Principal
from consentlog.dashboard.sessions import SESSION_COOKIE, Credentials
from consentlog.dashboard.share import DAY, MAX_SHARE_DAYS, UNAVAILABLE, ShareError, ShareLinks
from consentlog.dashboard.throttle import FAILURE_LIMIT, Throttle
from consentlog.dashboard.users import UserStore
from consentlog.exceptions import BadRequest
from consentlog.store import Store, open_store
from tests.dashboard.support import DAY as LAST
from tests.dashboard.support import FIRST, PASSWORD, RANGE, SECRET
from tests.dashboard.team import CHEAP, PASSWORDS, log_in, team_app, team_store

T0 = 1_800_000_000


class Clock:
    def __init__(self) -> None:
        self.now = float(T0)

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def users(tmp_path: Path) -> UserStore:
    return team_store(tmp_path / "users.json")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def links(users: UserStore, clock: Clock) -> ShareLinks:
    return ShareLinks([SECRET], users, clock=clock)


def _analyst(users: UserStore) -> Principal:
    principal = users.principal("analyst")
    assert principal is not None
    return principal


# -- signing and opening ------------------------------------------------------------------


def test_a_link_opens_its_page_with_its_filters(links: ShareLinks, users: UserStore) -> None:
    """A signed link opens the page it was made for, with the report filters only."""
    query = {"start": "2026-11-01", "end": "2026-11-07", "sort": "usefulness", "evil": "1"}
    share = links.open(links.sign(_analyst(users), "/pages", query))
    assert "/pages" == share.page
    assert (("start", "2026-11-01"), ("end", "2026-11-07"), ("sort", "usefulness")) == share.query
    assert ("analyst", T0 + 7 * DAY) == (share.creator, share.expires)


def test_a_link_expires(links: ShareLinks, users: UserStore, clock: Clock) -> None:
    """A link opens until its expiry and is a 410 naming the date after it."""
    token = links.sign(_analyst(users), "/", {}, days=1)
    clock.now = T0 + DAY - 1
    assert "/" == links.open(token).page
    clock.now = T0 + DAY
    with pytest.raises(ShareError, match="expired on") as expired:
        links.open(token)
    assert 410 == expired.value.status


@pytest.mark.parametrize("days", [0, -1, MAX_SHARE_DAYS + 1])
def test_a_link_lives_one_to_thirty_days(links: ShareLinks, users: UserStore, days: int) -> None:
    """Asking for a lifetime outside 1 to 30 days is a 400."""
    with pytest.raises(BadRequest, match="1 to 30 days"):
        links.sign(_analyst(users), "/", {}, days=days)


def test_a_tampered_or_foreign_link_is_damaged(links: ShareLinks, users: UserStore) -> None:
    """Changing a character, or signing with another key or salt, gives a 400."""
    token = links.sign(_analyst(users), "/", {})
    forged = [
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        ShareLinks(["another-key"], users).sign(_analyst(users), "/", {}),
        URLSafeSerializer([SECRET], salt="consentlog.dashboard").dumps({"p": "/"}),
        "x" * 5000,
        "",
    ]
    for value in forged:
        with pytest.raises(ShareError, match="damaged") as damaged:
            links.open(value)
        assert 400 == damaged.value.status


def test_a_rotated_key_keeps_links(users: UserStore) -> None:
    """A link signed before a newer key was added (newest last) still opens."""
    token = ShareLinks(["old-key"], users).sign(_analyst(users), "/", {})
    assert "/" == ShareLinks(["old-key", "new-key"], users).open(token).page


def test_a_link_dies_with_its_creator_s_access(links: ShareLinks, users: UserStore) -> None:
    """Removing the creator, or changing their role, revokes their links (410)."""
    token = links.sign(_analyst(users), "/", {})
    users.set_role("analyst", "analyst")  # the same role again: a new stamp all the same
    with pytest.raises(ShareError, match="revoked") as revoked:
        links.open(token)
    assert 410 == revoked.value.status
    token = links.sign(_analyst(users), "/", {})
    users.remove("analyst")
    with pytest.raises(ShareError, match="revoked"):
        links.open(token)


def test_the_single_password_s_links_die_when_it_changes() -> None:
    """In single-password mode a link is bound to the password and token."""
    old = Credentials(password="pw")
    principal = old.principal("")
    assert principal is not None
    token = ShareLinks([SECRET], old).sign(principal, "/", {})
    assert "/" == ShareLinks([SECRET], Credentials(password="pw")).open(token).page
    with pytest.raises(ShareError, match="revoked"):
        ShareLinks([SECRET], Credentials(password="new")).open(token)


@pytest.mark.parametrize(
    ("role", "page", "query", "status"),
    [
        ("viewer", "/", {}, 403),  # viewers may not share
        ("privacy", "/consent", {}, 403),
        ("analyst", "/now", {}, 400),  # a live page is no report
        ("analyst", "/privacy", {}, 400),
        ("analyst", "/pages.csv", {}, 400),
        ("analyst", "/api/pages", {}, 400),
        ("analyst", "/pages/detail", {}, 400),  # a detail needs its path
        ("analyst", "/", {"start": "2026-13-01"}, 400),
        ("analyst", "/pages", {"sort": "nonsense"}, 400),
    ],
)
def test_what_cannot_be_shared_is_refused(
    links: ShareLinks, users: UserStore, role: str, page: str, query: dict[str, str], status: int
) -> None:
    """Only analysts and admins share, only report pages, only with valid filters."""
    principal = users.principal(role)
    assert principal is not None
    with pytest.raises(BadRequest) as refused:
        links.sign(principal, page, query)
    assert status == refused.value.status


@settings(max_examples=50, deadline=None)
@given(
    payload=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner),
        max_leaves=10,
    )
)
def test_well_signed_odd_payloads_open_nothing(payload: object) -> None:
    """Whatever JSON the share signature covers, only a link's own payload opens a page;
    anything else is a ShareError, never another exception."""
    signer = URLSafeSerializer([SECRET], salt="consentlog.dashboard.share")
    links = ShareLinks([SECRET], Credentials(password="pw"))
    with pytest.raises(ShareError):
        links.open(signer.dumps(payload))


# -- over HTTP ----------------------------------------------------------------------------


@pytest.fixture
def app(store: Store, dataset: str, users: UserStore) -> Starlette:
    return team_app(store, dataset, users)


def _share(client: TestClient, page: str, query: str, base: str = "") -> str:
    """The path of a new share link for ``page`` with ``query``, made through the form."""
    made = client.post(f"{base}/share", data={"page": page, "query": query, "days": "7"})
    assert 200 == made.status_code, made.text[:300]
    found = re.search(r'<a href="([^"]*/shared/[^"]+)">Open it</a>', made.text)
    assert found is not None
    return found.group(1)


def test_a_share_link_opens_one_report_read_only_without_login(app: Starlette) -> None:
    """An analyst's link opens its page for anyone, with its own range, no navigation, no
    range picker, no sort, detail or CSV links, no logout, no cookie — and noindex,
    no-referrer."""
    path = _share(log_in(TestClient(app), "analyst"), "/pages", RANGE + "&sort=usefulness")
    reader = TestClient(app)
    response = reader.get(path + "?start=2020-01-01&end=2020-01-02&host=evil")
    assert 200 == response.status_code
    page = response.text
    assert f"{FIRST.isoformat()} – {LAST.isoformat()}" in page  # the token's range, not the URL's
    assert "Page usefulness" in page
    assert "read-only report" in page
    for absent in ('class="nav"', "Log out", "Download CSV", 'action="/share"',
                   'class="range"', "/pages/detail", "?sort="):  # fmt: skip
        assert absent not in page, absent
    assert "noindex, nofollow" == response.headers["x-robots-tag"]
    assert "no-referrer" == response.headers["referrer-policy"]
    assert "set-cookie" not in response.headers
    assert SESSION_COOKIE not in reader.cookies


@pytest.mark.parametrize(
    "suffix", ["/x", "/../pages.csv", "/%2e%2e/api/pages", "%2F..%2Fpages.csv"]
)
def test_a_share_link_gives_nothing_beyond_its_page(app: Starlette, suffix: str) -> None:
    """Paths built on a link open nothing; other pages still need a login."""
    path = _share(log_in(TestClient(app), "analyst"), "/", RANGE)
    reader = TestClient(app)
    assert 200 == reader.get(path).status_code
    tricked = reader.get(path + suffix, follow_redirects=False)
    assert tricked.status_code in {303, 400, 404}
    assert "Views and visitors per day" not in tricked.text
    for other in ("/pages", "/pages.csv", "/privacy"):
        assert 303 == reader.get(other, follow_redirects=False).status_code
    assert 401 == reader.get("/api/pages").status_code


def test_a_revoked_or_damaged_link_is_a_clear_4xx_page(app: Starlette, users: UserStore) -> None:
    """A link whose creator was removed answers 410, a damaged one 400; both say why,
    offer no way into the dashboard, and are noindex too."""
    path = _share(log_in(TestClient(app), "analyst"), "/", RANGE)
    reader = TestClient(app)
    damaged = reader.get(path[:-4] + "AAAA")
    assert 400 == damaged.status_code
    assert "damaged" in damaged.text
    assert "noindex, nofollow" == damaged.headers["x-robots-tag"]
    UserStore(users.path).remove("analyst")
    revoked = reader.get(path)
    assert 410 == revoked.status_code
    assert "revoked" in revoked.text
    assert 'href="/"' not in revoked.text


def test_share_links_work_where_the_dashboard_is_mounted(
    store: Store, dataset: str, users: UserStore
) -> None:
    """Under a mount, the link carries the mount path and opens the page there."""
    dashboard = create_dashboard(
        store, database=dataset, users=users, secret_keys=[SECRET], prefix="/analytics"
    )
    site = Starlette(routes=[Mount("/analytics", app=dashboard)])
    client = TestClient(site)
    response = client.post(
        "/analytics/login",
        data={"username": "analyst", "secret": PASSWORDS["analyst"]},
        follow_redirects=False,
    )
    assert 303 == response.status_code
    path = _share(client, "/consent", RANGE, base="/analytics")
    assert path.startswith("/analytics/shared/")
    opened = TestClient(site).get(path)
    assert 200 == opened.status_code
    assert "Decisions per day by action" in opened.text


def test_single_password_mode_shares_too(store: Store, dataset: str) -> None:
    """The full-access single password may share a report."""
    app = create_dashboard(store, database=dataset, password=PASSWORD, secret_keys=[SECRET])
    client = TestClient(app)
    assert (
        303 == client.post("/login", data={"secret": PASSWORD}, follow_redirects=False).status_code
    )
    path = _share(client, "/errors", RANGE)
    assert 200 == TestClient(app).get(path).status_code


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(token=st.text(max_size=300))
def test_hostile_share_tokens_are_a_4xx(app: Starlette, token: str) -> None:
    """Whatever follows /shared/, the answer is a 4xx (or the login), never a 500."""
    response = TestClient(app).get(
        # path tricks kept ('/', '.', '%', '?'), everything else percent-encoded
        "/shared/" + quote(token.encode("utf-8", "surrogatepass"), safe="/.%?"),
        follow_redirects=False,
    )
    assert 400 <= response.status_code < 500 or response.status_code in {303, 307}, (
        response.status_code
    )


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@example(form={"page": "/", "query": "&".join(["a=1"] * 20), "days": "7"})  # was a 500
@given(
    form=st.dictionaries(
        st.sampled_from(["page", "query", "days"]),
        st.one_of(
            st.text(max_size=60),
            st.sampled_from(
                [
                    "/",
                    "/pages",
                    "/now",
                    "7",
                    "30",
                    "31",
                    "0",
                    RANGE,
                    "path=//x",
                    "&".join(["a=1"] * 20),
                    "start=2026-02-30",
                ]
            ),
        ),
        max_size=3,
    )
)
def test_hostile_share_forms_are_a_page_or_a_4xx(
    store: Store, dataset: str, users: UserStore, form: dict[str, str]
) -> None:
    """Whatever the share form holds, the answer is the link page or a 4xx naming why."""
    client = log_in(TestClient(team_app(store, dataset, users)), "analyst")
    body = urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in form.items()})
    response = client.post(
        "/share", content=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code in {200, 400}, response.text[:300]


def test_the_link_shown_is_the_public_address_behind_a_trusted_proxy(
    store: Store, dataset: str, users: UserStore
) -> None:
    """Behind a trusted proxy the absolute link is built from what the proxy forwarded."""
    app = create_dashboard(
        store,
        database=dataset,
        users=users,
        secret_keys=[SECRET],
        trusted_proxy_hops=1,
        trust_forwarded_host=True,
    )
    client = TestClient(app, base_url="https://internal:8001")  # the cookie is Secure
    forwarded = {
        "x-forwarded-proto": "https",
        "x-forwarded-host": "analytics.example",
        "x-forwarded-for": "198.51.100.7",
        "origin": "https://analytics.example",
    }
    login = client.post(
        "/login",
        data={"username": "analyst", "secret": PASSWORDS["analyst"]},
        headers=forwarded,
        follow_redirects=False,
    )
    assert 303 == login.status_code
    made = client.post("/share", data={"page": "/", "query": RANGE, "days": "1"}, headers=forwarded)
    assert 'value="https://analytics.example/shared/' in made.text


# -- what a link shows of its creator and of the store -------------------------------------


def _payload(token: str) -> str:
    import base64

    body = token.split(".")[0]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode("utf-8", "replace")


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True))
def test_a_link_does_not_show_its_creator_s_name(tmp_path: Path, name: str) -> None:
    """The token is readable base64 JSON: it names its creator by a keyed digest, never
    by name, and still opens (and names the creator to the server)."""
    users = UserStore(tmp_path / f"{name}.json", hasher=CHEAP)
    if users.get(name) is None:
        users.add(name, "analyst", PASSWORDS["analyst"])
    principal = users.principal(name)
    assert principal is not None
    token = ShareLinks([SECRET], users).sign(principal, "/pages", {})
    assert f'"{name}"' not in _payload(token)
    assert name == ShareLinks(["old-key", SECRET], users).open(token).creator


def test_a_store_error_on_a_share_page_is_a_fixed_text_without_a_way_in(
    store: Store, dataset: str, users: UserStore
) -> None:
    """The store down behind a share link: 503 with a fixed text — no store address, no
    driver words — and no link into the dashboard."""
    path = _share(log_in(TestClient(team_app(store, dataset, users)), "analyst"), "/pages", RANGE)
    down = open_store("http://consentlog:s3cret-pw@127.0.0.1:9/consentlog")
    try:
        answer = TestClient(team_app(down, dataset, users)).get(path)
    finally:
        down.close()
    assert 503 == answer.status_code
    assert UNAVAILABLE in answer.text
    for leak in ("127.0.0.1", "s3cret", "Back to the dashboard", 'href="/"', "/login"):
        assert leak not in answer.text
    assert "noindex" in answer.headers["x-robots-tag"]


def test_security_events_are_logged_without_secrets(
    store: Store, dataset: str, tmp_path: Path
) -> None:
    """Logins, failures, a lockout, TOTP failures and a new share link are logged with
    the user name and the client key — never a password, code, hash or token."""
    users = team_store(tmp_path / "users.json", totp=frozenset({"admin"}))
    app = create_dashboard(
        store, database=dataset, users=users, secret_keys=[SECRET], throttle=Throttle(delay=0)
    )
    client = TestClient(app, base_url="http://testserver")
    with structlog.testing.capture_logs() as logs:
        log_in(client, "analyst")
        link = _share(client, "/pages", RANGE)
        for _ in range(FAILURE_LIMIT + 1):
            client.post("/login", data={"username": "viewer", "secret": "wrong-guess-1"})
        other = TestClient(app, base_url="http://testserver", client=("198.51.100.4", 1))
        first = other.post("/login", data={"username": "admin", "secret": PASSWORDS["admin"]})
        pending = re.search(r'name="pending" value="([^"]+)"', first.text)
        assert pending is not None
        other.post("/login/totp", data={"pending": pending.group(1), "code": "999999"})
    events = {entry["event"] for entry in logs}
    assert {
        "dashboard_login",
        "dashboard_share_created",
        "dashboard_login_failed",
        "dashboard_login_throttled",
        "dashboard_login_password_accepted",
        "dashboard_totp_failed",
    } <= events
    text = repr(logs)
    for secret in (
        PASSWORDS["analyst"],
        PASSWORDS["admin"],
        "wrong-guess-1",
        "999999",
        "$argon2",
        link.rsplit("/", 1)[1],
        pending.group(1),
    ):
        assert secret not in text
    failed = [e for e in logs if e["event"] == "dashboard_login_failed"]
    assert {("viewer", "testclient")} == {(e["user"], e["client"]) for e in failed}
