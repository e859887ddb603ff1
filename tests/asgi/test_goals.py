"""Goals: a server goal is a request the site answers as a rule names (no script, no
identifier needed; ids only with consent); a client goal or custom event comes through
the beacon of a consented visitor, every field checked, at most a few per page view."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from consentlog.asgi.beacon import GOAL_BURST
from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.exceptions import ConfigError
from consentlog.ingest.events import Goal
from consentlog.settings import ANALYTICS, Settings, goal_rule
from consentlog.testing import MemorySink, consent_cookie
from tests.asgi.support import json_error
from tests.helpers import BROWSER, HUMAN, MakeApp, rows

SESSION = "sessionsessionsessionA"
VISITOR = "visitorvisitorvisitorA"
RULES = ("signup=POST /signup 303", "download=GET /files/** 2xx", "docs=GET /docs/{slug}")


async def _signup(request: Request) -> Response:
    return RedirectResponse("/thanks", status_code=303)


async def _page(request: Request) -> Response:
    return HTMLResponse("<html><body><h1>page</h1></body></html>")


async def _file(request: Request) -> Response:
    return Response(b"%PDF-1.7", media_type="application/pdf")


def site() -> Starlette:
    return Starlette(
        routes=[
            Route("/signup", _signup, methods=["POST"]),
            Route("/docs/{slug}", _page),
            Route("/files/{name:path}", _file),
            Route("/pricing", _page),
        ]
    )


def _goals(middleware: ConsentMiddleware) -> list[Goal]:
    sink = middleware.writer
    assert isinstance(sink, MemorySink)
    return [e for e in sink.events if isinstance(e, Goal)]


@pytest.mark.parametrize(
    ("rule", "method", "path", "status", "reached"),
    [
        ("signup=POST /signup 303", "POST", "/signup", 303, True),
        ("signup=POST /signup 303", "POST", "/signup", 200, False),
        ("signup=POST /signup 303", "GET", "/signup", 303, False),
        ("signup=post /signup", "POST", "/signup", 303, True),  # 2xx or 303 by default
        ("signup=post /signup", "POST", "/signup", 302, False),
        ("x=GET /files/** 2xx", "GET", "/files/a.pdf", 206, False),  # a part of a download
        ("x=GET /files/**", "GET", "/files/a.pdf", 304, False),  # a revalidation
        ("x=GET /files/** 206", "GET", "/files/a.pdf", 206, True),  # unless named
        ("x=GET /files/**", "GET", "/files/a\nb", 200, True),  # ** is anything
        ("signup=POST /signup", "POST", "/signup", 400, False),
        ("x=GET /files/** 2xx", "GET", "/files/a/b.pdf", 200, True),
        ("x=GET /files/* 2xx", "GET", "/files/a/b.pdf", 200, False),
        ("x=GET /docs/{slug}", "GET", "/docs/", 200, False),
        ("x=GET /a.b", "GET", "/aXb", 200, False),  # a dot is a dot
    ],
)
def test_a_rule_names_method_path_and_status(
    rule: str, method: str, path: str, status: int, reached: bool
) -> None:
    assert reached is goal_rule(rule).matches(method, path, status)


@pytest.mark.parametrize(
    "item",
    ["signup", "=POST /signup", "signup=POST signup", "signup=POST /signup 3x",
     "sign\nup=POST /a", "signup=P0ST /a", "x=GET /a 200 extra",
     "x=GET /dl/{name}-{version}.tar.gz", "x=GET /**/a", "x=GET /a*b*c",
     "x=POST /_consent 200", "x=GET /_consent/settings"],
)  # fmt: skip
def test_a_rule_that_is_not_one_is_refused_naming_it(item: str) -> None:
    with pytest.raises(ConfigError, match="goals"):
        Settings(goals=(item,))


def test_server_goals_without_consent_carry_no_identifier(make_app: MakeApp) -> None:
    middleware = make_app(site(), goals=RULES)
    client = TestClient(middleware, headers={"user-agent": HUMAN})
    assert 303 == client.post("/signup", follow_redirects=False).status_code
    assert 200 == client.get("/files/guide.pdf").status_code
    client.get("/docs/a")
    client.get("/pricing")  # no rule
    goals = _goals(middleware)
    assert [("signup", "POST", "/signup", 303), ("download", "GET", "/files/guide.pdf", 200),
            ("docs", "GET", "/docs/a", 200)] == [
        (g.name, g.method, g.path, g.status) for g in goals
    ]  # fmt: skip
    assert {("server", "unknown", "", "")} == {
        (g.kind, g.consent_state, g.visitor_id, g.session_id) for g in goals
    }


def test_one_answer_reaches_a_goal_once_and_excluded_paths_none(make_app: MakeApp) -> None:
    rules = ("docs=GET /docs/{slug}", "docs=GET /docs/*", "health=GET /healthz")
    middleware = make_app(site(), goals=rules)
    client = TestClient(middleware, headers={"user-agent": HUMAN})
    client.get("/docs/a")
    client.get("/healthz")  # excluded from logging: no goal either
    assert ["docs"] == [g.name for g in _goals(middleware)]


def test_a_goal_rule_takes_one_pass_over_a_long_path() -> None:
    """One wildcard a segment, ** only at the end: no hostile path makes a match slow."""
    import time

    rule = goal_rule("x=GET /dl/{name}.tar.gz")
    started = time.perf_counter()
    for path in ("/dl/" + "a-" * 1000, "/dl/" + "a" * 2040, "/dl/x/" * 300):
        rule.matches("GET", path, 200)
    assert time.perf_counter() - started < 0.05
    assert not rule.matches("GET", "/dl/" + "a" * 5000 + ".tar.gz", 200)  # past the limit


def test_server_goals_of_a_consented_visitor_carry_its_session(make_app: MakeApp) -> None:
    middleware = make_app(site(), goals=RULES)
    client = TestClient(middleware)
    client.post("/_consent", json={"action": "accept_all"})
    client.get("/pricing")
    client.post("/signup", follow_redirects=False)
    [goal] = _goals(middleware)
    assert "granted" == goal.consent_state
    assert goal.session_id == client.cookies["cl_sid"]
    assert goal.visitor_id == client.cookies["cl_vid"]


def test_a_forged_session_cookie_is_no_session(make_app: MakeApp) -> None:
    middleware = make_app(site(), goals=RULES)
    cookie = consent_cookie(middleware, [ANALYTICS])
    client = TestClient(middleware, headers={"cookie": f"{cookie}; cl_sid=forged; cl_vid=x"})
    client.post("/signup", follow_redirects=False)
    [goal] = _goals(middleware)
    assert ("granted", "", "") == (goal.consent_state, goal.visitor_id, goal.session_id)


def test_goals_are_stored(make_stored_app: MakeApp) -> None:
    """Server goals are stored with ids only with consent; one whose request lacked a
    browser's headers is a bot's, as a page would be (``bots.py``)."""
    middleware = make_stored_app(site(), goals=RULES)
    client = TestClient(middleware, headers=BROWSER)
    client.post("/signup", follow_redirects=False)
    client.post("/_consent", json={"action": "accept_all"})
    client.post("/signup", follow_redirects=False)
    TestClient(middleware, headers={"user-agent": HUMAN}).post("/signup", follow_redirects=False)
    found = rows(
        middleware,
        "SELECT name, kind, path, method, status, consent_state, visitor_id != '' AS has_id,"
        " is_bot, browser FROM {db}.goals ORDER BY ts",
    )
    assert [
        ("signup", "server", "/signup", "POST", 303, "unknown", False, False, "Chrome"),
        ("signup", "server", "/signup", "POST", 303, "granted", True, False, "Chrome"),
        ("signup", "server", "/signup", "POST", 303, "unknown", False, True, "Chrome"),
    ] == [tuple(r.values()) for r in found]


# -- client goals, through the beacon ------------------------------------------------------


def _client(middleware: ConsentMiddleware) -> TestClient:
    cookie = consent_cookie(middleware, [ANALYTICS])
    headers = {"cookie": f"{cookie}; cl_sid={SESSION}; cl_vid={VISITOR}", "user-agent": HUMAN}
    return TestClient(middleware, headers=headers)


def _goal_body(token: str, **fields: Any) -> dict[str, Any]:
    return {"pv": token, "path": "/pricing", "goal": "signup", **fields}


def test_a_client_goal_is_queued_with_the_tokens_page_view(make_app: MakeApp) -> None:
    middleware = make_app()
    pageview_id, token = middleware.core.pageviews.issue(SESSION, "/pricing", VISITOR)
    client = _client(middleware)
    body = _goal_body(token, props={"plan": "pro", "seats": 3, "annual": True})
    assert 204 == client.post("/_consent/beacon", json=body).status_code
    [goal] = _goals(middleware)
    assert (
        "signup", "client", "/pricing", pageview_id, VISITOR, SESSION, "granted",
        (("annual", "true"), ("plan", "pro"), ("seats", "3")),
    ) == (goal.name, goal.kind, goal.path, goal.pageview_id, goal.visitor_id, goal.session_id,
          goal.consent_state, goal.props)  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"goal": ""}, "'goal' must be"),
        ({"goal": "x" * 65}, "'goal' must be"),
        ({"goal": "sign\nup"}, "'goal' must be"),
        ({"goal": "signup "}, "'goal' must be"),
        ({"goal": 3}, "'goal' must be"),
        ({"props": []}, "'props' must be an object"),
        ({"props": {f"p{i}": "v" for i in range(11)}}, "at most 10"),
        ({"props": {"Plan": "x"}}, "names are"),
        ({"props": {"plan": "x" * 201}}, "at most 200"),
        ({"props": {"plan": "a\x00"}}, "printable"),
        ({"props": {"plan": None}}, "a number or a boolean"),
        ({"props": {"plan": {"a": 1}}}, "a number or a boolean"),
        ({"props": {"plan": 10**400}}, "a number or a boolean"),
        ({"extra": 1}, "unknown field 'extra'"),
    ],
)
def test_a_bad_goal_is_a_400_naming_the_problem(
    make_app: MakeApp, fields: dict[str, Any], problem: str
) -> None:
    middleware = make_app()
    _, token = middleware.core.pageviews.issue(SESSION, "/pricing", VISITOR)
    response = _client(middleware).post("/_consent/beacon", json=_goal_body(token, **fields))
    assert 400 == response.status_code
    assert problem in json_error(response)
    assert [] == _goals(middleware)


def test_goals_need_consent_and_a_current_page_view(make_app: MakeApp) -> None:
    middleware = make_app()
    _, token = middleware.core.pageviews.issue(SESSION, "/pricing", VISITOR)
    anonymous = TestClient(middleware, headers={"cookie": f"cl_sid={SESSION}"})
    assert 403 == anonymous.post("/_consent/beacon", json=_goal_body(token)).status_code
    other_page = _goal_body(token, path="/docs")
    assert 403 == _client(middleware).post("/_consent/beacon", json=other_page).status_code
    assert [] == _goals(middleware)


def test_goals_per_page_view_are_limited(make_app: MakeApp) -> None:
    middleware = make_app()
    middleware.routes._beacon.clock = lambda: 1000.0  # type: ignore[method-assign]
    _, token = middleware.core.pageviews.issue(SESSION, "/pricing", VISITOR)
    client = _client(middleware)
    answers = [client.post("/_consent/beacon", json=_goal_body(token)).status_code
               for _ in range(GOAL_BURST + 1)]  # fmt: skip
    assert [204] * GOAL_BURST + [429] == answers
    assert GOAL_BURST == len(_goals(middleware))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=10**300)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=12,
)  # fmt: skip


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(goal=_JSON, props=_JSON)
def test_any_goal_body_is_204_or_a_4xx(make_app: MakeApp, goal: Any, props: Any) -> None:
    middleware = make_app()
    _, token = middleware.core.pageviews.issue(SESSION, "/pricing", VISITOR)
    body = _goal_body(token, goal=goal, props=props)
    response = _client(middleware).post("/_consent/beacon", json=body)
    assert response.status_code in (204, 400, 413), response.text
    if response.status_code == 204:
        [stored] = _goals(middleware)
        assert all(isinstance(v, str) for pair in stored.props for v in pair)


def test_goals_per_session_are_limited_whatever_page_views_they_name(make_app: MakeApp) -> None:
    from consentlog.asgi.beacon import SESSION_GOAL_BURST

    middleware = make_app()
    # the clock stands still: a slow machine's seconds would refill the session's bucket
    middleware.routes._beacon.clock = lambda: 1000.0  # type: ignore[method-assign]
    client = _client(middleware)
    answers = []
    for _ in range(SESSION_GOAL_BURST + 1):  # a new page view each time
        _, token = middleware.core.pageviews.issue(SESSION, "/pricing", VISITOR)
        answers.append(client.post("/_consent/beacon", json=_goal_body(token)).status_code)
    assert [204] * SESSION_GOAL_BURST + [429] == answers


def test_a_bad_goal_in_a_batch_costs_only_itself() -> None:
    """A goal the table refuses (a damaged spool file's) is found by halving; the goals
    around it, with their properties, are written."""
    from consentlog.ingest.enrich import Enricher
    from consentlog.ingest.spool import Batch

    good = [
        Goal(1.0, "signup", "client", "example.org", "/p", "0" * 32, "", 0, "granted", "v", "s",
             HUMAN, (("plan", f"p{i}"),))
        for i in range(10)
    ]  # fmt: skip
    bad = good[0]._replace(props=(("plan", 3),))  # type: ignore[arg-type]
    rows = Enricher().tables(Batch("t", goals=[*good[:5], bad, *good[5:]]))
    assert 1 == rows.rejected
    table = rows.tables["goals"]
    assert [f"p{i}" for i in range(10)] == [
        dict(m)["plan"] for m in table.column("props").to_pylist()
    ]
