"""Saved filters (dashboard/saved.py): a named user keeps report pages with their filters,
every process sees them, the page lists them, and bad input is a 400."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from httpx import Response
from starlette.testclient import TestClient

from consentlog.dashboard import create_dashboard
from consentlog.dashboard.users import MAX_SAVED, SavedFilter, UserError, UserStore
from consentlog.store import Store
from tests.dashboard.support import PASSWORD, RANGE, SECRET
from tests.dashboard.team import log_in, team_app, team_store


@pytest.fixture
def users(tmp_path: Path) -> UserStore:
    return team_store(tmp_path / "users.json")


@pytest.fixture
def analyst(store: Store, dataset: str, users: UserStore) -> TestClient:
    return log_in(TestClient(team_app(store, dataset, users)), "analyst")


def _save(client: TestClient, **form: str) -> Response:
    return client.post("/saved", data=form, follow_redirects=False)


def test_a_saved_filter_opens_its_page_without_its_dates(
    analyst: TestClient, users: UserStore
) -> None:
    """Saving keeps the page, host and sort, drops the dates unless asked, and opens the
    saved view; another process reading the file sees it."""
    response = analyst.post(
        "/saved",
        data={"label": "by usefulness", "page": "/pages", "query": RANGE + "&sort=usefulness"},
        follow_redirects=False,
    )
    assert 303 == response.status_code
    assert "/pages?sort=usefulness" == response.headers["location"]
    user = UserStore(users.path).get("analyst")
    assert user is not None
    assert (SavedFilter("by usefulness", "/pages", (("sort", "usefulness"),)),) == user.saved
    dated = _save(analyst, label="that week", page="/consent", query=RANGE, dates="1")
    assert f"/consent?{RANGE}" == dated.headers["location"]


def test_report_pages_list_the_saved_filters(analyst: TestClient) -> None:
    """Every report page lists the user's saved filters as links, each with a delete
    button; deleting removes it."""
    _save(analyst, label="docs <b>", page="/pages/detail", query="path=/docs")
    page = analyst.get(f"/goals?{RANGE}").text
    assert "Saved filters (1)" in page
    assert re.search(r'<a href="/pages/detail\?path=%2Fdocs">docs &lt;b&gt;</a>', page)
    gone = analyst.post(
        "/saved/delete", data={"label": "docs <b>", "next": "/goals"}, follow_redirects=False
    )
    assert "/goals" == gone.headers["location"]
    assert "Saved filters (" not in analyst.get(f"/goals?{RANGE}").text


def test_saving_the_same_label_replaces_it(analyst: TestClient, users: UserStore) -> None:
    """A label saved again points at the new view, not at two."""
    _save(analyst, label="mine", page="/pages", query="sort=views")
    _save(analyst, label="mine", page="/errors", query="")
    user = users.get("analyst")
    assert user is not None
    assert (SavedFilter("mine", "/errors", ()),) == user.saved


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"label": "", "page": "/pages"}, "1 to 60 printable characters"),
        ({"label": "x" * 61, "page": "/pages"}, "1 to 60 printable characters"),
        ({"label": "a\nb", "page": "/pages"}, "1 to 60 printable characters"),
        ({"label": "x", "page": "/privacy"}, "no report you may open"),
        ({"label": "x", "page": "/api/pages"}, "no report you may open"),
        ({"label": "x", "page": "/pages", "query": "sort=nonsense"}, "sort="),
        ({"label": "x", "page": "/", "query": "start=2026-02-30"}, "start"),
        ({"label": "x", "page": "/", "query": "&".join(["a=1"] * 20)}, "too many parameters"),
    ],
)
def test_bad_saved_filters_are_a_400(
    analyst: TestClient, form: dict[str, str], message: str
) -> None:
    """A bad label, a page that is no report, or bad filters: 400 naming the problem."""
    response = _save(analyst, **form)
    assert 400 == response.status_code
    assert message in response.text


def test_a_user_keeps_at_most_fifty(users: UserStore) -> None:
    """Beyond MAX_SAVED filters a new one is refused until one is deleted."""
    for n in range(MAX_SAVED):
        users.save_filter("analyst", SavedFilter(f"f{n}", "/", ()))
    with pytest.raises(UserError, match="at most 50"):
        users.save_filter("analyst", SavedFilter("one more", "/", ()))
    users.delete_filter("analyst", "f0")
    users.save_filter("analyst", SavedFilter("one more", "/", ()))


def test_viewers_and_the_single_password_have_no_saved_filters(
    store: Store, dataset: str, users: UserStore
) -> None:
    """A viewer's pages offer no saved filters and /saved is 403; in single-password mode
    there is no user to keep them with (no box, no route)."""
    viewer = log_in(TestClient(team_app(store, dataset, users)), "viewer")
    assert "Saved filters" not in viewer.get(f"/?{RANGE}").text
    assert 403 == _save(viewer, label="x", page="/").status_code
    single = TestClient(
        create_dashboard(store, database=dataset, password=PASSWORD, secret_keys=[SECRET])
    )
    single.post("/login", data={"secret": PASSWORD})
    assert "Saved filters" not in single.get(f"/?{RANGE}").text
    assert 404 == _save(single, label="x", page="/").status_code


def test_saved_filters_are_not_shown_on_a_share_link(analyst: TestClient) -> None:
    """A shared report shows no saved filters of its creator."""
    _save(analyst, label="secret plan", page="/", query="")
    made = analyst.post("/share", data={"page": "/", "query": RANGE, "days": "1"})
    found = re.search(r'<a href="([^"]*/shared/[^"]+)">Open it</a>', made.text)
    assert found is not None
    shared = TestClient(analyst.app).get(found.group(1)).text
    assert "secret plan" not in shared
    assert "Saved filters" not in shared
