"""``POST /_consent/check``: a page served without consent carries a check token, and
the script's first request sends it back — a verified browser view, counted once, naming
nobody. Tokens are this site's and an hour old at most; anything else is a 4xx."""

from __future__ import annotations

import datetime
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from consentlog.analytics import reports
from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.consent.pageviews import CHECK_MAX_AGE, CheckTokens
from consentlog.ingest.events import BrowserCheck, PageRequest
from consentlog.settings import ANALYTICS
from consentlog.testing import MemorySink, consent_cookie
from tests.asgi.support import json_error
from tests.helpers import BROWSER, MakeApp, rows

# what a browser's beacon from a page of the site carries
FROM_PAGE = {
    "sec-fetch-site": "same-origin",
    "sec-fetch-mode": "no-cors",
    "sec-fetch-dest": "empty",
}
_CHECK = re.compile(r'<i id="cl-pv" data-check="([0-9a-f]{32}\.[0-9a-f]{32})" hidden></i>')


def _events(middleware: ConsentMiddleware) -> list[object]:
    sink = middleware.writer
    assert isinstance(sink, MemorySink)
    return list(sink.events)


def _token_of(page: str) -> str:
    found = _CHECK.search(page)
    assert found, "the page carries no check token"
    return found.group(1)


def test_a_page_without_consent_is_checked_once(make_app: MakeApp) -> None:
    """The page's token comes back: one check of that page view, however often it is sent."""
    middleware = make_app()
    client = TestClient(middleware, headers={**BROWSER, **FROM_PAGE})
    token = _token_of(client.get("/docs/a").text)
    for _ in range(3):
        answer = client.post("/_consent/check", content=token)
        assert (204, b"") == (answer.status_code, answer.content)
    [page, check] = _events(middleware)
    assert isinstance(page, PageRequest)
    assert isinstance(check, BrowserCheck)
    assert check.pageview_id == page.pageview_id == token.partition(".")[0]
    assert check._fields == ("ts", "pageview_id")  # a time and a page view: nobody


def test_a_measured_page_carries_no_check(make_app: MakeApp) -> None:
    """A consented visitor's page is measured by its page-view token instead; a declined
    visitor's page is checked."""
    middleware = make_app()
    accepted = TestClient(middleware, headers={"cookie": consent_cookie(middleware, [ANALYTICS])})
    page = accepted.get("/docs/a").text
    assert 'data-pv="' in page
    assert "data-check" not in page
    declined = TestClient(middleware, headers={"cookie": consent_cookie(middleware, [])})
    _token_of(declined.get("/docs/a").text)


def test_tokens_that_are_not_this_sites_are_refused(make_app: MakeApp) -> None:
    """Another site's token, an expired one, a forged MAC, a page-view token: 400."""
    middleware = make_app()
    client = TestClient(middleware, headers=FROM_PAGE)
    other = CheckTokens(["another site's secret key, long enough"])
    expired = CheckTokens(middleware.settings.secret_keys)
    expired.now = lambda: datetime.datetime.now().timestamp() - CHECK_MAX_AGE - 120  # type: ignore[method-assign]
    _, good = middleware.core.checks.issue()
    _, page_view_token = middleware.core.pageviews.issue("s" * 22, "/", "")
    for body in (
        other.issue()[1],
        expired.issue()[1],
        good[:-1] + ("0" if good[-1] != "0" else "1"),
        page_view_token,
        "",
        "x" * 100,
    ):
        answer = client.post("/_consent/check", content=body)
        assert 400 == answer.status_code, body
        assert "check token" in json_error(answer)
    assert [] == _events(middleware)
    assert 413 == client.post("/_consent/check", content=good + " " * 200).status_code
    assert 405 == client.get("/_consent/check").status_code


def test_a_check_from_another_site_is_refused(make_app: MakeApp) -> None:
    middleware = make_app()
    _, token = middleware.core.checks.issue()
    answer = TestClient(middleware).post(
        "/_consent/check", content=token, headers={"sec-fetch-site": "cross-site"}
    )
    assert 403 == answer.status_code
    assert [] == _events(middleware)


def test_only_a_page_of_the_site_sends_a_check(make_app: MakeApp) -> None:
    """A browser's beacon names its site (Sec-Fetch-Site, or Origin in browsers before
    fetch metadata); a client that sends neither is no page's script: 403."""
    middleware = make_app()
    client = TestClient(middleware)
    for headers in ({}, {"sec-fetch-site": "none"}, {"sec-fetch-site": "same-site"}):
        answer = client.post(
            "/_consent/check", content=middleware.core.checks.issue()[1], headers=headers
        )
        assert 403 == answer.status_code, headers
    assert "Sec-Fetch-Site" in json_error(client.post("/_consent/check", content="x"))
    older = {"origin": "http://testserver"}  # Safari before 16.4
    assert (
        204
        == client.post(
            "/_consent/check", content=middleware.core.checks.issue()[1], headers=older
        ).status_code
    )
    assert 1 == len(_events(middleware))


def test_many_people_behind_one_address_are_all_verified(make_app: MakeApp) -> None:
    """No per-address limit: 300 page views from one address (an office, a carrier's
    NAT) are 300 checks — each needed its own page view."""
    middleware = make_app()
    client = TestClient(middleware, headers=FROM_PAGE)
    for _ in range(300):
        token = middleware.core.checks.issue()[1]
        assert 204 == client.post("/_consent/check", content=token).status_code
    assert 300 == len(_events(middleware))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.binary(max_size=200) | st.text(max_size=80).map(str.encode))
def test_any_body_is_a_4xx_or_a_check(make_app: MakeApp, body: bytes) -> None:
    middleware = make_app()
    answer = TestClient(middleware, headers=FROM_PAGE).post("/_consent/check", content=body)
    assert answer.status_code in {204, 400, 413}
    assert all(isinstance(e, BrowserCheck) for e in _events(middleware))


def test_a_checked_view_is_a_verified_browser_view(make_stored_app: MakeApp) -> None:
    """In the store: of two views served without consent, the one whose script ran is
    verified; a crawler's never is, and counts under its signal."""
    middleware = make_stored_app()
    client = TestClient(middleware, headers={**BROWSER, **FROM_PAGE})
    token = _token_of(client.get("/docs/a").text)
    client.get("/docs/a")  # the script never ran
    TestClient(middleware).get("/docs/a", headers={"user-agent": "curl/8.5.0"})
    assert 204 == client.post("/_consent/check", content=token).status_code
    [(pageview_id,)] = [
        tuple(r.values()) for r in rows(middleware, "SELECT pageview_id FROM {db}.browser_checks")
    ]
    assert str(pageview_id).replace("-", "") == token.partition(".")[0]
    today = datetime.datetime.now(datetime.UTC).date()
    db = middleware.settings.database
    [page] = reports.verified(middleware.store, db, today, today)
    assert ("/docs/a", 2, 1, 2, 1) == (
        page.path, page.views, page.verified_views, page.anonymous_views,
        page.verified_anonymous_views,
    )  # fmt: skip
    signals = {
        s.signal: (s.requests, s.verified) for s in reports.bots(middleware.store, db, today, today)
    }
    assert {"": (2, 1), "list": (1, 0)} == signals
