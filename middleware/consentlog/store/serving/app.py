"""The ClickHouse HTTP interface over this process's chDB engine, as an ASGI app.

What real clients need, as ClickHouse documents it: the query in the ``query`` parameter,
the POST body, or the one followed by the other (an ``INSERT … FORMAT X`` with its data);
``database``, ``default_format``, ``query_id``, ``param_*`` and any other parameter as a
setting; bodies compressed by ``Content-Encoding`` and answers compressed as
``Accept-Encoding`` offers (``enable_http_compression``, on unless turned off, as on a
server since 25.11); users by basic auth, ``X-ClickHouse-User``/``-Key`` or
``user``/``password``; the ``X-ClickHouse-*`` answer headers; errors as
``Code: N. DB::Exception: …`` with the server's status codes. ``GET`` is read-only, as on
a server. A bounded body, a concurrency limit with a bounded queue, and the engine's
``max_execution_time``; large answers are streamed block by block.
"""

from __future__ import annotations

import base64
import contextlib
import json
import uuid
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message, Receive, Scope, Send

from consentlog.store.serving import compression
from consentlog.store.serving.engine import Answer, Engine, EngineError, Statement, engine_error
from consentlog.store.serving.users import User, Users

# Parameters the interface itself reads; every other one is a setting for the query.
TRANSPORT = frozenset(
    {
        "query",
        "database",
        "default_format",
        "query_id",
        "user",
        "password",
        "quota_key",
        "session_id",
        "session_timeout",
        "session_check",
        "compress",
        "decompress",
        "buffer_size",
        "wait_end_of_query",
        "client_protocol_version",
        "role",
        "enable_http_compression",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
        "http_wait_end_of_query",
        "http_response_buffer_size",
        "cancel_http_readonly_queries_on_client_close",
    }
)

# ClickHouse error codes and the HTTP status a server answers them with
# (src/Server/HTTP/exceptionCodeToHTTPStatus.cpp). Where this interface answers otherwise,
# the comment says so: a client's mistake is a 4xx here, and a full queue a 503, which
# clickhouse-connect retries.
STATUS_OF_CODE = {
    516: 401,  # AUTHENTICATION_FAILED (a server: 403)
    194: 401,  # REQUIRED_PASSWORD
    192: 403,  # UNKNOWN_USER
    193: 403,  # WRONG_PASSWORD
    512: 403,  # SET_NON_GRANTED_ROLE
    497: 403,  # ACCESS_DENIED
    164: 403,  # READONLY (a server: 500)
    # unknown table, function, identifier, type, storage, aggregate function, format,
    # type of query, database, setting, direction of sorting, database engine, role
    **dict.fromkeys((60, 46, 47, 50, 56, 63, 73, 78, 81, 115, 152, 336, 511), 404),
    229: 413,  # QUERY_IS_TOO_LARGE
    779: 415,  # UNSUPPORTED_MEDIA_TYPE
    48: 501,  # NOT_IMPLEMENTED
    202: 503,  # TOO_MANY_SIMULTANEOUS_QUERIES (a server: 500)
    76: 503,  # CANNOT_OPEN_FILE
    209: 503,  # SOCKET_TIMEOUT
    439: 503,  # CANNOT_SCHEDULE_TASK
    381: 411,  # HTTP_LENGTH_REQUIRED
    159: 408,  # TIMEOUT_EXCEEDED
    1000: 500,
}
BAD_REQUEST_CODES = frozenset(
    {
        # a server's: parse errors, bad arguments, syntax, AST limits, bad data
        *(6, 8, 15, 25, 26, 27, 36, 37, 38, 41, 44, 53, 62, 72, 117, 123, 167, 168, 223),
        *(321, 376, 427, 441, 675, 676),
        # this interface's (a server: 500): the request itself is wrong
        *(32, 33, 42, 43, 69, 70, 89, 130, 190, 211, 271, 456, 457, 472),
    }
)

CONTENT_TYPES = {
    "JSON": "application/json; charset=UTF-8",
    "JSONCompact": "application/json; charset=UTF-8",
    "JSONEachRow": "application/x-ndjson; charset=UTF-8",
    "JSONLines": "application/x-ndjson; charset=UTF-8",
    "CSV": "text/csv; charset=UTF-8; header=absent",
    "CSVWithNames": "text/csv; charset=UTF-8; header=present",
    "TabSeparatedWithNames": "text/tab-separated-values; charset=UTF-8",
    "TabSeparated": "text/tab-separated-values; charset=UTF-8",
    "TSV": "text/tab-separated-values; charset=UTF-8",
}
TEXT_FORMATS = (
    "TabSeparated",
    "TSV",
    "CSV",
    "JSON",
    "Pretty",
    "Values",
    "Vertical",
    "Markdown",
    "XML",
)


async def _cancel_on_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    """Cancel ``scope`` once the client has gone."""
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()


def _header_value(text: str) -> bytes:
    """``text`` as a header may carry it: no control characters, no space at the ends
    (the client chooses the query id and the format, and an illegal header would fail
    the whole answer)."""
    kept = "".join(c for c in text if c == "\t" or (c >= " " and c != "\x7f"))
    return kept.strip(" \t").encode()


def status_of(code: int) -> int:
    """The HTTP status a ClickHouse server gives an error code."""
    if code in STATUS_OF_CODE:
        return STATUS_OF_CODE[code]
    return 400 if code in BAD_REQUEST_CODES else 500


def content_type(output_format: str) -> str:
    """The ``Content-Type`` of an answer in ``output_format``."""
    if output_format in CONTENT_TYPES:
        return CONTENT_TYPES[output_format]
    if output_format.startswith(TEXT_FORMATS):
        return "text/plain; charset=UTF-8"
    return "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Limits:
    """How much one served store takes on at once."""

    max_body_bytes: int = 256 * 1024 * 1024  # after inflation; larger writer batches are split
    max_concurrent_queries: int = 8
    max_queued_queries: int = 64
    max_execution_time: int = 60  # seconds, the cap on every query


ANALYST_MAX_BODY = 1024 * 1024  # bytes: the read-only user sends queries, not batches


class Refusal(Exception):
    """An answer that is an error, before any engine work."""

    def __init__(self, code: int, message: str, name: str) -> None:
        super().__init__(message)
        self.error = EngineError(code, message, name)


class ClickHouseInterface:
    """The ASGI app: ``/``, ``/ping`` and ``/replicas_status``."""

    def __init__(
        self,
        engine: Engine,
        users: Users,
        limits: Limits = Limits(),
        display_name: str = "consentlog",
    ) -> None:
        self.engine = engine
        self.users = users
        self.limits = limits
        self.display_name = display_name
        # The site's user and the read-only user queue apart: an analyst's long queries
        # cannot hold the slots the site's inserts need.
        self._slots: dict[int, anyio.Semaphore] = {}
        self._waiting: dict[int, int] = {0: 0, 1: 0}
        self._limiter: anyio.CapacityLimiter | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope["path"]
        request = Request(scope, receive)
        if path in ("/ping", "/replicas_status") or (
            path == "/" and request.method == "GET" and not request.query_params
        ):
            await self._plain(send, 200, b"Ok.\n")
            return
        if path != "/":
            await self._plain(
                send,
                404,
                f"There is no handle {path[:200]}\n\nUse / or /ping for health checks.\n".encode(),
            )
            return
        if request.method not in ("GET", "POST"):
            refusal = EngineError(
                1, f"HTTP method {request.method[:20]} is not supported", "UNSUPPORTED_METHOD"
            )
            await self._error(send, refusal, 405, "")
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._query(request, tracked)
        except ClientDisconnect:
            return
        except Exception as exc:  # never a traceback in the owner's log: an answer instead
            if not started:
                error = EngineError(1001, f"internal error: {type(exc).__name__}", "STD_EXCEPTION")
                await self._error(send, error, 500, "")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _authenticate(self, request: Request) -> User:
        params = request.query_params
        headers = request.headers
        name, password = "default", ""
        authorization = headers.get("authorization", "")
        if authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            except ValueError:  # not base64 (binascii.Error), not ASCII, not UTF-8
                raise Refusal(
                    516, "Malformed basic authorization", "AUTHENTICATION_FAILED"
                ) from None
            name, _, password = decoded.partition(":")
        elif "x-clickhouse-user" in headers:
            name, password = headers["x-clickhouse-user"], headers.get("x-clickhouse-key", "")
        elif "user" in params:
            name, password = params["user"], params.get("password", "")
        user = self.users.authenticate(name, password)
        if user is None:
            raise Refusal(
                516,
                f"{name[:64]}: Authentication failed: password is incorrect, "
                "or there is no user with such name.",
                "AUTHENTICATION_FAILED",
            )
        return user

    async def _read_body(self, request: Request, user: User) -> bytes:
        limit = self.limits.max_body_bytes
        if user.readonly:  # a query, never a batch: ClickHouse's max_query_size and some
            limit = min(limit, ANALYST_MAX_BODY)
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        inflate = None
        if encoding not in ("", "identity"):
            try:
                inflate = compression.inflater(encoding)
            except compression.UnknownEncoding:
                raise Refusal(
                    89,
                    f"Unknown HTTP Content-Encoding {encoding[:40]!r}",
                    "UNKNOWN_COMPRESSION_METHOD",
                ) from None
        parts: list[bytes] = []
        size = 0
        too_large = Refusal(
            229,
            f"The request body is larger than {limit} bytes (max_body_bytes)",
            "QUERY_IS_TOO_LARGE",
        )
        async for chunk in request.stream():
            if inflate is not None and chunk:
                try:
                    chunk = inflate(chunk, limit - size)
                except compression.TooLarge:
                    raise too_large from None
                except Exception as exc:
                    raise Refusal(
                        271, f"Cannot decompress the {encoding} body: {exc}", "CANNOT_DECOMPRESS"
                    ) from None
            size += len(chunk)
            if size > limit:
                raise too_large
            parts.append(chunk)
        return b"".join(parts)

    def _statement(self, request: Request, user: User, body: bytes) -> Statement:
        params = request.query_params
        query_param = params.get("query", "").encode()
        if request.method == "GET":
            text = query_param
        elif query_param and body:
            text = query_param + b"\n" + body
        else:
            text = query_param or body
        readonly = user.readonly or (2 if request.method == "GET" else 0)
        settings: dict[str, str] = {}
        bound: dict[str, str] = {}
        for name, value in params.multi_items():
            if name.startswith("param_"):
                bound[name[6:]] = value
            elif name not in TRANSPORT:
                settings[name] = value
        revision = params.get("client_protocol_version", "0")
        return Statement(
            query=text,
            default_format=params.get("default_format", "TabSeparated") or "TabSeparated",
            database=params.get("database", ""),
            settings=settings,
            params=bound,
            readonly=readonly,
            protocol_revision=int(revision) if revision.isdigit() and len(revision) < 10 else 0,
        )

    def _headers(
        self, query_id: str, output_format: str, summary: dict[str, str], timezone: str
    ) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-clickhouse-server-display-name", self.display_name.encode()),
            (b"x-clickhouse-query-id", _header_value(query_id)),
            (b"x-clickhouse-format", _header_value(output_format)),
            (b"x-clickhouse-timezone", timezone.encode()),
            (b"x-clickhouse-summary", json.dumps(summary, separators=(",", ":")).encode()),
        ]

    async def _query(self, request: Request, send: Send) -> None:
        query_id = _header_value(request.query_params.get("query_id", ""))[:200].decode(
            "utf-8", "ignore"
        )
        query_id = query_id or str(uuid.uuid4())
        if not self._slots:
            writers = self.limits.max_concurrent_queries
            readers = max(1, writers // 2)
            self._slots = {0: anyio.Semaphore(writers), 1: anyio.Semaphore(readers)}
            self._limiter = anyio.CapacityLimiter(writers + readers)
        try:
            user = self._authenticate(request)
        except Refusal as refusal:
            await self._error(send, refusal.error, status_of(refusal.error.code), query_id)
            return
        pool = 1 if user.readonly else 0
        if self._waiting[pool] >= self.limits.max_queued_queries:
            await self._error(
                send,
                EngineError(
                    202,
                    "Too many simultaneous queries: the queue is full",
                    "TOO_MANY_SIMULTANEOUS_QUERIES",
                ),
                503,
                query_id,
            )
            return
        self._waiting[pool] += 1
        try:
            await self._slots[pool].acquire()
        finally:
            self._waiting[pool] -= 1
        try:
            # the body is read in a slot, so at most that many bodies are held at once
            try:
                body = await self._read_body(request, user) if request.method == "POST" else b""
                statement = self._statement(request, user, body)
            except Refusal as refusal:
                await self._error(send, refusal.error, status_of(refusal.error.code), query_id)
                return
            await self._run(request, send, statement, query_id)
        finally:
            self._slots[pool].release()

    async def _run(self, request: Request, send: Send, statement: Statement, query_id: str) -> None:
        limiter = self._limiter
        try:
            timezone = self.engine.known_timezone
            if timezone is None:
                timezone = await anyio.to_thread.run_sync(self.engine.timezone, limiter=limiter)
            answer: Answer = await anyio.to_thread.run_sync(
                self.engine.execute, statement, limiter=limiter
            )
        except EngineError as error:
            await self._error(send, error, status_of(error.code), query_id)
            return
        encoding = None
        # on unless the request turns it off: ClickHouse's default since 25.11, and chDB's
        # (system.settings says 1, so clickhouse-connect does not ask for it)
        if request.query_params.get("enable_http_compression", "1").lower() not in ("0", "false"):
            encoding = compression.choose(request.headers.get("accept-encoding", ""))
        headers = [
            (b"content-type", content_type(answer.format).encode()),
            *self._headers(query_id, answer.format, answer.summary, timezone),
        ]
        if encoding is not None:
            headers.append((b"content-encoding", encoding.encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        # A client that goes away ends the answer (and with it the query) after the block
        # in hand, as a server cancels it; else the query would run on to the time cap.
        with anyio.CancelScope() as answering:
            async with anyio.create_task_group() as group:
                group.start_soon(_cancel_on_disconnect, request.receive, answering)
                try:
                    async with contextlib.aclosing(
                        self._encoded(answer.chunks, encoding, answer.close is not None)
                    ) as body:
                        async for chunk in body:
                            await send(
                                {"type": "http.response.body", "body": chunk, "more_body": True}
                            )
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                finally:
                    with anyio.CancelScope(shield=True):
                        if answer.close is not None:
                            await anyio.to_thread.run_sync(answer.close, limiter=limiter)
                    group.cancel_scope.cancel()

    async def _encoded(
        self, chunks: Iterator[bytes], encoding: str | None, streamed: bool = True
    ) -> AsyncGenerator[bytes, None]:
        """The answer's blocks, read off the event loop, compressed when asked; an error
        after the first block is written into the body, as a server does."""
        compress, finish = compression.compressor(encoding) if encoding else (None, None)
        done = object()
        if streamed is False:  # all in memory already: no need to leave the event loop
            for block in chunks:
                yield compress(block) if compress is not None else block
            if finish is not None:
                yield finish()
            return
        while True:
            try:
                chunk: Any = await anyio.to_thread.run_sync(
                    next, chunks, done, limiter=self._limiter
                )
            except Exception as exc:
                chunk = ("\n" + engine_error(exc).text + "\n").encode()
                if compress is not None:
                    chunk = compress(chunk)
                yield chunk
                break
            if chunk is done:
                break
            yield compress(chunk) if compress is not None else chunk
        if finish is not None:
            yield finish()

    async def _plain(self, send: Send, status: int, body: bytes) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/html; charset=UTF-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _error(self, send: Send, error: EngineError, status: int, query_id: str) -> None:
        body = (error.text.rstrip() + "\n").encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/plain; charset=UTF-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-clickhouse-exception-code", str(error.code).encode()),
                    (b"x-clickhouse-server-display-name", self.display_name.encode()),
                    *([(b"x-clickhouse-query-id", _header_value(query_id))] if query_id else []),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
