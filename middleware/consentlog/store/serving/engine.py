"""The engine side of the HTTP interface: one request, one fresh chDB handle.

chDB allows any number of connection handles to the one engine a process hosts, and a
handle keeps its own session (``USE``, ``SET``). Opening one costs about 0.2 ms, so every
request gets its own: the settings it sets — ``readonly`` above all — die with it, and
requests run side by side (chDB releases the GIL while a query runs).

A handle is prepared the way a ClickHouse server prepares an HTTP session: the server's
defaults where chDB's differ (no ``implicit_select``, no header detection in TSV/CSV
input), the request's database and settings, the ``max_execution_time`` cap, and last the
user's ``readonly`` level, so that the engine refuses whatever that level forbids.

An ``INSERT … FORMAT X`` with data goes to chDB's streaming insert, the data apart from
the SQL: inline in the query text, chDB ends the data at the first blank line and runs
what follows as SQL, so binary batches (Native, Arrow, Parquet) arrive cut short and a
value holding a blank line could smuggle a statement. ``INTO OUTFILE`` and ``FROM INFILE``
are refused, as a server refuses them over HTTP: chDB would open those files itself, in
this process, for any user (``readonly`` does not stop ``INTO OUTFILE``).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consentlog.store.serving.native import (
    REVISION_WITH_CUSTOM_SERIALIZATION,
    Unsupported,
    upgrade,
)
from consentlog.store.serving.statements import Scanned, scan

# Where chDB's defaults are not a server's (measured; see PRODUCT.md).
SERVER_DEFAULTS: dict[str, str] = {
    "implicit_select": "0",
    "input_format_tsv_detect_header": "0",
    "input_format_csv_detect_header": "0",
    "input_format_custom_detect_header": "0",
}

# Formats whose per-block chunks concatenate into one valid answer, so a large result is
# streamed block by block; any other format is answered whole.
STREAMED_FORMATS = frozenset(
    {
        "Native",
        "TabSeparated",
        "TSV",
        "TabSeparatedRaw",
        "TSVRaw",
        "CSV",
        "RowBinary",
        "JSONEachRow",
        "JSONLines",
        "NDJSON",
        "JSONCompactEachRow",
    }
)

MAX_QUERY_SIZE = 262_144  # bytes of SQL, as a server's max_query_size default
# The read-only user's share of the serving machine: it may not take the site down.
ANALYST_LIMITS: dict[str, str] = {
    "max_memory_usage": str(4 * 1024**3),
    "max_result_bytes": str(1024**3),
    "result_overflow_mode": "'throw'",
    "allow_introspection_functions": "0",
}
STREAMED_STATEMENTS = frozenset({"SELECT", "WITH"})  # chDB streams queries, not commands

_SETTING_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_DATABASE_NAME = re.compile(r"[A-Za-z0-9_.$-]{1,200}\Z")
_CODE = re.compile(r"Code: (\d+)\.")
_NAME = re.compile(r"\(([A-Z][A-Z0-9_]+)\)\s*(?:\(version [^)]*\))?\s*\Z")


class EngineError(Exception):
    """A refusal in ClickHouse's words: ``Code: N. DB::Exception: … (NAME)``."""

    def __init__(self, code: int, message: str, name: str = "") -> None:
        self.code = code
        self.name = name
        self.text = (
            message
            if message.startswith("Code: ")
            else (f"Code: {code}. DB::Exception: {message}" + (f" ({name})" if name else ""))
        )
        super().__init__(self.text)


def engine_error(exc: BaseException) -> EngineError:
    """The ``EngineError`` for an exception chDB raised."""
    text = str(exc).strip()
    start = text.find("Code: ")
    if start > 0:
        text = text[start:]
    code_match = _CODE.search(text)
    name_match = _NAME.search(text)
    code = int(code_match.group(1)) if code_match else 1000
    return EngineError(code, text, name_match.group(1) if name_match else "")


def _inline_data(query: bytes, scanned: Scanned) -> bytes:
    """The data of an ``INSERT … FORMAT X`` (b'' when it has none), where a server finds
    it: after the format name, its spaces and tabs, and one line break."""
    if scanned.keyword != "INSERT" or scanned.data_offset is None:
        return b""
    i = scanned.data_offset
    if query[i : i + 1] == b";":
        raise EngineError(
            62,
            "You have excessive ';' symbol before data for INSERT: put at least one "
            "whitespace symbol between the format name and the data",
            "SYNTAX_ERROR",
        )
    while query[i : i + 1] in (b" ", b"\t", b"\f"):
        i += 1
    if query[i : i + 1] == b"\r":
        i += 1
    if query[i : i + 1] == b"\n":
        i += 1
    return query[i:]


def _check_sandbox(scanned: Scanned) -> None:
    """What chDB's local mode lets a ``readonly = 1`` user do and a server does not."""
    if scanned.calls_file:
        raise EngineError(
            497,
            "analyst: Not enough privileges: file() reads files of the serving machine",
            "ACCESS_DENIED",
        )
    if scanned.keyword in ("KILL", "SYSTEM"):
        raise EngineError(
            497,
            f"analyst: Not enough privileges: {scanned.keyword} acts on the whole server",
            "ACCESS_DENIED",
        )


def _upgraded(answer: Answer) -> Answer:
    """``answer`` in the Native layout of protocol revision 54454+; a column type that
    cannot be rewritten is refused before the answer starts."""
    chunks = upgrade(answer.chunks)
    try:
        first = next(chunks, b"")
    except Unsupported as exc:
        if answer.close is not None:
            answer.close()
        raise EngineError(48, str(exc), "NOT_IMPLEMENTED") from None

    def rest() -> Iterator[bytes]:
        if first:
            yield first
        yield from chunks

    return Answer(answer.format, rest(), answer.summary, answer.close)


def _quote(value: str) -> str:
    """A SQL string literal (backslashes and quotes escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True, slots=True)
class Statement:
    """One request to run: the query text and the session it runs in."""

    query: bytes
    default_format: str = "TabSeparated"
    database: str = ""
    settings: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    readonly: int = 0  # the user's level: 0 read-write, 1 read-only, 2 read-only + settings
    protocol_revision: int = 0  # the client's client_protocol_version (Native layout)


@dataclass(slots=True)
class Answer:
    """What the engine gave: the body (whole or block by block) and the figures."""

    format: str
    chunks: Iterator[bytes]
    summary: dict[str, str]
    close: Any = None  # releases the handle of a streamed answer


def _summary(result: Any, elapsed: float) -> dict[str, str]:
    def figure(name: str) -> str:
        try:
            return str(int(getattr(result, name)()))
        except Exception:
            return "0"

    read_rows = figure("rows_read")
    return {
        "read_rows": read_rows,
        "read_bytes": figure("bytes_read"),
        "written_rows": figure("rows_written"),
        "written_bytes": figure("bytes_written"),
        "total_rows_to_read": read_rows,
        "result_rows": "0",
        "result_bytes": figure("size"),
        "elapsed_ns": str(int(elapsed * 1e9)),
    }


class Engine:
    """Runs statements on the chDB engine of this process."""

    def __init__(self, path: Path, *, max_execution_time: int = 60) -> None:
        self.connection_string = os.path.realpath(path)
        self.max_execution_time = max_execution_time
        self._timezone: str | None = None
        self._lock = threading.Lock()

    def _open(self) -> Any:
        try:
            import chdb  # here, not at import: importing chdb starts its threads, and a
            # process that forks after importing this module must not inherit them

            return chdb.connect(self.connection_string)  # type: ignore[no-untyped-call]
        except Exception as exc:
            raise engine_error(exc) from None

    @property
    def known_timezone(self) -> str | None:
        """The time zone once ``timezone()`` has asked the engine (no engine call)."""
        return self._timezone

    def timezone(self) -> str:
        """The engine's time zone, for ``X-ClickHouse-Timezone``."""
        with self._lock:
            if self._timezone is None:
                handle = self._open()
                try:
                    self._timezone = (
                        handle.query("SELECT timezone()", "TSVRaw").bytes().decode().strip()
                    )
                finally:
                    handle.close()
            return self._timezone

    def _prepare(self, handle: Any, statement: Statement) -> None:
        """The session, in one ``SET`` (each is a round trip into the engine): the
        server's defaults, the request's settings, the time cap, no ``Python()``, and
        last the user's ``readonly`` level."""
        assignments = [f"{name} = {value}" for name, value in SERVER_DEFAULTS.items()]
        for name, value in statement.settings.items():
            if not _SETTING_NAME.match(name):
                raise EngineError(115, f"Unknown setting '{name[:100]}'", "UNKNOWN_SETTING")
            assignments.append(f"{name} = {_quote(value)}")
        asked = statement.settings.get("max_execution_time", "")
        try:
            within_cap = 0 < float(asked) <= self.max_execution_time
        except ValueError:
            within_cap = False
        if not within_cap:
            assignments.append(f"max_execution_time = {self.max_execution_time}")
        # Python() would read objects of this very process: no client may name them
        assignments.append("allow_python_table_function = 0")
        if statement.readonly == 1:
            assignments.extend(f"{name} = {value}" for name, value in ANALYST_LIMITS.items())
        if statement.readonly:
            assignments.append(f"readonly = {int(statement.readonly)}")
        try:
            handle.query("SET " + ", ".join(assignments), "TSV")
            if statement.database:
                if not _DATABASE_NAME.match(statement.database):
                    raise EngineError(
                        81, f"Database {statement.database!r} does not exist", "UNKNOWN_DATABASE"
                    )
                handle.query(f"USE `{statement.database}`", "TSV")
        except EngineError:
            raise
        except Exception as exc:
            raise engine_error(exc) from None

    def execute(self, statement: Statement) -> Answer:
        """Run one statement; ``EngineError`` when the engine refuses it."""
        query = statement.query
        # ClickHouse's max_query_size: the SQL is bounded (and so is the time scanning it
        # takes); an INSERT's data after FORMAT X is not SQL, and may be larger
        scanned = scan(query[:MAX_QUERY_SIZE])
        sql_end = scanned.data_offset if scanned.data_offset is not None else len(query)
        if sql_end > MAX_QUERY_SIZE:
            raise EngineError(
                62,
                f"Syntax error: Max query size exceeded ({MAX_QUERY_SIZE} bytes; the data of "
                "an INSERT … FORMAT X may be larger)",
                "SYNTAX_ERROR",
            )
        if scanned.statements > 1:
            raise EngineError(62, "Syntax error (Multi-statements are not allowed)", "SYNTAX_ERROR")
        if not scanned.keyword:
            raise EngineError(211, "Empty query", "EMPTY_QUERY")
        if scanned.client_clause == "INTO OUTFILE":
            raise EngineError(358, "INTO OUTFILE is not allowed", "INTO_OUTFILE_NOT_ALLOWED")
        if scanned.client_clause == "FROM INFILE":
            raise EngineError(
                78, "Query has infile and was send directly to server", "UNKNOWN_TYPE_OF_QUERY"
            )
        if statement.readonly == 1:
            _check_sandbox(scanned)
        output = statement.default_format
        if scanned.format_name and scanned.keyword != "INSERT":
            output = scanned.format_name
        answer = self._execute(statement, scanned, output)
        if output == "Native" and statement.protocol_revision >= REVISION_WITH_CUSTOM_SERIALIZATION:
            return _upgraded(answer)
        return answer

    def _execute(self, statement: Statement, scanned: Scanned, output: str) -> Answer:
        data = _inline_data(statement.query, scanned)
        handle = self._open()
        started = time.perf_counter()
        try:
            self._prepare(handle, statement)
            params = dict(statement.params)
            if data:
                summary = self._insert(handle, statement.query, scanned, data, params, started)
                handle.close()
                return Answer(output, iter(()), summary)
            if scanned.keyword in STREAMED_STATEMENTS and output in STREAMED_FORMATS:
                return self._stream(handle, statement.query, output, params, started)
            result = handle.query(statement.query, output, params=params)
            body = result.bytes() or b""
            summary = _summary(result, time.perf_counter() - started)
        except EngineError:
            handle.close()
            raise
        except Exception as exc:
            handle.close()
            raise engine_error(exc) from None
        handle.close()
        return Answer(output, iter((body,)) if body else iter(()), summary)

    def _insert(
        self,
        handle: Any,
        query: bytes,
        scanned: Scanned,
        data: bytes,
        params: dict[str, str],
        started: float,
    ) -> dict[str, str]:
        """Insert ``data`` through chDB's streaming insert: the SQL up to ``FORMAT`` is
        the statement, the data is only ever data."""
        for name, value in params.items():  # the streaming insert takes them from the session
            if not _SETTING_NAME.match(name):
                raise EngineError(36, f"Bad query parameter name '{name[:100]}'", "BAD_ARGUMENTS")
            handle.query(f"SET param_{name} = {_quote(value)}", "TSV")
        head = query[: scanned.format_offset or 0].decode("utf-8", "replace")
        with handle.send_insert(head, scanned.format_name or "") as inserter:
            inserter.append(data)
            result = inserter.finish()
        summary = _summary(None, time.perf_counter() - started)
        written_rows = str(int(getattr(result, "rows_written", 0)))
        summary.update(
            written_rows=written_rows,
            written_bytes=str(int(getattr(result, "bytes_written", 0))),
            read_rows=written_rows,
            total_rows_to_read=written_rows,
        )
        return summary

    def _stream(
        self, handle: Any, query: bytes, output: str, params: dict[str, str], started: float
    ) -> Answer:
        """Start a streamed answer: its first block is read here, so a refusal is still
        answered with an error status; the handle closes when the last block is sent."""
        streaming = handle.send_query(query, output, params=params)
        closed = False

        def close() -> None:
            nonlocal closed
            if not closed:
                closed = True
                try:
                    streaming.close()
                finally:
                    handle.close()

        def blocks() -> Iterator[bytes]:
            try:
                while True:
                    try:
                        chunk = next(streaming)
                    except StopIteration:
                        return
                    payload = chunk.bytes() if hasattr(chunk, "bytes") else bytes(chunk)
                    if payload:
                        yield payload
            finally:
                close()

        iterator = blocks()
        head: list[bytes] = []
        done = object()
        try:
            # the first two blocks are read here: a refusal still gets an error status,
            # and an answer of one block (most) is answered whole, with no more hops
            for _ in range(2):
                block = next(iterator, done)
                if block is done:
                    break
                head.append(block)  # type: ignore[arg-type]
        except Exception as exc:
            close()
            raise engine_error(exc) from None
        summary = _summary(None, time.perf_counter() - started)
        if block is done:
            return Answer(output, iter(head), summary)

        def chained() -> Iterator[bytes]:
            yield from head
            yield from iterator

        return Answer(output, chained(), summary, close)
