"""The page on which a visitor accepts is measured: the decision's answer carries a
page-view token for it, and the page is logged again with consent as a *consented copy*
(which view counts leave out). Only when the page had no token: a visitor who had
accepted already, or who declines, gets none; a bad path is a 400 naming it."""

from __future__ import annotations

import datetime
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from consentlog.analytics import reports
from consentlog.analytics.metrics import page_report
from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.ingest.events import PageRequest
from consentlog.settings import ANALYTICS
from consentlog.testing import MemorySink, consent_cookie
from tests.helpers import BROWSER, MakeApp, rows


def _pages(middleware: ConsentMiddleware) -> list[PageRequest]:
    sink = middleware.writer
    assert isinstance(sink, MemorySink)
    return sink.pages


def test_accepting_on_a_page_gives_its_token_and_logs_its_consented_copy(
    make_app: MakeApp,
) -> None:
    middleware = make_app()
    client = TestClient(middleware)
    client.get("/docs/caf%C3%A9")  # served without a token: the visitor has not decided
    answer = client.post("/_consent", json={"action": "accept_all", "path": "/docs/caf%C3%A9"})
    assert 200 == answer.status_code
    token = answer.json()["pv"]
    session, visitor = client.cookies["cl_sid"], client.cookies["cl_vid"]
    pageview = middleware.core.pageviews.verify(token, session, "/docs/café")
    assert pageview is not None
    assert pageview.visitor_id == visitor
    served, copy = _pages(middleware)
    assert (served.consent_state, served.session_id, served.consented_copy) == (
        "unknown", "", False,
    )  # fmt: skip
    assert (copy.pageview_id, copy.path, copy.consent_state, copy.consented_copy) == (
        pageview.pageview_id, "/docs/café", "granted", True,
    )  # fmt: skip
    assert (copy.visitor_id, copy.session_id) == (visitor, session)
    engaged = client.post(
        "/_consent/beacon",
        json={"pv": token, "path": "/docs/caf%C3%A9", "engaged_ms": 60000, "scroll_pct": 100,
              "useful": True},
    )  # fmt: skip
    assert 204 == engaged.status_code


def test_custom_choices_with_analytics_also_get_the_token(make_app: MakeApp) -> None:
    middleware = make_app()
    answer = TestClient(middleware).post(
        "/_consent", json={"categories": {ANALYTICS: True}, "path": "/pricing"}
    )
    assert "pv" in answer.json()
    assert [True] == [p.consented_copy for p in _pages(middleware)]


def test_no_token_when_analytics_is_declined_or_was_accepted_before(make_app: MakeApp) -> None:
    middleware = make_app()
    declined = TestClient(middleware).post(
        "/_consent", json={"action": "reject_all", "path": "/docs"}
    )
    assert "pv" not in declined.json()
    marketing_only = TestClient(middleware).post(
        "/_consent", json={"categories": {"marketing": True}, "path": "/docs"}
    )
    assert "pv" not in marketing_only.json()
    before = consent_cookie(middleware, [ANALYTICS])
    again = TestClient(middleware, headers={"cookie": before}).post(
        "/_consent", json={"action": "accept_all", "path": "/docs"}
    )  # this visitor's page had a token of its own
    assert "pv" not in again.json()
    no_path = TestClient(middleware).post("/_consent", json={"action": "accept_all"})
    assert "pv" not in no_path.json()
    assert [] == _pages(middleware)


def test_a_form_decision_makes_no_copy(make_app: MakeApp) -> None:
    """Without JavaScript the form's 303 brings the page back, served with its token."""
    middleware = make_app()
    answer = TestClient(middleware, follow_redirects=False).post(
        "/_consent", data={"action": "accept_all", "next": "/docs"}
    )
    assert 303 == answer.status_code
    assert [] == _pages(middleware)


def test_bad_paths_are_a_400_naming_the_field(make_app: MakeApp) -> None:
    client = TestClient(make_app())
    for path in ("docs", 7, None, "/a\x00b", "/%00", "/" + "p" * 2000, ["/"]):
        answer = client.post("/_consent", json={"action": "accept_all", "path": path})
        assert 400 == answer.status_code, path
        assert "'path'" in answer.json()["error"]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.one_of(st.text(max_size=40), st.just("/").map(lambda s: s) | st.text().map("/".__add__))
)
def test_any_path_is_answered_without_a_server_error(make_app: MakeApp, path: str) -> None:
    """Arbitrary text (lone surrogates included) as the path: a 200 or a 4xx, and a copy
    holds only a path the beacon would accept."""
    middleware = make_app()
    answer = TestClient(middleware).post(
        "/_consent",
        content=json.dumps({"action": "accept_all", "path": path}).encode(),
        headers={"content-type": "application/json"},
    )
    assert answer.status_code in (200, 400)
    for page in _pages(middleware):
        assert page.path.startswith("/")
        assert "\x00" not in page.path


def test_the_copy_is_stored_and_left_out_of_the_views(make_stored_app: MakeApp) -> None:
    """In the store: the served view and its copy, one view in the report, one session."""
    middleware = make_stored_app()
    client = TestClient(middleware, headers=BROWSER)
    client.get("/docs/a")
    token = client.post("/_consent", json={"action": "accept_all", "path": "/docs/a"}).json()["pv"]
    client.post(
        "/_consent/beacon",
        json={"pv": token, "path": "/docs/a", "engaged_ms": 42000, "scroll_pct": 90,
              "useful": True},
    )  # fmt: skip
    found: list[dict[str, Any]] = rows(
        middleware,
        "SELECT consent_state, consented_copy FROM {db}.page_requests ORDER BY ts",
    )
    assert [("unknown", False), ("granted", True)] == [
        (r["consent_state"], r["consented_copy"]) for r in found
    ]
    today = datetime.datetime.now(datetime.UTC).date()
    [page] = page_report(middleware.store, middleware.settings.database, today, today)
    assert (page.views, page.anonymous_views, page.entries, page.engaged_views) == (1, 1, 1, 1)
    assert (page.votes_yes, page.median_engaged_ms) == (1, 42000.0)


def test_copies_are_limited_per_client_address(make_app: MakeApp) -> None:
    """A client that keeps accepting (new cookies each time) gets copies only as often as
    people do: the decisions are all taken, the copies stop after a burst."""
    from consentlog.asgi.beacon import COPY_BURST

    middleware = make_app()
    answers = [
        TestClient(middleware).post("/_consent", json={"action": "accept_all", "path": "/x"})
        for _ in range(COPY_BURST + 5)
    ]
    assert {200} == {a.status_code for a in answers}
    assert COPY_BURST == sum("pv" in a.json() for a in answers)
    assert COPY_BURST == len(_pages(middleware))
    other = TestClient(middleware, client=("198.51.100.9", 50000))
    assert "pv" in other.post("/_consent", json={"action": "accept_all", "path": "/x"}).json()


def test_no_copy_of_a_page_never_logged(make_app: MakeApp) -> None:
    """Accepting on consentlog's own settings page, or on an excluded path, makes no copy."""
    middleware = make_app()
    for path in ("/_consent/settings", "/healthz"):
        answer = TestClient(middleware).post(
            "/_consent", json={"action": "accept_all", "path": path}
        )
        assert "pv" not in answer.json()
    assert [] == _pages(middleware)


def test_the_copy_is_the_arrival_its_page_view_was(make_stored_app: MakeApp) -> None:
    """The script sends how the page was reached: the copy gets that referrer and those
    campaign tags (never a click id's value), so the session that starts there has the
    arrival's channel — in the Channels report's visitors and sessions."""
    middleware = make_stored_app()
    client = TestClient(middleware, headers=BROWSER)
    client.get("/docs/a?utm_campaign=spring&gclid=SECRETCLICK",
               headers={"referer": "https://www.google.com/search?q=x"})  # fmt: skip
    answer = client.post(
        "/_consent",
        json={"action": "accept_all", "path": "/docs/a",
              "referrer": "https://www.google.com/search?q=x",
              "query": "utm_campaign=spring&gclid=SECRETCLICK"},
        headers={"referer": "http://testserver/docs/a"},
    )  # fmt: skip
    assert 200 == answer.status_code
    found = rows(
        middleware,
        "SELECT consented_copy, referrer_host, referrer_path, utm_campaign, click_id, channel,"
        " session_id != '' AS in_session FROM {db}.page_requests ORDER BY ts",
    )
    assert [
        (False, "www.google.com", "", "spring", "gclid", "campaign", False),
        (True, "www.google.com", "/search", "spring", "gclid", "campaign", True),
    ] == [tuple(r.values()) for r in found]
    assert "SECRETCLICK" not in repr(rows(middleware, "SELECT * FROM {db}.page_requests"))
    today = datetime.datetime.now(datetime.UTC).date()
    [campaign] = reports.channels(middleware.store, middleware.settings.database, today, today)
    assert (1, 1, 1) == (campaign.views, campaign.visitors, campaign.sessions)


def test_a_bad_arrival_is_a_400_naming_the_field(make_app: MakeApp) -> None:
    client = TestClient(make_app())
    for body, field in (({"referrer": 3}, "referrer"), ({"query": "q" * 5000}, "query")):
        answer = client.post("/_consent", json={"action": "accept_all", "path": "/", **body})
        assert 400 == answer.status_code
        assert f"'{field}'" in answer.json()["error"]
