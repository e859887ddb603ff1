"""Property tests: no input makes the middleware fail, and host responses stay the host's.

Requests are raw ASGI calls (scope dicts built here, messages collected), so headers can
carry any bytes; the inputs come from ``tests/asgi/strategies.py``. One ConsentMiddleware
serves all examples of a test; after the run its writer must have stored every queued
event without a failure.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Iterator
from html import escape
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.types import Message, Receive, Scope, Send

from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.consent.decision import ConsentCodec
from tests.asgi.strategies import (
    CONSENT_PATHS,
    chunked,
    decision_requests,
    header_bytes,
    header_lists,
    kinds,
    lengths,
    methods,
    paths,
    queries,
)
from tests.helpers import SECRET, MakeApp

FUZZ = settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CONSENT_STATUSES = {200, 303, 304, 400, 403, 404, 405, 413, 415}
BANNER = re.compile(
    rb'<link rel="stylesheet" href="/_consent/banner\.css\?v=[0-9a-f]+">'
    # the banner (undecided), or the script tag carrying a decided visitor's decision
    rb'(.*</div>|<script src="/_consent/banner\.js\?v=[0-9a-f]+" defer data-decided="1"'
    rb' data-accepted="[a-z ]*" data-vote="[^"<>]+"></script>)'
    # a page-view token: id, MAC, and the visitor id it names (url-safe, as minted) …
    rb'(<i id="cl-pv" (data-pv="[0-9a-f]{32}\.[0-9a-f]{32}(\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)?"'
    # or, without consent, the check token the script sends back (id, MAC)
    rb'|data-check="[0-9a-f]{32}\.[0-9a-f]{32}") hidden></i>)?',
    re.S,
)
HOST_ERRORS: list[BaseException] = []

# -- the host application -----------------------------------------------------------------


async def echo_host(scope: Scope, receive: Receive, send: Send) -> None:
    """A host app whose answer depends on the whole request: method, path, query,
    headers and body. HTML or text as ``scope["fuzz.kind"]`` says; it sets one
    functional and one analytics cookie. Any exception from ``send`` is recorded."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    digest = hashlib.sha256(body).hexdigest()[:16]
    echo = (
        f"{scope['method']} {scope['path']} {scope['query_string']!r} {scope['headers']!r} {digest}"
    )
    if scope.get("fuzz.kind") == "html":
        payload = f"<!doctype html><html><body><pre>{escape(echo)}</pre></body></html>".encode()
        content_type = b"text/html; charset=utf-8"
    else:
        payload = echo.encode("utf-8", "backslashreplace")
        content_type = b"text/plain; charset=utf-8"
    try:
        await send(
            {
                "type": "http.response.start",
                "status": 200 if scope["path"] != "/teapot" else 418,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(payload)).encode()),
                    (b"x-host", b"echo"),
                    (b"set-cookie", b"theme=dark; Path=/"),
                    (b"set-cookie", b"_ga=GA1.1.1; Path=/"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
    except BaseException as exc:  # the property: nothing the middleware does raises here
        HOST_ERRORS.append(exc)
        raise


# -- raw ASGI calls -----------------------------------------------------------------------


def make_scope(
    method: str = "GET",
    path: str = "/",
    query: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
    kind: str = "html",
) -> dict[str, Any]:
    """An HTTP scope as an ASGI server builds it."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8"),
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"testserver"), *(headers or [])],
        "client": ("198.51.100.7", 50000),
        "server": ("testserver", 80),
        "fuzz.kind": kind,
    }


class Answer:
    """The response of one raw ASGI call."""

    def __init__(self, messages: list[Message]) -> None:
        start = messages[0]
        assert "http.response.start" == start["type"]
        self.status: int = start["status"]
        self.headers: list[tuple[bytes, bytes]] = list(start.get("headers", []))
        self.body = b"".join(m.get("body", b"") for m in messages[1:])
        assert not messages[-1].get("more_body", False)

    def get(self, name: bytes) -> list[bytes]:
        return [v for k, v in self.headers if k.lower() == name]

    def cookies(self) -> dict[str, bytes]:
        return {v.split(b"=", 1)[0].decode("latin-1"): v for v in self.get(b"set-cookie")}


def call(app: Any, scope: dict[str, Any], chunks: list[bytes] | None = None) -> Answer:
    """Run one request through ``app``; the body arrives in ``chunks``."""
    parts = chunks if chunks else [b""]
    pending = [
        {"type": "http.request", "body": chunk, "more_body": i < len(parts) - 1}
        for i, chunk in enumerate(parts)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    HOST_ERRORS.clear()
    asyncio.run(app(dict(scope), receive, send))
    assert [] == HOST_ERRORS
    return Answer(sent)


def is_consent_route(path: str) -> bool:
    return path == "/_consent" or path.startswith("/_consent/") or path == "/.well-known/gpc.json"


def check_host_unchanged(
    app: ConsentMiddleware, scope: dict[str, Any], chunks: list[bytes]
) -> Answer:
    """The middleware's answer is the host's, but for cookies and the banner in HTML, and
    — as its ``_ga`` cookie depends on the visitor's consent — private to the browser."""
    through = call(app, scope, chunks)
    direct = call(echo_host, scope, chunks)
    assert direct.status == through.status
    other = {b"set-cookie", b"content-length", b"cache-control", b"vary"}
    assert [h for h in direct.headers if h[0] not in other] == [
        h for h in through.headers if h[0] not in other
    ]
    assert ([b"private"], [b"Cookie"]) == (through.get(b"cache-control"), through.get(b"vary"))
    assert [str(len(through.body)).encode()] == through.get(b"content-length")
    if through.body != direct.body:
        assert scope["fuzz.kind"] == "html"
        cut = direct.body.rfind(b"</body>")
        head, tail = direct.body[:cut], direct.body[cut:]
        assert through.body.startswith(head)
        assert through.body.endswith(tail)
        snippet = through.body[len(head) : len(through.body) - len(tail)]
        assert BANNER.fullmatch(snippet)
        # the banner itself, or the script that fetches it when a decided visitor asks
        assert b'id="cl-banner"' in snippet or b'data-decided="1"' in snippet
    return through


def check_consent_answer(answer: Answer) -> None:
    """A consent route answers with a known status; errors are JSON naming the problem
    and set no cookie; redirects go to a local, plain-ASCII path."""
    assert answer.status in CONSENT_STATUSES
    if answer.status >= 400:
        assert isinstance(json.loads(answer.body)["error"], str)
        assert [] == answer.get(b"set-cookie")
    if answer.status == 303:
        [location] = answer.get(b"location")
        assert location.startswith(b"/")
        assert not location.startswith((b"//", b"/\\"))
        assert all(0x21 <= byte < 0x7F for byte in location)


# -- fixtures -----------------------------------------------------------------------------


@pytest.fixture
def fuzz_app(make_stored_app: MakeApp) -> Iterator[ConsentMiddleware]:
    """One middleware for every example of a test, behind one trusted proxy, honouring
    DNT; afterwards every queued event must be stored."""
    # its pages echo the request, which may name Google's tags: the Consent Mode script
    # ("auto") would then open the head; tests/asgi/test_consent_mode.py covers that
    middleware = make_stored_app(
        echo_host, trusted_proxy_hops=1, honor_dnt=True, consent_mode="off"
    )
    # One stored page first: the writer thread's lazy imports (numpy, pyarrow) must not
    # race hypothesis' own look at numpy while it generates data.
    call(middleware, make_scope(headers=[(b"cookie", valid_cookie())]))
    assert middleware.writer.flush(timeout=30)
    yield middleware
    assert middleware.writer.flush(timeout=30), "the writer could not store fuzzed events"
    assert 0 == middleware.writer.counters.failures, middleware.writer.counters
    assert 0 == getattr(middleware.writer.counters, "quarantined", 0), middleware.writer.counters


def valid_cookie(accepted: tuple[str, ...] = ("analytics", "marketing")) -> bytes:
    """A consent cookie the fuzz middleware accepts."""
    codec = ConsentCodec([SECRET], policy_revision=1, max_age=3600)
    return b"cl_consent=" + codec.dumps(codec.new_decision(accepted, "banner")).encode()


# -- properties ---------------------------------------------------------------------------


@FUZZ
@given(
    cookie=header_bytes,
    with_valid=st.sampled_from([None, "before", "after"]),
    path=st.sampled_from(["/", "/docs/a", "/_consent", "/_consent/banner.html"]),
    kind=kinds,
)
@example(cookie=b"cl_consent=\xff\xfe; cl_vid=\x80\x81", with_valid=None, path="/", kind="html")
@example(cookie=b"cl_consent=" + b"A" * 5000, with_valid=None, path="/_consent", kind="html")
@example(cookie=b'cl_consent="x.y.z"; ; =; ==; cl_sid', with_valid="after", path="/", kind="html")
def test_any_cookie_header(
    fuzz_app: ConsentMiddleware, cookie: bytes, with_valid: str | None, path: str, kind: str
) -> None:
    """Any Cookie header: no failure, the host's answer otherwise unchanged, and without
    a valid consent cookie no traffic-log identifier is ever set."""
    if with_valid == "before":
        cookie = valid_cookie() + b"; " + cookie
    elif with_valid == "after":
        cookie = cookie + b"; " + valid_cookie()
    scope = make_scope("GET", path, headers=[(b"cookie", cookie)], kind=kind)
    if is_consent_route(path):
        answer = call(fuzz_app, scope)
        check_consent_answer(answer)
    else:
        answer = check_host_unchanged(fuzz_app, scope, [])
    if with_valid is None:
        for name in ("cl_vid", "cl_sid"):
            assert b"Max-Age=0" in answer.cookies().get(name, b"Max-Age=0")


@FUZZ
@given(
    path=st.sampled_from(["/_consent", "/_consent", "/_consent/", "/_consent/withdraw"]),
    method=st.sampled_from(["POST", "POST", "DELETE"]),
    request=decision_requests(),
    data=st.data(),
    length=st.sampled_from(["right", "none", "wrong"]),
    origin=st.sampled_from([None, None, None, b"http://testserver", b"https://evil.example"]),
    consented=st.booleans(),
)
@example(
    path="/_consent", method="POST", request=(b"application/json", b'{"action": []}'),
    data=None, length="right", origin=None, consented=False,
)  # fmt: skip
@example(
    path="/_consent", method="POST", request=(b"application/json", b"[" * 8000),
    data=None, length="none", origin=None, consented=True,
)  # fmt: skip
@example(
    path="/_consent", method="POST",
    request=(b"application/x-www-form-urlencoded", b"action=reject_all&next=/docs/%E2%82%AC"),
    data=None, length="right", origin=None, consented=False,
)  # fmt: skip
@example(
    path="/_consent/withdraw", method="POST",
    request=(b"application/x-www-form-urlencoded", b"next=/%7F/%C2%85"),
    data=None, length="right", origin=None, consented=True,
)  # fmt: skip
@example(
    path="/_consent", method="POST", request=(b"application/json", b"{}"),
    data=None, length="wrong", origin=None, consented=False,
)  # fmt: skip
def test_any_decision_body(
    fuzz_app: ConsentMiddleware,
    path: str,
    method: str,
    request: tuple[bytes, bytes],
    data: Any,
    length: str,
    origin: bytes | None,
    consented: bool,
) -> None:
    """Any body and content type posted to the decision routes gets a known status, a
    JSON error for bad input, and a local redirect for forms."""
    content_type, body = request
    headers = [(b"content-type", content_type)]
    if length == "right":
        headers.append((b"content-length", str(len(body)).encode()))
    elif length == "wrong":
        headers.append((b"content-length", data.draw(lengths) if data else b"\xb2"))
    if origin is not None:
        headers.append((b"origin", origin))
    if consented:
        headers.append((b"cookie", valid_cookie()))
    chunks = data.draw(chunked(body)) if data else [body]
    answer = call(fuzz_app, make_scope(method, path, headers=headers), chunks)
    check_consent_answer(answer)
    if answer.status in {200, 303}:
        assert "cl_consent" in answer.cookies()


@FUZZ
@given(method=methods, path=paths, query=queries, kind=kinds, consented=st.booleans())
@example(method="GET", path="/docs/\u20ac", query=b"a=%E2%82%AC\xff", kind="html", consented=True)
@example(method="GET", path="/</body>", query=b"</body>", kind="html", consented=False)
@example(method="GET", path="/_consent/banner.html", query=b"next=/%E2%82%AC", kind="html",
         consented=False)  # fmt: skip
def test_any_path_and_query(
    fuzz_app: ConsentMiddleware, method: str, path: str, query: bytes, kind: str, consented: bool
) -> None:
    """Any method, path and query: consent routes answer with a known status, every other
    path gets the host's own answer."""
    headers = [(b"cookie", valid_cookie())] if consented else []
    scope = make_scope(method, path, query, headers, kind)
    if is_consent_route(path):
        check_consent_answer(call(fuzz_app, scope))
    else:
        check_host_unchanged(fuzz_app, scope, [b"body"])


@FUZZ
@given(
    headers=header_lists,
    method=st.sampled_from(["GET", "POST", "DELETE", "HEAD"]),
    path=st.sampled_from(["/", "/docs/a", "/teapot", *CONSENT_PATHS]),
    kind=kinds,
    consented=st.booleans(),
    body=st.binary(max_size=64),
)
@example(
    headers=[(b"x-forwarded-for", b"fe80::1%eth0"), (b"user-agent", b"\xff" * 600),
             (b"referer", b"http://[::1/x"), (b"accept-language", b"\xaa\xba-x;q=\xb2")],
    method="GET", path="/", kind="html", consented=True, body=b"",
)  # fmt: skip
@example(
    headers=[(b"content-type", b"application/json"), (b"content-length", b"\xb9\xb2")],
    method="POST", path="/_consent", kind="html", consented=False, body=b"{}",
)  # fmt: skip
def test_any_headers(
    fuzz_app: ConsentMiddleware,
    headers: list[tuple[bytes, bytes]],
    method: str,
    path: str,
    kind: str,
    consented: bool,
    body: bytes,
) -> None:
    """Any header names and values (any bytes): no failure anywhere, host answers kept."""
    if consented:
        headers = [*headers, (b"cookie", valid_cookie(("analytics",)))]
    scope = make_scope(method, path, b"utm_source=fuzz", headers, kind)
    if is_consent_route(path):
        check_consent_answer(call(fuzz_app, scope, [body]))
    else:
        check_host_unchanged(fuzz_app, scope, [body])
