"""Which responses get the banner: only a whole 200 HTML body in an ASCII-compatible
charset; files the server sends itself, ranges and other charsets pass untouched."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from consentlog.testing import MemorySink, http_scope
from tests.helpers import MakeApp

PAGE = b"<!doctype html><html><head><title>f</title></head><body><h1>file</h1></body></html>"


def _file_app(page: Path) -> Starlette:
    async def file(request: Request) -> Response:
        return FileResponse(page, media_type="text/html")

    return Starlette(routes=[Route("/file", file)])


def _messages(app: Any, scope: dict[str, Any]) -> list[Message]:
    """Every message ``app`` sends for one request."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def test_pathsend_goes_out_after_the_start_untouched(make_app: MakeApp, tmp_path: Path) -> None:
    """A FileResponse sent with ``http.response.pathsend``: the start first, with the
    file's own Content-Length, then the pathsend message; the page is logged."""
    page = tmp_path / "page.html"
    page.write_bytes(PAGE)
    middleware = make_app(_file_app(page))
    scope = http_scope("/file") | {"extensions": {"http.response.pathsend": {}}}
    start, pathsend = _messages(middleware, scope)
    assert ("http.response.start", "http.response.pathsend") == (start["type"], pathsend["type"])
    assert str(page) == pathsend["path"]
    assert [str(len(PAGE)).encode()] == [v for k, v in start["headers"] if k == b"content-length"]
    sink = middleware.writer
    assert isinstance(sink, MemorySink)
    assert [("/file", len(PAGE))] == [(p.path, p.response_bytes) for p in sink.pages]


async def _zerocopy_host(scope: Scope, receive: Receive, send: Send) -> None:
    headers = [(b"content-type", b"text/html"), (b"content-length", str(len(PAGE)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.zerocopy", "file": 3, "more_body": False})


def test_zerocopy_goes_out_after_the_start_untouched(make_app: MakeApp) -> None:
    """``http.response.zerocopy``: the held start goes out first, unchanged in length."""
    start, zerocopy = _messages(make_app(_zerocopy_host), http_scope("/"))
    assert ("http.response.start", "http.response.zerocopy") == (start["type"], zerocopy["type"])
    assert (b"content-length", str(len(PAGE)).encode()) in start["headers"]


def test_a_range_of_a_page_is_not_injected(make_app: MakeApp, tmp_path: Path) -> None:
    """A 206 answer to a Range request is the exact bytes asked for, its length unchanged."""
    page = tmp_path / "page.html"
    page.write_bytes(PAGE)
    client = TestClient(make_app(_file_app(page)))
    response = client.get("/file", headers={"range": "bytes=10-"})
    assert 206 == response.status_code
    assert PAGE[10:] == response.content
    assert str(len(PAGE) - 10) == response.headers["content-length"]


def _html(body: bytes, content_type: str, status: int = 200) -> Starlette:
    async def page(request: Request) -> Response:
        return Response(body, status_code=status, headers={"content-type": content_type})

    return Starlette(routes=[Route("/", page)])


def test_an_utf16_page_is_not_injected(make_app: MakeApp) -> None:
    """A page in UTF-16 (not ASCII-compatible) is passed through byte for byte."""
    body = "<html><body>é</body></html>".encode("utf-16")
    response = TestClient(make_app(_html(body, "text/html; charset=UTF-16"))).get("/")
    assert body == response.content


def test_unknown_charsets_are_not_injected(make_app: MakeApp) -> None:
    """A charset Python does not know, or a stateful one (ISO-2022-JP), gets no banner."""
    for charset in ("x-made-up", "iso-2022-jp", "utf-7"):
        body = b"<html><body>page</body></html>"
        response = TestClient(make_app(_html(body, f"text/html; charset={charset}"))).get("/")
        assert body == response.content, charset


def test_a_latin1_page_gets_the_banner_in_latin1(make_app: MakeApp) -> None:
    """An ISO-8859-1 page gets the banner in its own charset; the page still decodes."""
    body = "<html><body>café</body></html>".encode("latin-1")
    app = make_app(_html(body, 'text/html; charset="ISO-8859-1"'))
    response = TestClient(app).get("/", headers={"accept-language": "de"})
    assert response.content.startswith("<html><body>café".encode("latin-1"))
    assert "möchten".encode("latin-1") in response.content
    assert b"\xc3" not in response.content  # no UTF-8 byte sequences in a Latin-1 page


def test_an_ascii_page_gets_character_references(make_app: MakeApp) -> None:
    """A US-ASCII page gets the banner's other characters as character references."""
    body = b"<html><body>page</body></html>"
    app = make_app(_html(body, "text/html; charset=us-ascii"))
    response = TestClient(app).get("/", headers={"accept-language": "de"})
    assert b"m&#246;chten" in response.content
    assert max(response.content) < 0x80


def test_error_pages_get_no_banner(make_app: MakeApp) -> None:
    """Only a 200 page gets the banner: a 404 or 500 HTML page is the host's own."""
    body = b"<html><body>missing</body></html>"
    for status in (404, 500):
        response = TestClient(make_app(_html(body, "text/html", status))).get("/")
        assert (status, body) == (response.status_code, response.content)


def _raw_host(headers: list[tuple[bytes, bytes]], body: bytes) -> Any:
    async def host(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return host


def test_repeated_content_lengths_pass_through_a_page_without_a_banner(
    make_app: MakeApp,
) -> None:
    """An answer the banner does not go into keeps its headers as the host sent them,
    even two Content-Lengths (the server refuses or reads them, not consentlog)."""
    headers = [(b"content-type", b"application/json"), (b"content-length", b"2"),
               (b"content-length", b"2")]  # fmt: skip
    start, _ = _messages(make_app(_raw_host(headers, b"{}")), http_scope("/api"))
    assert [b"2", b"2"] == [v for k, v in start["headers"] if k == b"content-length"]


def test_a_page_with_repeated_content_lengths_gets_one_that_is_right(make_app: MakeApp) -> None:
    """Every Content-Length of a page that gets the banner gives way to its new length."""
    headers = [(b"content-type", b"text/html"), (b"content-length", str(len(PAGE)).encode()),
               (b"content-length", b"9")]  # fmt: skip
    start, body = _messages(make_app(_raw_host(headers, PAGE)), http_scope("/p"))
    assert [str(len(body["body"])).encode()] == [
        v for k, v in start["headers"] if k == b"content-length"
    ]
    assert b'id="cl-banner"' in body["body"]


def test_the_first_content_type_decides_even_when_empty(make_app: MakeApp) -> None:
    """A client reads the first Content-Type: an empty one first means the answer is not
    HTML, whatever a second one says — it gets no banner and is no page view."""
    headers = [(b"content-type", b""), (b"content-type", b"text/html")]
    middleware = make_app(_raw_host(headers, PAGE))
    _, body = _messages(middleware, http_scope("/p"))
    assert PAGE == body["body"]
    sink = middleware.writer
    assert isinstance(sink, MemorySink)
    assert [] == sink.pages


def test_a_client_that_is_no_tuple_costs_the_page_nothing(make_app: MakeApp) -> None:
    """ASGI allows any iterable as ``client`` (Daphne sends a list): the page is served
    and logged either way."""
    middleware = make_app(_raw_host([(b"content-type", b"text/html")], PAGE))
    for client in (["198.51.100.9", 1], iter(("x", 1))):
        scope = http_scope("/p") | {"client": client}
        start, _ = _messages(middleware, scope)
        assert 200 == start["status"]
    sink = middleware.writer
    assert isinstance(sink, MemorySink)
    assert 2 == len(sink.pages)
