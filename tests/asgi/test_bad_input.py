"""Bad input to the consent routes: malformed, oversized or truncated bodies, wrong content
types, methods and paths, each a 4xx JSON error that names the problem and sets no cookie."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.types import Message

from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.testing import http_scope
from tests.asgi.support import UNDECIDED, json_error
from tests.helpers import MakeApp

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("content", "content_type", "status", "names"),
    [
        (b"{not json", JSON, 400, "not valid JSON"),
        (b"\xff\xfe{", JSON, 400, "not valid JSON"),
        (b"", JSON, 400, "not valid JSON"),
        (b"[]", JSON, 400, "JSON object"),
        (b'["accept_all"]', JSON, 400, "JSON object"),
        (b'"accept_all"', JSON, 400, "JSON object"),
        (b'{"action": "accept_all", "extra": 1}', JSON, 400, "unknown field 'extra'"),
        (b'{"categories": {"ads": true}}', JSON, 400, "unknown category 'ads'"),
        (b'{"categories": {"analytics": "yes"}}', JSON, 400, "'categories'"),
        (b'{"categories": {"analytics": 1}}', JSON, 400, "'categories'"),
        (b'{"categories": ["analytics"]}', JSON, 400, "'categories'"),
        (b'{"categories": {"necessary": false}}', JSON, 400, "'necessary' is necessary"),
        (b'{"action": "reject_all", "categories": {}}', JSON, 400, "'custom'"),
        (b'{"action": "accept_some"}', JSON, 400, "accept_all"),
        (b'{"action": null}', JSON, 400, "accept_all"),
        (b'{"action": ["accept_all"]}', JSON, 400, "accept_all"),
        (b'{"action": {"accept_all": true}}', JSON, 400, "accept_all"),
        (b"{}", JSON, 400, "accept_all"),
        pytest.param(b"[" * 5000 + b"]" * 5000, JSON, 400, "not valid JSON", id="deep-json"),
        (b"action=maybe", FORM, 400, "'action'"),
        (b"next=/docs/a", FORM, 400, "'action'"),
        (b"action=custom&category=ads", FORM, 400, "unknown category 'ads'"),
        (b"action=custom&category=\xff", FORM, 400, "UTF-8"),
        (b"action=accept_all", "text/plain", 415, "application/json"),
        (b'{"action": "accept_all"}', "text/plain", 415, "application/json"),
        (b'{"action": "accept_all"}', "multipart/form-data; boundary=x", 415, "urlencoded"),
        (b'{"action": "accept_all"}', None, 415, "application/json"),
    ],
)
def test_bad_decisions_get_a_json_error(
    client: TestClient, content: bytes, content_type: str | None, status: int, names: str
) -> None:
    """Bad input is refused with a 4xx JSON error that names the problem, and no cookie."""
    headers = {"content-type": content_type} if content_type else {}
    response = client.post("/_consent", content=content, headers=headers)
    assert status == response.status_code
    assert names in json_error(response)
    assert [] == response.headers.get_list("set-cookie")
    assert UNDECIDED == client.get("/_consent").json()


def test_json_content_type_with_charset_is_accepted(client: TestClient) -> None:
    """``application/json; charset=utf-8`` is JSON."""
    response = client.post(
        "/_consent",
        content=b'{"action": "accept_all"}',
        headers={"content-type": "Application/JSON; charset=utf-8"},
    )
    assert 200 == response.status_code


def test_body_over_the_limit_by_content_length(make_app: MakeApp) -> None:
    """A declared Content-Length over ``max_body_bytes`` is refused with 413."""
    client = TestClient(make_app(max_body_bytes=64))
    payload = json.dumps({"action": "accept_all", "pad": "x" * 100}).encode()
    response = client.post("/_consent", content=payload, headers={"content-type": JSON})
    assert 413 == response.status_code
    assert "64 bytes" in json_error(response)
    assert [] == response.headers.get_list("set-cookie")


def _scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return http_scope(path, method=method, headers=headers, client=("198.51.100.7", 50000))


def _call(
    app: ConsentMiddleware,
    scope: dict[str, Any],
    chunks: list[bytes],
) -> tuple[list[Message], int]:
    """Run one raw ASGI request whose body arrives in ``chunks``; the messages sent and
    how many body chunks the app asked for."""
    pending = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    received = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal received
        if not pending:
            return {"type": "http.disconnect"}
        received += 1
        return pending.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent, received


def test_streamed_body_over_the_limit(make_app: MakeApp) -> None:
    """A chunked body without Content-Length is cut off with 413 as soon as it passes
    ``max_body_bytes``; the rest is not read."""
    middleware = make_app(max_body_bytes=64)
    scope = _scope("POST", "/_consent", [(b"content-type", b"application/json")])
    chunks = [b'{"action": "accept_all", "pad": "', *[b"x" * 20] * 10, b'"}']
    sent, received = _call(middleware, scope, chunks)
    start, body = sent[0], sent[-1]
    assert 413 == start["status"]
    assert not any(k == b"set-cookie" for k, _ in start["headers"])
    assert "64 bytes" in json.loads(body["body"])["error"]
    assert received < len(chunks)


def test_streamed_body_within_the_limit(make_app: MakeApp) -> None:
    """A chunked body within ``max_body_bytes`` is read whole and decided."""
    middleware = make_app(max_body_bytes=64)
    scope = _scope("POST", "/_consent", [(b"content-type", b"application/json")])
    sent, _ = _call(middleware, scope, [b'{"action": ', b'"accept_all"', b"}"])
    assert 200 == sent[0]["status"]
    assert True is json.loads(sent[-1]["body"])["categories"]["analytics"]


def test_client_gone_before_the_body_is_complete(make_app: MakeApp) -> None:
    """A disconnect mid-body is a 400, not a crash."""
    middleware = make_app()
    scope = _scope("POST", "/_consent", [(b"content-type", b"application/json")])
    pending: list[Message] = [{"type": "http.request", "body": b"{", "more_body": True}]
    sent: list[Message] = []

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(middleware(scope, receive, send))
    assert 400 == sent[0]["status"]


def test_content_length_that_is_not_a_number(make_app: MakeApp) -> None:
    """A Content-Length of non-ASCII digits (latin-1 superscripts) is no crash."""
    middleware = make_app()
    for declared in (b"\xb2", b"\xb9\xb2\xb3", b"-1", b"1e9", b"abc"):
        headers = [(b"content-type", b"application/json"), (b"content-length", declared)]
        sent, _ = _call(middleware, _scope("POST", "/_consent", headers), [b"{}"])
        assert 400 == sent[0]["status"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/_consent"),
        ("PATCH", "/_consent"),
        ("GET", "/_consent/withdraw"),
        ("DELETE", "/_consent/withdraw"),
        ("POST", "/_consent/banner.js"),
        ("DELETE", "/_consent/banner.css"),
        ("POST", "/_consent/banner.html"),
        ("POST", "/.well-known/gpc.json"),
    ],
)
def test_wrong_method_is_405(client: TestClient, method: str, path: str) -> None:
    """A method a consent route does not take is a 405 naming the method."""
    response = client.request(method, path)
    assert 405 == response.status_code
    assert method in json_error(response)


@pytest.mark.parametrize("path", ["/_consent/nope", "/_consent/banner.js/x", "/_consent/my-data/x"])
def test_unknown_consent_route_is_404(client: TestClient, path: str) -> None:
    """An unknown path under the prefix is a JSON 404 naming it, not the host app's."""
    response = client.get(path)
    assert 404 == response.status_code
    assert path in json_error(response)
