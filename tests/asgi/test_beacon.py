"""The beacon trusts only what it verified: the visitor id of its rows comes from the
page-view token, tokens expire, paths are paths (decoded as the server decodes the page's
own), single-page-app views are limited per session, and hostile bodies are a 4xx."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.consent.pageviews import TOKEN_MAX_AGE
from consentlog.ingest.events import Engagement, PageRequest
from consentlog.settings import ANALYTICS
from consentlog.testing import MemorySink, consent_cookie
from tests.asgi.support import json_error
from tests.helpers import MakeApp, rows

SESSION = "sessionsessionsessionA"
VISITOR = "visitorvisitorvisitorA"


def _client(middleware: ConsentMiddleware, *, visitor_cookie: str = VISITOR) -> TestClient:
    """A browser that accepted analytics and has a session."""
    cookie = consent_cookie(middleware, [ANALYTICS])
    headers = {"cookie": f"{cookie}; cl_sid={SESSION}; cl_vid={visitor_cookie}"}
    return TestClient(middleware, headers=headers)


def _engagement(token: str, path: str = "/docs/a", **fields: Any) -> dict[str, Any]:
    return {"pv": token, "path": path, "engaged_ms": 1200, "scroll_pct": 40, **fields}


def _queued(middleware: ConsentMiddleware) -> list[Any]:
    sink = middleware.writer
    assert isinstance(sink, MemorySink)
    return list(sink.events)


def test_the_visitor_id_comes_from_the_token_not_the_cookie(make_app: MakeApp) -> None:
    """A beacon sent with another visitor's cookie still reports under the visitor the
    token was issued to."""
    middleware = make_app()
    pageview_id, token = middleware.core.pageviews.issue(SESSION, "/docs/a", VISITOR)
    client = _client(middleware, visitor_cookie="someoneelsesomeoneelse")
    assert 204 == client.post("/_consent/beacon", json=_engagement(token)).status_code
    [event] = _queued(middleware)
    assert isinstance(event, Engagement)
    assert (pageview_id, VISITOR, SESSION) == (
        event.pageview_id,
        event.visitor_id,
        event.session_id,
    )


def test_a_token_without_a_visitor_never_adopts_the_cookie(make_app: MakeApp) -> None:
    """A token issued without a visitor id reports under none, whatever cl_vid says."""
    middleware = make_app()
    _, token = middleware.core.pageviews.issue(SESSION, "/docs/a", "")
    response = _client(middleware).post("/_consent/beacon", json=_engagement(token))
    assert 204 == response.status_code
    [event] = _queued(middleware)
    assert isinstance(event, Engagement)
    assert "" == event.visitor_id


def test_an_expired_token_is_refused(make_app: MakeApp) -> None:
    """A token older than a day is a 403 that says to reload the page; nothing is queued."""
    middleware = make_app()
    tokens = middleware.core.pageviews
    _, token = tokens.issue(SESSION, "/docs/a", VISITOR)
    issued_at = tokens.now()
    tokens.now = lambda: issued_at + TOKEN_MAX_AGE + 1  # type: ignore[method-assign]
    response = _client(middleware).post("/_consent/beacon", json=_engagement(token))
    assert 403 == response.status_code
    assert "reload the page" in json_error(response)
    assert [] == _queued(middleware)


def test_navigation_views_carry_the_token_visitor_and_a_token_for_the_next_path(
    make_app: MakeApp,
) -> None:
    """A single-page-app view is logged (decoded path, the token's visitor) and answered
    with a token that verifies for the new path as the page will send it, %-encoded."""
    middleware = make_app()
    _, token = middleware.core.pageviews.issue(SESSION, "/docs/a", VISITOR)
    client = _client(middleware)
    moved = {"pv": token, "path": "/docs/a", "nav": "/docs/caf%C3%A9%20b"}
    answer = client.post("/_consent/beacon", json=moved)
    assert 200 == answer.status_code
    [view] = _queued(middleware)
    assert isinstance(view, PageRequest)
    assert ("/docs/café b", VISITOR) == (view.path, view.visitor_id)
    report = _engagement(answer.json()["pv"], path="/docs/caf%C3%A9%20b")
    assert 204 == client.post("/_consent/beacon", json=report).status_code


def test_navigation_is_limited_per_session(make_app: MakeApp) -> None:
    """After a burst of 30 views a session gets 429 with Retry-After; another session
    is not affected."""
    middleware = make_app()
    # the clock stands still: a slow machine's seconds would refill the session's bucket
    middleware.routes._beacon.clock = lambda: 1000.0  # type: ignore[method-assign]
    tokens = middleware.core.pageviews
    _, token = tokens.issue(SESSION, "/", VISITOR)
    client = _client(middleware)
    statuses = [
        client.post(
            "/_consent/beacon", json={"pv": token, "path": "/", "nav": f"/p{i}"}
        ).status_code
        for i in range(31)
    ]
    assert [200] * 30 + [429] == statuses
    limited = client.post("/_consent/beacon", json={"pv": token, "path": "/", "nav": "/x"})
    assert "too many page views" in json_error(limited)
    assert int(limited.headers["retry-after"]) >= 1
    other = TestClient(
        middleware,
        headers={
            "cookie": f"{consent_cookie(middleware, [ANALYTICS])}; cl_sid=othersessionothersessi"
        },
    )
    _, other_token = tokens.issue("othersessionothersessi", "/", VISITOR)
    moved = {"pv": other_token, "path": "/", "nav": "/y"}
    assert 200 == other.post("/_consent/beacon", json=moved).status_code


def test_the_navigation_limit_remembers_a_bounded_number_of_sessions(make_app: MakeApp) -> None:
    """However many sessions navigate, the limiter keeps at most NAV_SESSIONS of them."""
    middleware = make_app()
    beacon = middleware.routes._beacon
    beacon.navigations.max_keys = 5
    for i in range(20):
        beacon.navigations.take(f"session-{i}", beacon.clock())
    assert 5 == len(beacon.navigations)


def test_bad_paths_are_a_400_naming_the_field(make_app: MakeApp) -> None:
    """Lone surrogates and control characters (raw or %-encoded) in 'path' or 'nav' are
    refused with a 400 that names the field, never a 500."""
    middleware = make_app()
    _, token = middleware.core.pageviews.issue(SESSION, "/docs/a", VISITOR)
    client = _client(middleware)
    cases = [
        ({"pv": token, "path": "/\ud800", "engaged_ms": 1, "scroll_pct": 1}, "'path'"),
        ({"pv": token, "path": "/a%00b", "engaged_ms": 1, "scroll_pct": 1}, "'path'"),
        ({"pv": token, "path": "/docs/a", "nav": "/\udfff"}, "'nav'"),
        ({"pv": token, "path": "/docs/a", "nav": "/x\x1b[31m"}, "'nav'"),
        ({"pv": token, "path": "/docs/a", "nav": "docs"}, "'nav'"),
    ]
    for body, field in cases:
        data = json.dumps(body).encode()  # \ud800 as a JSON escape, as a browser would send
        response = client.post(
            "/_consent/beacon", content=data, headers={"content-type": "application/json"}
        )
        assert 400 == response.status_code, body
        assert field in json_error(response)
    assert [] == _queued(middleware)


_ANY_TEXT = st.text(
    st.one_of(st.characters(), st.integers(0xD800, 0xDFFF).map(chr), st.integers(0, 0x9F).map(chr)),
    max_size=30,
)
_FIELDS = st.dictionaries(
    st.sampled_from(["pv", "path", "nav", "engaged_ms", "scroll_pct", "useful", "x"]),
    st.one_of(_ANY_TEXT, st.integers(-5, 10**6), st.booleans(), st.none()),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(fields=_FIELDS, with_token=st.booleans())
def test_hostile_beacon_bodies_are_answered_without_a_server_error(
    make_app: MakeApp, fields: dict[str, Any], with_token: bool
) -> None:
    """Any JSON object (arbitrary unicode, lone surrogates included) is answered 2xx or
    4xx, and whatever is queued holds only safe strings."""
    middleware = make_app()
    if with_token:
        fields["pv"] = middleware.core.pageviews.issue(SESSION, "/", VISITOR)[1]
        fields.setdefault("path", "/")
    response = _client(middleware).post(
        "/_consent/beacon",
        content=json.dumps(fields).encode(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code < 500
    for event in _queued(middleware):
        assert all(
            not re.search("[\x00-\x1f\ud800-\udfff]", v) for v in event if isinstance(v, str)
        )


def test_a_page_with_encoded_characters_gets_its_engagement_stored(
    make_stored_app: MakeApp,
) -> None:
    """/café docs, served as /caf%C3%A9%20docs and reported by the page with that encoded
    path: its engagement row is stored and joins its page view."""
    middleware = make_stored_app()
    client = TestClient(middleware)
    client.cookies.set(*consent_cookie(middleware, [ANALYTICS]).split("=", 1))
    page = client.get("/docs/caf%C3%A9%20docs")
    [token] = re.findall(r'data-pv="([^"]+)"', page.text)
    report = _engagement(token, path="/docs/caf%C3%A9%20docs", useful=True)
    assert 204 == client.post("/_consent/beacon", json=report).status_code
    found = rows(
        middleware,
        "SELECT e.path AS path, e.useful AS useful, e.visitor_id = p.visitor_id AS same,"
        " e.visitor_id != '' AS known FROM {db}.engagements AS e"
        " INNER JOIN {db}.page_requests AS p ON p.pageview_id = e.pageview_id",
    )
    assert [{"path": "/docs/café docs", "useful": True, "same": 1, "known": 1}] == found
