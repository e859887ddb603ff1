"""The ClickHouse HTTP interface as curl (or any plain HTTP client) uses it, checked
against what ClickHouse's documentation of the interface says a server does.

Every request goes over a real socket to uvicorn serving the session's store (or, where
limits are under test, the same engine served again with small ``Limits``).
"""

from __future__ import annotations

import base64
import csv
import gzip
import io
import json
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import lz4.frame
import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet
import pytest
from backports import zstd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentlog.store import Store
from consentlog.store.serving.app import Limits
from tests.store.serving_helpers import Served, assert_refused, own_interface, served

ROWS = "SELECT number AS n, toString(number) AS s FROM numbers(3)"


@pytest.fixture
def here(store: Store, database: str) -> Served:
    return served(store, database)


def test_ping_and_the_bare_root_answer_ok(here: Served) -> None:
    """``GET /ping``, ``/replicas_status`` and a bare ``GET /`` answer ``Ok.`` (no login)."""
    for path in ("/ping", "/replicas_status", "/"):
        answer = httpx.get(here.url.rstrip("/") + path)
        assert (200, "Ok.\n") == (answer.status_code, answer.text)


def test_an_unknown_path_is_404(here: Served) -> None:
    """A path the interface does not serve is a 404 naming it."""
    answer = httpx.get(here.url + "play", auth=here.writer)
    assert 404 == answer.status_code
    assert "/play" in answer.text


def test_the_query_in_the_url_or_in_the_body(here: Served) -> None:
    """The query comes in the ``query`` parameter (GET or POST) or as the POST body, and
    is answered in TabSeparated by default."""
    with here.client() as http:
        answers = [
            http.get("/", params={"query": "SELECT 1 + 1"}),
            http.post("/", params={"query": "SELECT 1 + 1"}),
            http.post("/", content=b"SELECT 1 + 1"),
        ]
    for answer in answers:
        assert (200, "2\n") == (answer.status_code, answer.text)
        assert "TabSeparated" == answer.headers["x-clickhouse-format"]
        assert answer.headers["content-type"].startswith("text/tab-separated-values")


def _table(here: Served, name: str, columns: str = "a String, b UInt64") -> str:
    here.sql(f"CREATE TABLE {name} ({columns}) ENGINE = MergeTree ORDER BY tuple()")
    return f"{here.database}.{name}"


@pytest.mark.parametrize(
    ("format_name", "data"),
    [
        ("CSV", b'"x,1",1\n"y\n2",2\n'),
        ("JSONEachRow", b'{"a": "x;1", "b": 1}\n{"a": "y", "b": 2}\n'),
        ("TSV", b"x\t1\ny\t2\n"),
    ],
)
def test_the_query_in_the_url_and_its_insert_data_in_the_body(
    here: Served, format_name: str, data: bytes
) -> None:
    """``query=INSERT … FORMAT X`` with the rows as the POST body inserts them."""
    table = _table(here, "t")
    with here.client() as http:
        answer = http.post(
            "/", params={"query": f"INSERT INTO {table} FORMAT {format_name}"}, content=data
        )
    assert 200 == answer.status_code, answer.text
    assert "2\t3\n" == here.sql(f"SELECT count(), sum(b) FROM {table}")


@pytest.mark.parametrize("format_name", ["Native", "RowBinary", "ArrowStream", "Arrow", "Parquet"])
def test_binary_insert_data_made_by_the_engine_arrives_whole(
    here: Served, format_name: str
) -> None:
    """A binary batch (as the engine itself writes it) is inserted whole, however many
    blank lines its bytes hold (100 000 rows; the number 2570 is ``\\n\\n`` in UInt64)."""
    table = _table(here, "t")
    source = "SELECT toString(number) AS a, number AS b FROM numbers(100000)"
    with here.client() as http:
        batch = http.post("/", content=f"{source} FORMAT {format_name}".encode()).content
        assert b"\n\n" in batch
        answer = http.post(
            "/", params={"query": f"INSERT INTO {table} FORMAT {format_name}"}, content=batch
        )
    assert 200 == answer.status_code, answer.text
    assert "100000" == json.loads(answer.headers["x-clickhouse-summary"])["written_rows"]
    assert "100000\t4999950000\n" == here.sql(f"SELECT count(), sum(b) FROM {table}")


def test_insert_data_is_never_run_as_sql(here: Served) -> None:
    """Rows after a blank line are rows, not SQL: a value cannot smuggle a statement."""
    table = _table(here, "t", "a String")
    data = b"harmless\n\nCREATE TABLE smuggled (a Int8) ENGINE = Memory;\n"
    with here.client() as http:
        answer = http.post("/", params={"query": f"INSERT INTO {table} FORMAT TSV"}, content=data)
    assert 200 == answer.status_code, answer.text
    assert "0\n" == here.sql(f"EXISTS TABLE {here.database}.smuggled")
    assert "3\n" == here.sql(f"SELECT count() FROM {table}")


def test_tsv_input_keeps_a_first_row_that_equals_the_column_names(here: Served) -> None:
    """A first TSV (or CSV) row equal to the column names is data, as on a server (chDB
    alone would drop it)."""
    table = _table(here, "t", "a String, b String")
    with here.client() as http:
        for format_name, data in (("TSV", b"a\tb\nx\ty\n"), ("CSV", b"a,b\nx,y\n")):
            query = f"INSERT INTO {table} FORMAT {format_name}"
            assert 200 == http.post("/", params={"query": query}, content=data).status_code
    assert "a\tb\na\tb\nx\ty\nx\ty\n" == here.sql(f"SELECT * FROM {table} ORDER BY a")


def test_the_database_parameter_is_the_default_database(here: Served) -> None:
    """``database=`` makes unqualified names resolve in that database."""
    _table(here, "named")
    with here.client() as http:
        answer = http.get(
            "/",
            params={
                "query": "SELECT name FROM system.tables WHERE database = currentDatabase()",
                "database": here.database,
            },
        )
    assert "named\n" == answer.text


def test_default_format_and_a_format_clause(here: Served) -> None:
    """``default_format`` is the answer's format unless the query names one."""
    with here.client() as http:
        default = http.get("/", params={"query": "SELECT 1 AS x", "default_format": "JSONEachRow"})
        named = http.get(
            "/", params={"query": "SELECT 1 AS x FORMAT CSVWithNames", "default_format": "JSON"}
        )
    assert ('{"x":1}\n', "JSONEachRow") == (default.text, default.headers["x-clickhouse-format"])
    assert ('"x"\n1\n', "CSVWithNames") == (named.text, named.headers["x-clickhouse-format"])


def test_the_query_id_is_echoed_or_made(here: Served) -> None:
    """``query_id`` comes back in ``X-ClickHouse-Query-Id``; without one, one is made."""
    with here.client() as http:
        given_id = http.get("/", params={"query": "SELECT 1", "query_id": "report-42"})
        made = [http.get("/", params={"query": "SELECT 1"}) for _ in range(2)]
    assert "report-42" == given_id.headers["x-clickhouse-query-id"]
    made_ids = {answer.headers["x-clickhouse-query-id"] for answer in made}
    assert 2 == len(made_ids)
    assert "" not in made_ids


def test_settings_come_as_url_parameters(here: Served) -> None:
    """Any other URL parameter is a setting of the query (and an unknown one is refused)."""
    with here.client() as http:
        echoed = http.get(
            "/", params={"query": "SELECT getSetting('max_result_rows')", "max_result_rows": "7"}
        )
        limited = http.get(
            "/",
            params={
                "query": "SELECT number FROM numbers(10)",
                "max_result_rows": "3",
                "result_overflow_mode": "throw",
            },
        )
        unknown = http.get("/", params={"query": "SELECT 1", "no_such_setting": "1"})
    assert "7\n" == echoed.text
    assert_refused(limited, 500, 396, "TOO_MANY_ROWS_OR_BYTES")
    assert_refused(unknown, 404, 115, "UNKNOWN_SETTING")


def test_param_x_binds_query_parameters_as_values(here: Served) -> None:
    """``param_x`` fills ``{x:Type}``: a value, never SQL, whatever quotes it holds (and,
    as on a server, written with TSV escapes)."""
    hostile = "x'); DROP TABLE t; --"
    with here.client() as http:
        answer = http.get(
            "/",
            params={
                "query": "SELECT {n:UInt32} + 1 AS n, {s:String} AS s, {e:String} AS e "
                "FORMAT JSONEachRow",
                "param_n": "41",
                "param_s": hostile,
                "param_e": "tab\\there",
            },
        )
    assert {"n": 42, "s": hostile, "e": "tab\there"} == json.loads(answer.text)


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def _string(data: bytes, at: int) -> tuple[str, int]:
    size, at = _varint(data, at)
    return data[at : at + size].decode(), at + size


def _row_binary_with_names_and_types(body: bytes) -> list[tuple[int, str]]:
    count, at = _varint(body, 0)
    header = []
    for _ in range(2 * count):
        value, at = _string(body, at)
        header.append(value)
    assert ["n", "s", "UInt64", "String"] == header
    rows = []
    while at < len(body):
        (number,) = struct.unpack_from("<Q", body, at)
        text, at = _string(body, at + 8)
        rows.append((number, text))
    return rows


def _native(body: bytes) -> list[tuple[int, str]]:
    columns, at = _varint(body, 0)
    count, at = _varint(body, at)
    assert 2 == columns
    name, at = _string(body, at)
    kind, at = _string(body, at)
    assert ("n", "UInt64") == (name, kind)
    numbers = list(struct.unpack_from(f"<{count}Q", body, at))
    at += 8 * count
    name, at = _string(body, at)
    kind, at = _string(body, at)
    assert ("s", "String") == (name, kind)
    texts = []
    for _ in range(count):
        text, at = _string(body, at)
        texts.append(text)
    assert len(body) == at
    return list(zip(numbers, texts, strict=True))


def _arrow(body: bytes) -> list[tuple[int, str]]:
    return _rows(pyarrow.ipc.open_file(pa.BufferReader(body)).read_all())


def _arrow_stream(body: bytes) -> list[tuple[int, str]]:
    return _rows(pyarrow.ipc.open_stream(pa.BufferReader(body)).read_all())


def _parquet(body: bytes) -> list[tuple[int, str]]:
    return _rows(pyarrow.parquet.read_table(io.BytesIO(body)))


def _rows(table: pa.Table) -> list[tuple[int, str]]:
    return list(zip(table.column("n").to_pylist(), table.column("s").to_pylist(), strict=True))


THREE = [(0, "0"), (1, "1"), (2, "2")]
PARSERS: dict[str, Callable[[bytes], list[tuple[int, str]]]] = {
    "JSON": lambda body: [(int(r["n"]), r["s"]) for r in json.loads(body)["data"]],
    "JSONEachRow": lambda body: [
        (int(r["n"]), r["s"]) for r in map(json.loads, body.decode().splitlines())
    ],
    "TabSeparatedWithNames": lambda body: [
        (int(n), s) for n, s in (line.split("\t") for line in body.decode().splitlines()[1:])
    ],
    "CSVWithNames": lambda body: [
        (int(n), s) for n, s in list(csv.reader(io.StringIO(body.decode())))[1:]
    ],
    "Native": _native,
    "RowBinaryWithNamesAndTypes": _row_binary_with_names_and_types,
    "Arrow": _arrow,
    "ArrowStream": _arrow_stream,
    "Parquet": _parquet,
}


@pytest.mark.parametrize("format_name", sorted(PARSERS))
def test_every_output_format_is_the_engine_s_own(here: Served, format_name: str) -> None:
    """Each output format is answered with ``X-ClickHouse-Format`` naming it and a body
    its own reader parses back to the rows."""
    with here.client() as http:
        answer = http.get("/", params={"query": f"{ROWS} FORMAT {format_name}"})
    assert 200 == answer.status_code, answer.text
    assert format_name == answer.headers["x-clickhouse-format"]
    assert THREE == PARSERS[format_name](answer.content)


def test_the_summary_and_timezone_headers(here: Served) -> None:
    """``X-ClickHouse-Summary`` is JSON with the server's keys (an insert counts its
    rows), and ``X-ClickHouse-Timezone`` is the engine's time zone."""
    table = _table(here, "t")
    with here.client() as http:
        inserted = http.post(
            "/", params={"query": f"INSERT INTO {table} FORMAT TSV"}, content=b"x\t1\ny\t2\n"
        )
        selected = http.get("/", params={"query": "SELECT timezone()"})
    summary = json.loads(inserted.headers["x-clickhouse-summary"])
    assert {
        "read_rows",
        "read_bytes",
        "written_rows",
        "written_bytes",
        "total_rows_to_read",
        "result_rows",
        "result_bytes",
        "elapsed_ns",
    } <= set(summary)
    assert "2" == summary["written_rows"]
    assert selected.text.strip() == selected.headers["x-clickhouse-timezone"]
    assert isinstance(json.loads(selected.headers["x-clickhouse-summary"]), dict)


ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "zstd": zstd.compress,
    "lz4": lz4.frame.compress,
}
DECODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.decompress,
    "deflate": zlib.decompress,
    "zstd": zstd.decompress,
    "lz4": lz4.frame.decompress,
}


@pytest.mark.parametrize("encoding", sorted(ENCODERS))
def test_compressed_request_bodies(here: Served, encoding: str) -> None:
    """A body sent with ``Content-Encoding`` gzip, deflate, zstd or lz4 (frame) is
    inflated: a query, and the data of an insert whose query is in the URL."""
    table = _table(here, "t")
    encode = ENCODERS[encoding]
    headers = {"Content-Encoding": encoding}
    with here.client() as http:
        query = http.post("/", content=encode(b"SELECT 40 + 2"), headers=headers)
        insert = http.post(
            "/",
            params={"query": f"INSERT INTO {table} FORMAT TSV"},
            content=encode(b"".join(b"r%d\t%d\n" % (i, i) for i in range(1000))),
            headers=headers,
        )
    assert "42\n" == query.text
    assert 200 == insert.status_code, insert.text
    assert "1000\t499500\n" == here.sql(f"SELECT count(), sum(b) FROM {table}")


@pytest.mark.parametrize("encoding", sorted(DECODERS))
def test_compressed_answers(here: Served, encoding: str) -> None:
    """An answer is compressed in the encoding ``Accept-Encoding`` offers, with
    ``enable_http_compression=1`` and by default (a server's default since 25.11)."""
    numbers = b"".join(b"%d\n" % i for i in range(100000))
    for asked in ({"enable_http_compression": "1"}, {}):
        params = {"query": "SELECT number FROM numbers(100000)", **asked}
        with (
            here.client() as http,
            http.stream("GET", "/", params=params, headers={"Accept-Encoding": encoding}) as answer,
        ):
            assert encoding == answer.headers["content-encoding"]
            compressed = b"".join(answer.iter_raw())
        assert numbers == DECODERS[encoding](compressed)


def test_an_answer_is_plain_unless_offered_and_enabled(here: Served) -> None:
    """No ``Accept-Encoding``, or ``enable_http_compression=0``: the answer is plain."""
    with here.client() as http:
        for params, offered in (({}, "identity"), ({"enable_http_compression": "0"}, "gzip")):
            answer = http.get(
                "/", params={"query": "SELECT 1", **params}, headers={"Accept-Encoding": offered}
            )
            assert "content-encoding" not in answer.headers
            assert "1\n" == answer.text


READONLY_LEVEL = "SELECT getSetting('readonly')"


def test_the_three_ways_to_log_in(here: Served) -> None:
    """Basic auth, ``X-ClickHouse-User``/``-Key`` and ``user``/``password`` parameters each
    log in as the user they name (the analyst's queries run at ``readonly = 1``)."""
    for (name, password), level in ((here.writer, "0\n"), (here.analyst, "1\n")):
        answers = [
            httpx.post(here.url, content=READONLY_LEVEL, auth=(name, password)),
            httpx.post(
                here.url,
                content=READONLY_LEVEL,
                headers={"X-ClickHouse-User": name, "X-ClickHouse-Key": password},
            ),
            httpx.post(
                here.url, content=READONLY_LEVEL, params={"user": name, "password": password}
            ),
        ]
        assert [level] * 3 == [answer.text for answer in answers]


@pytest.mark.parametrize(
    "login",
    [
        {"auth": ("consentlog", "wrong")},
        {"headers": {"X-ClickHouse-User": "analyst", "X-ClickHouse-Key": ""}},
        {"params": {"user": "default", "password": ""}},
        {},  # nobody: the 'default' user, which does not exist here
    ],
)
def test_a_wrong_login_is_authentication_failed(here: Served, login: dict[str, object]) -> None:
    """A wrong password, an unknown user or none at all is refused before any query runs."""
    answer = httpx.post(here.url, content=b"SELECT 1", **login)  # type: ignore[arg-type]
    assert_refused(answer, 401, 516, "AUTHENTICATION_FAILED")


def test_get_is_read_only_for_the_writer_too(here: Served) -> None:
    """Over GET even the read-write user runs at ``readonly = 2``: an insert is refused,
    settings may still change; the same insert over POST is written."""
    table = _table(here, "t")
    insert = f"INSERT INTO {table} VALUES ('x', 1)"
    with here.client() as http:
        refused = http.get("/", params={"query": insert})
        settings = http.get("/", params={"query": "SELECT 1 SETTINGS max_threads = 1"})
        written = http.post("/", params={"query": insert})
    assert_refused(refused, 403, 164, "READONLY")
    assert ("1\n", 200) == (settings.text, written.status_code)
    assert "1\n" == here.sql(f"SELECT count() FROM {table}")


def test_the_analyst_is_refused_by_the_engine_with_403(here: Served) -> None:
    """The analyst's writes and file access are refused by the engine's ``readonly``
    (``READONLY``, 403), however they are sent."""
    table = _table(here, "t")
    with here.client(analyst=True) as http:
        for query in (
            f"INSERT INTO {table} VALUES ('x', 1)",
            "SELECT * FROM url('http://127.0.0.1:9/', 'LineAsString')",
            "SET max_execution_time = 0",
        ):
            assert_refused(http.post("/", content=query), 403, 164, "READONLY")
        data = http.post(
            "/", params={"query": f"INSERT INTO {table} FORMAT TSV"}, content=b"x\t1\n"
        )
        assert_refused(data, 403, 164, "READONLY")
    assert "0\n" == here.sql(f"SELECT count() FROM {table}")


def test_what_chdb_lets_a_readonly_user_do_and_a_server_does_not_is_refused(
    here: Served, tmp_path: Path
) -> None:
    """chDB's local mode reads any file for ``file()`` and lets ``KILL`` stop others'
    queries under ``readonly = 1``: the analyst is refused both, however ``file`` is
    spelled; ``Python()`` (objects of the serving process) is off for every user."""
    secret = tmp_path / "secret.txt"
    secret.write_text("the read-write password")
    with here.client(analyst=True) as http:
        for query in (
            f"SELECT file('{secret}')",
            f"SELECT `file`('{secret}')",
            f"SELECT arrayMap(x -> \"file\"(x), ['{secret}'])",
            f"SELECT * FROM file('{secret}', 'LineAsString')",
            f"SELECT `\\x66ile`('{secret}')",  # ClickHouse un-escapes quoted names
            f"SELECT \"fi\\x6ce\"('{secret}')",
            "KILL QUERY WHERE 1",
            "SYSTEM STOP MERGES",
        ):
            answer = http.post("/", content=query)
            assert_refused(answer, 403, 497, "ACCESS_DENIED")
            assert "password" not in answer.text
    for analyst in (True, False):
        with here.client(analyst=analyst) as http:
            answer = http.post("/", content="SELECT * FROM Python(here)")
            assert "Python table function is disabled" in answer.text, answer.text
    with here.client(analyst=False) as http:  # the site's own user: the site's own files
        assert "the read-write password" == http.post(
            "/", content=f"SELECT file('{secret}')"
        ).text.strip().strip("'")


@pytest.mark.parametrize("analyst", [True, False])
def test_files_of_the_client_are_refused_for_everyone(
    here: Served, analyst: bool, tmp_path: Path
) -> None:
    """``INTO OUTFILE`` and ``FROM INFILE`` are refused as a server refuses them over
    HTTP: no user makes the serving process write or read a file by them."""
    target = tmp_path / "written.tsv"
    with here.client(analyst=analyst) as http:
        outfile = http.post("/", content=f"SELECT 1 INTO/**/OUTFILE '{target}'")
        infile = http.post(
            "/", content=f"INSERT INTO {here.database}.x FROM INFILE '/etc/hostname' FORMAT TSV"
        )
    assert_refused(outfile, 500, 358, "INTO_OUTFILE_NOT_ALLOWED")
    assert_refused(infile, 404, 78, "UNKNOWN_TYPE_OF_QUERY")
    assert not target.exists()


def test_errors_are_clickhouse_s_own(here: Served) -> None:
    """An error is ``Code: N. DB::Exception: … (NAME)`` with the code in
    ``X-ClickHouse-Exception-Code`` and a server's status."""
    with here.client() as http:
        unknown_table = http.get("/", params={"query": f"SELECT * FROM {here.database}.nope"})
        syntax = http.get("/", params={"query": "SELECT FROM WHERE"})
    assert_refused(unknown_table, 404, 60, "UNKNOWN_TABLE")
    assert_refused(syntax, 400, 62, "SYNTAX_ERROR")


def test_several_statements_are_refused_whole(here: Served) -> None:
    """Several statements in one request are a syntax error (code 62), as on a server,
    and none of them runs; a trailing ';' is one statement."""
    table = _table(here, "t")
    with here.client() as http:
        two = http.post(
            "/", content=f"INSERT INTO {table} VALUES ('a', 1); INSERT INTO {table} VALUES ('b', 2)"
        )
        one = http.post("/", content=b"SELECT 1;")
    assert_refused(two, 400, 62, "SYNTAX_ERROR")
    assert "Multi-statements are not allowed" in two.text
    assert "1\n" == one.text
    assert "0\n" == here.sql(f"SELECT count() FROM {table}")


def test_a_bare_word_is_a_syntax_error_not_an_implicit_select(here: Served) -> None:
    """``implicit_select`` is off: a bare ``S`` is a syntax error, not ``SELECT S``."""
    with here.client() as http:
        answer = http.get("/", params={"query": "S"})
    assert_refused(answer, 400, 62, "SYNTAX_ERROR")


@pytest.fixture
def small(store: Store, database: str) -> Iterator[Served]:
    """The same engine served again: bodies up to 64 KiB, one query at a time with one
    waiting, one second per query."""
    limits = Limits(
        max_body_bytes=64 * 1024,
        max_concurrent_queries=1,
        max_queued_queries=1,
        max_execution_time=1,
    )
    with own_interface(store, database, limits) as interface:
        yield interface


def test_sql_over_max_query_size_is_refused_before_it_is_scanned(here: Served) -> None:
    """More than 256 KiB of SQL is refused (code 62) at once, as a server's
    max_query_size does; an analyst's body over 1 MiB is refused unread (413)."""
    with here.client() as http:
        long_sql = http.post("/", content=b"SELECT 1 -- " + b"x" * 300_000)
    assert_refused(long_sql, 400, 62, "SYNTAX_ERROR")
    assert "Max query size exceeded" in long_sql.text
    with here.client(analyst=True) as http:
        big = http.post("/", content=b"SELECT 1 -- " + b"x" * (1024 * 1024 + 10))
    assert_refused(big, 413, 229, "QUERY_IS_TOO_LARGE")


def test_a_body_over_the_bound_is_413(small: Served) -> None:
    """A body over ``max_body_bytes`` is refused with 413 (``QUERY_IS_TOO_LARGE``), and
    so is a small gzip body that inflates past it; a body within it is read."""
    padding = b"SELECT 1 -- " + b"x" * (64 * 1024)
    bomb = gzip.compress(b"SELECT 1 -- " + b"0" * 10_000_000)
    assert len(bomb) < 64 * 1024
    with small.client() as http:
        plain = http.post("/", content=padding)
        inflated = http.post("/", content=bomb, headers={"Content-Encoding": "gzip"})
        within = http.post(
            "/", content=gzip.compress(padding[:60_000]), headers={"Content-Encoding": "gzip"}
        )
    assert_refused(plain, 413, 229, "QUERY_IS_TOO_LARGE")
    assert_refused(inflated, 413, 229, "QUERY_IS_TOO_LARGE")
    assert "1\n" == within.text


def test_a_full_queue_is_503(small: Served) -> None:
    """With one query running and one waiting, a third is refused at once with 503
    (``TOO_MANY_SIMULTANEOUS_QUERIES``); the two others are answered."""
    answers: list[httpx.Response] = []

    def ask() -> None:
        with small.client() as http:
            answers.append(http.get("/", params={"query": "SELECT sleep(0.8)"}))

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [200, 200, 503] == sorted(answer.status_code for answer in answers)
    (refused,) = [answer for answer in answers if 503 == answer.status_code]
    assert_refused(refused, 503, 202, "TOO_MANY_SIMULTANEOUS_QUERIES")


def test_the_analysts_queries_never_hold_the_sites_slots(small: Served) -> None:
    """The read-only user queues apart from the site's user: while an analyst's query runs
    and another waits (its queue is full), the site's query is answered at once."""
    answers: dict[str, httpx.Response] = {}

    def ask(name: str) -> None:
        with small.client(analyst=True) as http:
            answers[name] = http.get("/", params={"query": "SELECT sleep(0.8)"})

    threads = [threading.Thread(target=ask, args=(f"analyst {i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    with small.client() as http:
        site = http.get("/", params={"query": "SELECT 1"})
    waited = time.monotonic() - started
    for thread in threads:
        thread.join()
    assert ("1\n", True) == (site.text, waited < 0.5)
    assert [200, 200, 503] == sorted(a.status_code for a in answers.values())


def test_max_execution_time_is_capped(small: Served) -> None:
    """A query may ask for less time than the cap, never more: past the cap it is
    stopped with ``TIMEOUT_EXCEEDED``."""
    with small.client() as http:
        asked_less = http.get(
            "/",
            params={
                "query": "SELECT getSetting('max_execution_time')",
                "max_execution_time": "0.5",
            },
        )
        asked_more = http.get(
            "/",
            params={
                "query": "SELECT getSetting('max_execution_time')",
                "max_execution_time": "3600",
            },
        )
        started = time.monotonic()
        stopped = http.get("/", params={"query": "SELECT sleep(3)", "max_execution_time": "3600"})
        took = time.monotonic() - started
    assert ("0.5\n", "1\n") == (asked_less.text, asked_more.text)
    assert_refused(stopped, 408, 159, "TIMEOUT_EXCEEDED")
    assert took < 2.5


def test_a_large_result_is_streamed_in_many_chunks(here: Served) -> None:
    """Two million rows arrive chunked (no Content-Length), block by block, and whole."""
    with (
        here.client() as http,
        http.stream(
            "GET",
            "/",
            params={"query": "SELECT number FROM numbers(2000000)"},
            headers={"Accept-Encoding": "identity"},
        ) as answer,
    ):
        assert "content-length" not in answer.headers
        chunks = list(answer.iter_raw())
    body = b"".join(chunks)
    assert len(chunks) > 10
    assert b"".join(b"%d\n" % i for i in range(2_000_000)) == body


def test_an_error_mid_stream_is_written_into_the_body(here: Served) -> None:
    """An error after the first block has gone is the end of the body, in ClickHouse's
    words (the status, already sent, stays 200)."""
    query = "SELECT throwIf(number = 300000) FROM numbers(1000000) SETTINGS max_block_size = 1000"
    with here.client() as http:
        answer = http.get("/", params={"query": query})
    assert 200 == answer.status_code
    assert answer.text.startswith("0\n0\n")
    last = answer.text.rstrip("\n").rsplit("\n", 1)[-1]
    assert last.startswith("Code: 395. DB::Exception: ")
    assert last.endswith("(FUNCTION_THROW_IF_VALUE_IS_NON_ZERO)")


def test_a_client_that_goes_away_ends_its_query(store: Store, database: str) -> None:
    """When the client closes the connection mid-answer, the query stops and its slot
    is free at once, not when the time cap ends it."""
    limits = Limits(max_concurrent_queries=1, max_queued_queries=1, max_execution_time=30)
    with own_interface(store, database, limits) as one_slot, one_slot.client() as http:
        with http.stream(
            "GET", "/", params={"query": "SELECT number FROM system.numbers"}
        ) as endless:
            next(endless.iter_raw())
        started = time.monotonic()
        after = http.get("/", params={"query": "SELECT 1"})
        took = time.monotonic() - started
    assert "1\n" == after.text
    assert took < 5


@pytest.fixture(scope="module")
def pool() -> Iterator[httpx.Client]:
    """One client for many examples; each request on a new connection (``close``)."""
    with httpx.Client(timeout=60, headers={"Connection": "close"}) as http:
        yield http


def _header_value(raw: bytes) -> bytes:
    """``raw`` as a value HTTP lets a header carry (visible bytes, spaces inside)."""
    return bytes(b for b in raw if b == 0x09 or 0x20 <= b != 0x7F).strip(b" \t")


_header_bytes = st.binary(max_size=60).map(_header_value)
_authorization = st.one_of(
    st.builds(lambda raw: _header_value(b"Basic " + raw), st.binary(max_size=60)),
    st.builds(lambda raw: b"Basic " + base64.b64encode(raw), st.binary(min_size=1, max_size=40)),
    _header_bytes,
)
_encoding = st.one_of(
    st.sampled_from(["gzip", "deflate", "zstd", "lz4", "br", "x-gzip", "gzip, gzip"]),
    _header_bytes.map(lambda raw: raw.decode("latin-1") or "junk"),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    authorization=st.one_of(st.none(), _authorization),
    user=st.one_of(st.none(), _header_bytes),
    encoding=_encoding,
    body=st.one_of(
        st.binary(max_size=200), st.binary(max_size=200).map(lambda b: b"\x1f\x8b\x08" + b)
    ),
)
def test_transport_junk_is_a_client_error_and_the_server_stays_up(
    here: Served,
    pool: httpx.Client,
    authorization: bytes | None,
    user: bytes | None,
    encoding: str,
    body: bytes,
) -> None:
    """Bad login headers (any bytes), unknown or lying ``Content-Encoding`` and corrupt
    compressed bodies are answered below 500, in ClickHouse's form, and the server
    answers the next request."""
    headers: dict[bytes, bytes] = {b"Content-Encoding": encoding.encode("latin-1")}
    if authorization is not None:
        headers[b"Authorization"] = authorization
    if user is not None:
        headers[b"X-ClickHouse-User"] = user
    answer = pool.post(here.url, params={"query": "SELECT 1"}, content=body, headers=headers)
    assert answer.status_code < 500, answer.text
    if 200 != answer.status_code:
        assert answer.headers["x-clickhouse-exception-code"].isdigit()
        assert answer.text.startswith("Code: ")
    assert "Ok.\n" == pool.get(here.url + "ping").text


_names = st.one_of(
    st.sampled_from(
        ["query", "database", "default_format", "query_id", "max_execution_time", "readonly",
         "param_x", "param_", "enable_http_compression", "max_result_rows", "session_id"]
    ),
    st.text(max_size=20),
)  # fmt: skip


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    query=st.one_of(
        st.text(max_size=80),
        st.sampled_from(["SELECT {x:String}", "SELECT 1 FORMAT ", "SELECT 1;", "SHOW TABLES"]),
    ),
    params=st.dictionaries(_names, st.text(max_size=30), max_size=4),
    in_body=st.booleans(),
)
def test_any_query_and_parameters_get_a_clickhouse_answer(
    here: Served, pool: httpx.Client, query: str, params: dict[str, str], in_body: bool
) -> None:
    """Any query text with any parameters (as the analyst) gets a result or an error in
    ClickHouse's form, and the server answers the next request."""
    if in_body:
        params.pop("query", None)
        answer = pool.post(here.url, params=params, content=query.encode(), auth=here.analyst)
    else:
        answer = pool.get(here.url, params={**params, "query": query}, auth=here.analyst)
    if 200 != answer.status_code:
        assert 400 <= answer.status_code <= 503, answer.text
        assert answer.text.startswith("Code: "), answer.text
        assert answer.headers["x-clickhouse-exception-code"].isdigit()
    assert "Ok.\n" == pool.get(here.url + "ping").text


def test_a_kept_alive_connection_is_answered_in_milliseconds(here: Served) -> None:
    """On one kept-alive connection (as clickhouse-connect keeps them) a request is
    answered in milliseconds: the answer's writes are not held back for the client's
    delayed ACK (``TCP_NODELAY``), which costs about 40 ms a request."""
    with httpx.Client() as http:
        http.get(here.url + "ping")
        started = time.monotonic()
        for _ in range(10):
            http.get(here.url + "ping")
        each = (time.monotonic() - started) / 10
    assert each < 0.015
