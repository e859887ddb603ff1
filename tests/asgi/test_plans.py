"""A returning visitor's pages come from a remembered plan (``asgi/plans.py``): the same
answer as working it out, made only from what verified, and never past the decision.
And the page request queued raw (``PageSeen``) becomes the same row as before."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.consent.decision import ConsentCodec
from consentlog.consent.visit import Identifiers, Visit
from consentlog.ingest.events import PageSeen, page_request
from consentlog.testing import Answer, MemorySink, call, http_scope, visitor_cookies
from tests.helpers import HUMAN, MakeApp


def _page(app: ConsentMiddleware, cookie: str, **headers: str) -> Answer:
    sent = [(b"cookie", cookie.encode()), (b"user-agent", HUMAN.encode())]
    sent += [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return asyncio.run(call(app, http_scope("/docs/a", headers=sent)))


def _banner_tag(answer: Answer) -> bytes:
    start = answer.body.index(b'<div id="cl-banner"')
    return answer.body[start : answer.body.index(b">", start) + 1]


def _plans(app: ConsentMiddleware) -> int:
    return len(app.core.plans._cache)


def test_a_returning_visitor_gets_the_same_answer_from_the_plan(make_app: MakeApp) -> None:
    app = make_app()
    cookie = visitor_cookies(app)
    first = _page(app, cookie)
    assert 1 == _plans(app)  # remembered from the first page
    second = _page(app, cookie)
    assert first.header_values(b"set-cookie") == second.header_values(b"set-cookie")
    assert first.header_values(b"cache-control") == second.header_values(b"cache-control")
    sink = app.writer
    assert isinstance(sink, MemorySink)
    one, two = sink.pages
    assert (one.visitor_id, one.session_id) == (two.visitor_id, two.session_id) != ("", "")
    assert one.pageview_id != two.pageview_id  # a page view is still its own
    assert b'id="cl-pv"' in second.body


def test_the_banner_language_is_part_of_what_a_plan_is_for(make_app: MakeApp) -> None:
    app = make_app()  # English and German texts come with it
    cookie = visitor_cookies(app)
    english = _page(app, cookie, accept_language="en")
    german = _page(app, cookie, accept_language="de")
    assert 2 == _plans(app)
    assert english.body != german.body


def test_no_plan_from_what_did_not_verify_or_was_issued_now(make_app: MakeApp) -> None:
    """A stranger's junk, a decision taken now from GPC, a page that was issued new ids:
    none is remembered."""
    app = make_app()
    _page(app, "cl_consent=junk")
    _page(app, "other=1", sec_gpc="1")
    s = app.settings
    consent_only = visitor_cookies(app).split(f"; {s.visitor_cookie}=")[0]
    answer = _page(app, consent_only)  # accepted, but no ids yet: they are issued now
    assert any(v.startswith(s.visitor_cookie.encode()) for v in answer.header_values(b"set-cookie"))
    assert 0 == _plans(app)


def test_a_plan_lapses_with_its_decision(make_app: MakeApp) -> None:
    app = make_app()
    cookie = visitor_cookies(app)
    _page(app, cookie)
    assert 1 == _plans(app)
    now = [0.0]
    core = app.core
    max_age = app.settings.consent_max_age
    real = core.codec
    decision = real.loads(cookie.split(";")[0].partition("=")[2]).decision
    assert decision is not None
    now[0] = decision.decided_at + 1
    core.codec = ConsentCodec(
        app.settings.secret_keys,
        policy_revision=app.settings.policy_revision,
        max_age=max_age,
        clock=lambda: now[0],
    )
    before = _page(app, cookie)  # still the plan's decision: no banner
    now[0] = decision.decided_at + max_age + 1
    expired = _page(app, cookie)
    assert 0 == _plans(app)
    assert b'id="cl-banner"' not in before.body  # decided: only the script tag
    assert not _banner_tag(expired).endswith(b" hidden>")  # asked again
    sink = app.writer
    assert isinstance(sink, MemorySink)
    assert "unknown" == sink.pages[-1].consent_state  # no decision, once it has expired


_TEXT = st.text(alphabet=st.characters(codec="latin-1"), max_size=60)


@settings(max_examples=150, deadline=None)
@given(
    referer=_TEXT,
    agent=_TEXT,
    language=_TEXT,
    host=_TEXT,
    forwarded=_TEXT,
    query=_TEXT,
    path=st.text(max_size=40),
    state=st.sampled_from(["granted", "denied", "unknown"]),
    hops=st.integers(0, 2),
    forwarded_host=st.booleans(),
)
def test_a_page_queued_raw_becomes_the_row_it_was_made_into_before(
    referer: str,
    agent: str,
    language: str,
    host: str,
    forwarded: str,
    query: str,
    path: str,
    state: Any,
    hops: int,
    forwarded_host: bool,
) -> None:
    """``PageSeen.request`` (in the writer) and ``page_request`` (on the request path,
    as before) give the same ``PageRequest`` for any headers: the limits and the consent
    masking are the same code."""
    raw = [
        (b"referer", referer.encode("latin-1")),
        (b"user-agent", agent.encode("latin-1")),
        (b"accept-language", language.encode("latin-1")),
        (b"host", host.encode("latin-1")),
        (b"x-forwarded-for", forwarded.encode("latin-1")),
        (b"x-forwarded-host", forwarded.encode("latin-1")),
        (b"x-forwarded-proto", b"https"),
    ]
    scope = http_scope("/p", headers=raw)
    headers = dict(raw)
    from consentlog.settings import Settings

    options = Settings(
        secret_keys=["k" * 40], trusted_proxy_hops=hops, trust_forwarded_host=forwarded_host
    )
    codec = ConsentCodec(options.secret_keys, policy_revision=1, max_age=60)
    visit = Visit.read(scope, headers, options, codec)
    ids = Identifiers("v" * 45, "s" * 45)
    before = page_request(
        visit, ids, consent_state=state, ts=1.0, pageview_id="p" * 32, path=path,
        route="/r", method="GET", status=200, response_bytes=10, duration_ms=1.5,
        query=query,
    )  # fmt: skip
    granted = state == "granted"
    seen = PageSeen(
        1.0, "p" * 32, headers[b"host"], headers[b"referer"], headers[b"user-agent"],
        headers[b"accept-language"], headers[b"x-forwarded-for"], b"https",
        headers[b"x-forwarded-host"], "http", "203.0.113.7",
        None if headers[b"host"] else ("testserver", 80), path,
        "/r", "GET",
        200, 10, 1.5, query.encode("latin-1"), state, ids.visitor_id if granted else "",
        ids.session_id if granted else "", hops, forwarded_host, b"", True,
    )  # fmt: skip
    assert before == seen.request()
