"""The middleware on the wire: cookies, banner injection and pass-through."""

from __future__ import annotations

import gzip

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from consentlog.consent.decision import ConsentCodec
from consentlog.texts import shipped
from tests.helpers import SECRET, MakeApp, set_cookies


def test_first_visit_sets_no_cookie_and_shows_banner(client: TestClient) -> None:
    """Before any decision the server sets no cookie at all and the banner is visible."""
    response = client.get("/", headers={"cookie": ""})
    assert response.status_code == 200
    assert response.headers.get_list("set-cookie") == []
    assert 'id="cl-banner"' in response.text
    assert 'data-decided="0"' in response.text
    assert "data-pv=" not in response.text  # no page-view token: nothing may be measured
    assert 'id="cl-pv" data-check="' in response.text  # only whether the script runs


def test_host_cookies_of_unaccepted_categories_are_removed(client: TestClient) -> None:
    """A host-app `_ga`/`_fbp` cookie never reaches an undecided visitor; others pass."""
    response = client.get("/?set=1")
    assert list(set_cookies(response)) == ["theme"]


def test_banner_injection_fixes_content_length(client: TestClient) -> None:
    """The injected body and its Content-Length agree."""
    response = client.get("/")
    assert len(response.content) == int(response.headers["content-length"])
    assert response.text.endswith(" hidden></i></body></html>")  # banner, check token


def test_accept_sets_consent_visitor_and_session_cookies(client: TestClient) -> None:
    """Accept: a signed consent cookie plus visitor and session ids, all HttpOnly."""
    response = client.post("/_consent", json={"action": "accept_all"})
    cookies = set_cookies(response)
    assert {"cl_consent", "cl_vid", "cl_sid"} == set(cookies)
    assert "HttpOnly" in cookies["cl_vid"]
    assert "HttpOnly" in cookies["cl_sid"]
    assert "Max-Age=34128000" in cookies["cl_vid"]  # 395 days
    assert "Max-Age=1800" in cookies["cl_sid"]
    assert "SameSite=Lax" in cookies["cl_consent"]
    assert "HttpOnly" in cookies["cl_consent"]  # the banner reads its state from the page
    page = client.get("/?set=1")
    assert " hidden>" in page.text
    again = set_cookies(page)
    assert "cl_vid" not in again, "the visitor id is never extended"
    assert {"_ga", "_fbp", "theme", "cl_sid"} == set(again)


def test_decline_sets_only_the_consent_cookie(client: TestClient) -> None:
    """Decline: exactly one cookie, and host analytics cookies stay blocked."""
    response = client.post("/_consent", json={"action": "reject_all"})
    assert list(set_cookies(response)) == ["cl_consent"]
    page = client.get("/?set=1")
    assert list(set_cookies(page)) == ["theme"]


def test_decline_expires_stale_traffic_cookies(client: TestClient) -> None:
    """Traffic-log cookies left from an earlier consent are expired on decline."""
    client.post("/_consent", json={"action": "accept_all"})
    client.cookies.set("_ga", "GA1.1.1", domain="testserver.local")
    response = client.post("/_consent", json={"action": "reject_all"})
    cookies = set_cookies(response)
    for name in ("cl_vid", "cl_sid", "_ga"):
        assert "Max-Age=0" in cookies[name]
    assert "Max-Age=15724800" in cookies["cl_consent"]


def test_withdraw_by_delete_and_by_post(client: TestClient) -> None:
    """DELETE /_consent and POST /_consent/withdraw both expire traffic-log cookies."""
    client.post("/_consent", json={"action": "accept_all"})
    deleted = client.delete("/_consent")
    assert deleted.status_code == 200
    assert {"analytics": deleted.json()["categories"]["analytics"]} == {"analytics": False}
    assert "Max-Age=0" in set_cookies(deleted)["cl_vid"]
    client.post("/_consent", json={"action": "accept_all"})
    posted = client.post("/_consent/withdraw", data={"next": "/docs/a"}, follow_redirects=False)
    assert posted.status_code == 303
    assert posted.headers["location"] == "/docs/a"
    assert "Max-Age=0" in set_cookies(posted)["cl_sid"]


def test_tampered_cookie_counts_as_no_decision(client: TestClient) -> None:
    """A consent cookie with a bad signature: banner again, traffic cookies expired."""
    client.post("/_consent", json={"action": "accept_all"})
    value = client.cookies["cl_consent"]
    tampered = value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB")
    client.cookies.set("cl_consent", tampered, domain="testserver.local")
    page = client.get("/")
    cookies = set_cookies(page)
    assert "Max-Age=0" in cookies["cl_vid"]
    assert "Max-Age=0" in cookies["cl_sid"]
    assert "Max-Age=0" in cookies["cl_consent"]
    assert 'data-decided="0"' in page.text


def test_cookie_from_an_unknown_key_counts_as_no_decision(make_app: MakeApp) -> None:
    """A cookie signed with a key the site does not hold is no decision."""
    client = TestClient(make_app())
    foreign = ConsentCodec(["another-key"], policy_revision=1, max_age=3600)
    client.cookies.set("cl_consent", foreign.dumps(foreign.new_decision(["analytics"], "banner")))
    assert 'data-decided="0"' in client.get("/").text


def test_key_rotation_keeps_old_decisions(make_app: MakeApp) -> None:
    """After adding a new key (newest last), cookies signed with the old key still count."""
    old = TestClient(make_app(secret_keys=[SECRET]))
    old.post("/_consent", json={"action": "accept_all"})
    rotated = TestClient(make_app(secret_keys=[SECRET, "new-key-of-this-site-long-enough-0123"]))
    rotated.cookies = old.cookies
    assert True is rotated.get("/_consent").json()["decided"]


def test_policy_revision_bump_shows_notice(make_app: MakeApp) -> None:
    """Decisions under an older policy revision are stale: banner plus 'policy changed'."""
    first = TestClient(make_app(policy_revision=1))
    first.post("/_consent", json={"action": "accept_all"})
    second = TestClient(make_app(policy_revision=2))
    second.cookies = first.cookies
    page = second.get("/")
    assert 'class="cl-notice"' in page.text
    assert 'data-decided="0"' in page.text
    assert "Max-Age=0" in set_cookies(page)["cl_vid"]
    state = second.get("/_consent").json()
    assert (state["decided"], state["policy_changed"]) == (False, True)


def test_gpc_is_a_refusal_without_banner(client: TestClient) -> None:
    """Sec-GPC: 1 → a remembered refusal (source gpc), banner hidden, no traffic cookie."""
    page = client.get("/?set=1", headers={"sec-gpc": "1"})
    cookies = set_cookies(page)
    assert {"cl_consent", "theme"} == set(cookies)
    # decided: no banner in the page, only the script, which carries the decision
    assert 'id="cl-banner"' not in page.text
    assert 'data-decided="1" data-accepted=""' in page.text
    state = client.get("/_consent", headers={"sec-gpc": "1"}).json()
    assert (state["source"], state["categories"]["analytics"]) == ("gpc", False)


def test_explicit_opt_in_beats_gpc(client: TestClient) -> None:
    """A later explicit Accept wins over the GPC signal."""
    client.get("/", headers={"sec-gpc": "1"})
    client.post("/_consent", json={"action": "accept_all"}, headers={"sec-gpc": "1"})
    page = client.get("/", headers={"sec-gpc": "1"})
    assert "cl_sid" in set_cookies(page)


def test_dnt_is_honoured_only_when_configured(make_app: MakeApp) -> None:
    """DNT: 1 is ignored by default and a refusal with honor_dnt=True."""
    default = TestClient(make_app()).get("/", headers={"dnt": "1"})
    assert 'data-decided="0"' in default.text
    honoured = TestClient(make_app(honor_dnt=True)).get("/", headers={"dnt": "1"})
    assert 'data-decided="1"' in honoured.text


def test_https_cookies_are_secure(make_app: MakeApp) -> None:
    """Over https every consentlog cookie carries Secure."""
    client = TestClient(make_app(), base_url="https://testserver")
    cookies = set_cookies(client.post("/_consent", json={"action": "accept_all"}))
    assert all("Secure" in v for v in cookies.values())


def test_trusted_proxy_decides_scheme(make_app: MakeApp) -> None:
    """Behind one trusted proxy, X-Forwarded-Proto: https makes cookies Secure."""
    client = TestClient(make_app(trusted_proxy_hops=1))
    response = client.post(
        "/_consent",
        json={"action": "reject_all"},
        headers={"x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.9"},
    )
    assert "Secure" in set_cookies(response)["cl_consent"]


def test_non_html_responses_are_untouched(client: TestClient) -> None:
    """Text responses get no banner and no consent cookies."""
    response = client.get("/api/text")
    assert response.text == "ok"
    assert response.headers.get_list("set-cookie") == []


def _streaming_app() -> Starlette:
    async def stream(request: Request) -> Response:
        async def chunks():  # type: ignore[no-untyped-def]
            yield b"<html><body><p>one</p>"
            yield b"<p>two</p></body></html>"

        return StreamingResponse(chunks(), media_type="text/html")

    async def compressed(request: Request) -> Response:
        body = gzip.compress(b"<html><body>zipped</body></html>")
        return Response(body, media_type="text/html", headers={"content-encoding": "gzip"})

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    return Starlette(
        routes=[Route("/stream", stream), Route("/gz", compressed), WebSocketRoute("/ws", ws)]
    )


def test_streaming_and_compressed_pages_are_left_alone(make_app: MakeApp) -> None:
    """A streamed or compressed HTML body is passed through byte for byte."""
    client = TestClient(make_app(_streaming_app()))
    streamed = client.get("/stream")
    assert streamed.text == "<html><body><p>one</p><p>two</p></body></html>"
    zipped = client.get("/gz")
    assert zipped.text == "<html><body>zipped</body></html>"


def test_websocket_and_lifespan_pass_through(make_stored_app: MakeApp) -> None:
    """WebSocket and lifespan scopes reach the host app; shutdown flushes the writer."""
    middleware = make_stored_app(_streaming_app())
    with TestClient(middleware) as client, client.websocket_connect("/ws") as socket:
        assert socket.receive_text() == "hello"
    assert middleware.writer._thread is None


def test_german_banner_for_german_visitors(client: TestClient) -> None:
    """The banner speaks the visitor's language when texts exist for it, and says so in
    its ``lang``."""
    page = client.get("/", headers={"accept-language": "de-AT,de;q=0.9,en;q=0.5"})
    assert "Akzeptieren" in page.text
    assert (
        'id="cl-banner" class="cl" role="dialog" aria-modal="false" lang="de" dir="ltr"'
        in page.text
    )


def test_arabic_banner_runs_right_to_left(client: TestClient) -> None:
    """A right-to-left language gets ``dir="rtl"`` and its words, the vote widget's too."""
    page = client.get("/", headers={"accept-language": "ar-EG"})
    assert 'lang="ar" dir="rtl"' in page.text
    vote = "\n".join(
        shipped()["ar"][k]
        for k in ("feedback_question", "feedback_yes", "feedback_no", "feedback_thanks")
    )
    assert f'data-vote="{vote}"' in page.text
    assert shipped()["ar"]["accept"] in page.text


def test_the_host_application_chooses_the_language(make_app: MakeApp) -> None:
    """``request.state.consent_language`` set by an outer middleware wins over the
    browser's Accept-Language (a region falling back), also for a returning visitor."""
    middleware = make_app()

    async def french(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/":
            scope.setdefault("state", {})["consent_language"] = "fr-CA"
        await middleware(scope, receive, send)

    client = TestClient(french, base_url="http://testserver")
    german = {"accept-language": "de"}
    assert 'lang="fr"' in client.get("/", headers=german).text
    client.post("/_consent", json={"action": "reject_all"})
    for _ in range(2):  # the second from the returning visitor's remembered plan
        assert (
            f'data-vote="{shipped()["fr"]["feedback_question"]}'
            in client.get("/", headers=german).text
        )
        assert (
            f'data-vote="{shipped()["de"]["feedback_question"]}'
            in client.get("/docs/a", headers=german).text
        )
