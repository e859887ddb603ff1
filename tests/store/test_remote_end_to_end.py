"""consentlog's own ``http://`` store path end to end against ``consentlog serve``, and the
requests Grafana's ClickHouse data source sends over HTTP.

``consentlog serve`` runs as a subprocess owning its own embedded store (chDB opens one
path per process, and this process may host the test session's store). This process
then reaches it only as a site's worker, the CLI or a BI tool would: through
``http://user:password@127.0.0.1:PORT``. The Grafana requests are built as clickhouse-go
(the plugin's driver, ``conn_http.go``) builds them; what the plugin sends is listed in
``docs/grafana.md``.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import re
import signal
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import clickhouse_connect
import httpx
import pyarrow as pa
import pytest

from consentlog.analytics.metrics import page_report
from consentlog.analytics.rollup import roll_up, watermark
from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.exceptions import StoreError
from consentlog.ingest.events import ConsentRecord, Event
from consentlog.ingest.writer import Writer
from consentlog.store import Store, open_store
from consentlog.store.remote import RemoteStore
from consentlog.store.schema import LATEST, MIGRATIONS, migrate, row_counts, schema_version
from consentlog.testing import call, http_scope, visitor_cookies
from tests.analytics.grafana import ALL_HOSTS, CONSTANTS, QUERIES, expand_macros
from tests.helpers import DAY, SECRET, cli_env, free_port, generate, generate_goals, host_app

pytestmark = pytest.mark.slow  # a served store, migrations and three CLI processes: ~25 s

WRITER_PASSWORD = "e2e-writer-password-0123456789"
ANALYST_PASSWORD = "e2e-analyst-password-0123456789"
CLI = [sys.executable, "-m", "consentlog.cli"]
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0"


@dataclass
class Served:
    """A ``consentlog serve`` subprocess and how to reach it."""

    process: subprocess.Popen[bytes]
    port: int
    directory: Path
    stdout: Path
    stderr: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, user: str = "consentlog", password: str = WRITER_PASSWORD) -> str:
        """The ``clickhouse_url`` of the served store for ``user``."""
        return f"http://{user}:{password}@127.0.0.1:{self.port}"

    def stop(self) -> int:
        """SIGTERM, then the exit status (killed after 30 s)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def _wait_for_ping(served: Served, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if served.process.poll() is not None:
            raise AssertionError(f"consentlog serve exited: {served.stderr.read_text()}")
        try:
            if httpx.get(served.base + "/ping", timeout=2).text == "Ok.\n":
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("consentlog serve did not answer /ping within 60 s")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("served")
    port = free_port()
    env = {
        **cli_env(),
        "CONSENTLOG_SERVE_PASSWORD": WRITER_PASSWORD,
        "CONSENTLOG_SERVE_ANALYST_PASSWORD": ANALYST_PASSWORD,
    }
    stdout, stderr = directory / "serve.out", directory / "serve.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [*CLI, "serve", "--clickhouse-url", f"chdb://{directory / 'store'}",
             "--listen", f"127.0.0.1:{port}"],
            cwd=directory, env=env, stdout=out, stderr=err,
        )  # fmt: skip
    served = Served(process, port, directory, stdout, stderr)
    try:
        _wait_for_ping(served)
        yield served
    finally:
        for url in (served.url(), served.url("analyst", ANALYST_PASSWORD)):
            open_store(url).close()
        served.stop()


@pytest.fixture(scope="module")
def remote(served: Served) -> Store:
    """The served store as consentlog opens an ``http://`` URL (read-write user)."""
    return open_store(served.url())


def _cli(served: Served, *args: str) -> subprocess.CompletedProcess[str]:
    """A ``consentlog`` command on the served store, in its own process."""
    return subprocess.run(
        [*CLI, *args, "--clickhouse-url", served.url()],
        cwd=served.directory,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _write(store: Store, database: str, events: list[Event], spool: Path) -> Writer:
    """Every event through a real writer into ``database``, then the writer stopped."""
    writer = Writer(store, database=database, spool_dir=spool, batch_size=5000,
                    flush_interval=0.02)  # fmt: skip
    for event in events:
        writer.submit(event)
    # flush() until every event is written, not once: after a failed insert, flush() can
    # return True before the retry (Writer._write_queue releases the failed batch before
    # spooling it, and flush() finds it in neither place)
    deadline = time.monotonic() + 60
    while writer.counters.written < len(events) and time.monotonic() < deadline:
        writer.flush(5)
    assert writer.stop(10)
    assert len(events) == writer.counters.written
    return writer


# -- the http:// store path ---------------------------------------------------------------


def test_migrate_creates_the_schema_through_the_served_store(remote: Store) -> None:
    """`migrate` over http:// applies every migration once and leaves the current schema."""
    assert [m.version for m in MIGRATIONS] == migrate(remote, "e2e_migrate")
    assert [] == migrate(remote, "e2e_migrate")
    assert LATEST == schema_version(remote, "e2e_migrate")
    assert {"page_requests": 0, "engagements": 0, "consent_records": 0, "goals": 0,
            "browser_checks": 0} == row_counts(remote, "e2e_migrate")  # fmt: skip


def test_an_insert_repeated_with_its_token_lands_once(remote: Store) -> None:
    """The same column-oriented batch inserted twice with one token is stored once; with
    another token, again."""
    migrate(remote, "e2e_tokens")
    table = "e2e_tokens.subject_requests"
    batch: list[list[Any]] = [
        [1_700_000_000_000, 1_700_000_000_001], ["export", "erase"], ["operator"] * 2, [1, 2]
    ]  # fmt: skip
    columns = ["ts", "request", "channel", "rows"]
    remote.insert(table, batch, columns, dedup_token="batch-1")
    remote.insert(table, batch, columns, dedup_token="batch-1")
    assert [(2,)] == remote.query(f"SELECT count() FROM {table}")[1]
    remote.insert(table, batch, columns, dedup_token="batch-2")
    assert [(4,)] == remote.query(f"SELECT count() FROM {table}")[1]


def test_binary_insert_data_holding_blank_lines_lands_whole(remote: Store) -> None:
    """Native and Arrow inserts whose data holds a blank line (two line feeds, common in
    binary batches) are stored whole, as a server stores them."""
    migrate(remote, "e2e_blank_lines")
    table = "e2e_blank_lines.subject_requests"
    columns = ["ts", "request", "channel", "rows"]
    remote.insert(table, [[0x0A0A], ["export\n\n"], ["operator"], [0x0A0A]], columns,
                  dedup_token="native")  # fmt: skip
    arrow = pa.table({"ts": [0x0A0A], "request": ["erase\n\n"], "channel": ["self-service"],
                      "rows": pa.array([0x0A0A], pa.uint64())})  # fmt: skip
    remote.insert_arrow(table, arrow, dedup_token="arrow")
    _, found = remote.query(f"SELECT request, rows FROM {table} ORDER BY request")
    assert [("erase\n\n", 0x0A0A), ("export\n\n", 0x0A0A)] == found


class LostAnswers:
    """The served store, but the first ``lose`` Arrow inserts are answered with an error
    after ClickHouse stored them (a connection dropped after the write)."""

    def __init__(self, store: Store, lose: int) -> None:
        self._store = store
        self._lose = lose
        self.tokens: list[str] = []

    def insert_arrow(self, table: str, data: Any, *, dedup_token: str) -> None:
        self.tokens.append(dedup_token)
        self._store.insert_arrow(table, data, dedup_token=dedup_token)
        if self._lose:
            self._lose -= 1
            raise ConnectionError("injected: the answer was lost after the write")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_the_writer_retries_a_lost_answer_with_its_token_and_stores_once(
    remote: Store, tmp_path: Path
) -> None:
    """A writer batch stored but answered with a failure is retried with the same token,
    and every page request is in the served store once."""
    pages, _ = generate()
    pages = pages[:300]
    store = LostAnswers(remote, lose=1)
    writer = _write(store, "e2e_writer", list(pages), tmp_path)
    assert writer.counters.failures >= 1
    assert len(store.tokens) > len(set(store.tokens)), "no insert was retried"
    _, [(n, ids)] = remote.query(
        "SELECT count(), uniqExact(pageview_id) FROM e2e_writer.page_requests"
    )
    assert (300, 300) == (n, ids)


def _consented_requests(middleware: ConsentMiddleware, paths: list[str]) -> str:
    """Send ``paths`` as one returning visitor who accepted analytics; their visitor id."""
    cookie = visitor_cookies(middleware)
    headers = [(b"cookie", cookie.encode()), (b"user-agent", BROWSER.encode())]

    async def send() -> None:
        for path in paths:
            answer = await call(middleware, http_scope(path, headers=headers))
            assert 200 == answer.status

    asyncio.run(send())
    found = re.search(r"cl_vid=([^;]+)", cookie)
    assert found is not None
    return found.group(1)


def test_the_site_logs_reports_exports_and_forgets_through_the_served_store(
    served: Served, remote: Store, tmp_path: Path
) -> None:
    """A site on the http:// URL stores its consented page views; `export --visitor` lists
    them, `forget --visitor` deletes them before it returns, and no mutation is pending."""
    middleware = ConsentMiddleware(
        host_app(), secret_keys=[SECRET], clickhouse_url=served.url(), database="e2e_site",
        flush_interval=0.05, spool_dir=str(tmp_path),
    )  # fmt: skip
    try:
        visitor = _consented_requests(middleware, ["/docs/a"] * 3 + ["/docs/b"] * 2)
        assert middleware.writer.flush(), "writer did not flush"
    finally:
        middleware.writer.stop()
    count_of_visitor = "SELECT count() FROM e2e_site.page_requests WHERE visitor_id = {v:String}"
    assert [(5,)] == remote.query(count_of_visitor, {"v": visitor})[1]

    exported = _cli(served, "export", "--database", "e2e_site", "--visitor", visitor)
    assert 0 == exported.returncode, exported.stderr
    rows = json.loads(exported.stdout)["page_requests"]
    assert ["/docs/a"] * 3 + ["/docs/b"] * 2 == sorted(r["path"] for r in rows)
    assert {visitor} == {r["visitor_id"] for r in rows}

    forgotten = _cli(served, "forget", "--database", "e2e_site", "--visitor", visitor)
    assert 0 == forgotten.returncode, forgotten.stderr
    assert {"consent_records": 0, "page_requests": 5, "engagements": 0, "goals": 0} == (
        json.loads(forgotten.stdout)["erased"]
    )
    assert [(0,)] == remote.query(count_of_visitor, {"v": visitor})[1]
    _, pending = remote.query(
        "SELECT command FROM system.mutations WHERE database = 'e2e_site' AND NOT is_done"
    )
    assert [] == pending


def test_rollup_and_report_through_the_served_store(
    served: Served, remote: Store, tmp_path: Path
) -> None:
    """`roll_up` over http:// rolls the complete day up, and `consentlog report` (reading the
    rollup) gives what the raw rows gave before it."""
    pages, engagements = generate()
    _write(remote, "e2e_rollup", [*pages, *engagements], tmp_path)
    from_raw = [p.as_dict() for p in page_report(remote, "e2e_rollup", DAY, DAY)]
    assert from_raw, "the generated day has no pages"
    two_days_later = datetime.datetime.combine(DAY, datetime.time(), datetime.UTC) + (
        datetime.timedelta(days=2)
    )
    assert [DAY] == roll_up(remote, "e2e_rollup", now=two_days_later)
    assert DAY == watermark(remote, "e2e_rollup")
    report = _cli(
        served, "report", "--database", "e2e_rollup", "--start", str(DAY), "--end", str(DAY),
        "--json",
    )  # fmt: skip
    assert 0 == report.returncode, report.stderr
    assert from_raw == json.loads(report.stdout)


def test_the_analyst_user_cannot_write(served: Served) -> None:
    """The read-only `analyst` user reads, and its insert or DDL is refused as READONLY."""
    analyst = clickhouse_connect.get_client(
        host="127.0.0.1", port=served.port, username="analyst", password=ANALYST_PASSWORD
    )
    try:
        assert 1 == analyst.command("SELECT 1")
        with pytest.raises(clickhouse_connect.driver.exceptions.DatabaseError, match="164"):
            analyst.command("INSERT INTO consentlog.subject_requests (request) VALUES ('x')")
        with pytest.raises(clickhouse_connect.driver.exceptions.DatabaseError, match="164"):
            analyst.command("CREATE TABLE consentlog.e2e_intruder (x UInt8) ENGINE = Memory")
        assert 0 == analyst.command("SELECT count() FROM consentlog.subject_requests")
    finally:
        analyst.close()


def test_an_unreachable_server_is_one_store_error_without_a_driver_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Nothing listening: one StoreError naming the address (IPv6 in brackets), no
    clickhouse-connect warning beside it, and never the password."""
    store = RemoteStore(f"http://consentlog:secret-pw@[::1]:{free_port()}")
    with caplog.at_level(logging.WARNING), pytest.raises(StoreError) as refused:
        store.query("SELECT 1")
    assert str(refused.value).startswith(f"cannot reach ClickHouse at {store.description}: ")
    assert "secret-pw" not in str(refused.value)
    assert [] == [r.getMessage() for r in caplog.records if r.name.startswith("clickhouse")]


@pytest.mark.parametrize(
    ("url", "described"),
    [
        ("http://u:pw@[::1]:8123/db", "http://[::1]:8123/db"),
        ("https://u:pw@Example.ORG", "https://example.org"),
        ("http://u:pw@127.0.0.1:80a", "http://127.0.0.1:80a"),
    ],
)
def test_a_remote_store_is_described_without_credentials(url: str, described: str) -> None:
    """The description is the URL as written, less its credentials, even with a bad port."""
    assert described == RemoteStore(url).description


def test_a_bad_port_is_named_before_any_connection() -> None:
    """A port that is no number from 1 to 65535 is one StoreError saying so."""
    with pytest.raises(StoreError, match="not a number from 1 to 65535"):
        RemoteStore("http://u:pw@127.0.0.1:99999").client()


# -- Grafana's ClickHouse data source over HTTP (clickhouse-go) -----------------------------

# clickhouse-go sends this in every HTTP request's URL (DBMS_TCP_PROTOCOL_VERSION) and reads
# Native answers as a server writes them for it (lib/proto/block.go, Block.Decode).
CLIENT_PROTOCOL_VERSION = 54460
CUSTOM_SERIALIZATION = 54454  # DBMS_MIN_REVISION_WITH_CUSTOM_SERIALIZATION
FIXED_WIDTH = {"UInt8": "<B", "UInt16": "<H", "UInt32": "<I", "UInt64": "<Q", "Int32": "<i"}


def _as_clickhouse_go(
    served: Served, sql: str, settings: dict[str, str] | None = None
) -> httpx.Response:
    """``sql`` sent as the plugin's clickhouse-go sends a query over HTTP (no TLS): POST
    with the query as the body; the connection's URL (``database``, the data source's
    custom settings, ``default_format=Native``, ``client_protocol_version``) plus the
    query's settings (``max_execution_time`` from Grafana's 60 s timeout, + 5 s); basic
    auth; ``Accept-Encoding: gzip`` (the plugin's HTTP compression)."""
    params = {
        "database": "consentlog",
        **(settings or {}),
        "default_format": "Native",
        "client_protocol_version": str(CLIENT_PROTOCOL_VERSION),
        "max_execution_time": "65",
    }
    return httpx.post(
        served.base + "/",
        params=params,
        content=sql.encode(),
        auth=("analyst", ANALYST_PASSWORD),
        headers={
            "Accept-Encoding": "gzip",
            "User-Agent": "clickhouse-go/2.47.0 (lv:go/1.24; os:linux) grafana/11.6.0 "
            "clickhouse-datasource/4.11.0",
        },
        timeout=30,
    )


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i


def _string(data: bytes, i: int) -> tuple[str, int]:
    size, i = _varint(data, i)
    if i + size > len(data):
        raise ValueError(f"a string of {size} bytes runs past the block")
    return data[i : i + size].decode(), i + size


def _native_block(data: bytes, revision: int) -> list[tuple[str, str, list[Any]]]:
    """The first block of a Native answer read as clickhouse-go reads it for ``revision``:
    block info first when revision > 0, a has_custom byte after each column's type from
    54454 on. String and fixed-width integer columns only."""
    i = 0
    if revision > 0:  # block info: field 1 is_overflows, field 2 bucket_num, field 0 end
        for expected, width in ((1, 1), (2, 4)):
            field, i = _varint(data, i)
            if field != expected:
                raise ValueError(f"block info field {field}, expected {expected}")
            i += width
        end, i = _varint(data, i)
        if end != 0:
            raise ValueError("block info does not end with field 0")
    columns, i = _varint(data, i)
    rows, i = _varint(data, i)
    block = []
    for _ in range(columns):
        name, i = _string(data, i)
        kind, i = _string(data, i)
        if revision >= CUSTOM_SERIALIZATION:
            if data[i] != 0:
                raise ValueError(f"column {name}: custom serialization")
            i += 1
        values: list[Any] = []
        for _ in range(rows):
            if kind == "String":
                value, i = _string(data, i)
            elif kind in FIXED_WIDTH:
                (value,) = struct.unpack_from(FIXED_WIDTH[kind], data, i)
                i += struct.calcsize(FIXED_WIDTH[kind])
            else:
                raise ValueError(f"column {name}: type {kind} is not read here")
            values.append(value)
        block.append((name, kind, values))
    return block


def _rows_of_first_block(data: bytes) -> int:
    """The row count in the header of a Native answer's first block (0 when empty), as
    written for clickhouse-go's revision: block info, the column count, the row count."""
    if not data:
        return 0
    assert data.startswith(b"\x01\x00\x02\xff\xff\xff\xff\x00")  # block info
    _, i = _varint(data, 8)
    return _varint(data, i)[0]


HELLO = "SELECT displayName(), version(), revision(), timezone()"  # clickhouse-go's queryHello
HELLO_COLUMNS = [
    ("displayName()", "String"),
    ("version()", "String"),
    ("revision()", "UInt32"),
    ("timezone()", "String"),
]


def test_the_plugins_hello_and_ping_are_answered_in_native(served: Served) -> None:
    """clickhouse-go's connection hello and its ping (`SELECT 1`, a column named 1) are
    answered 200 in Native, plain or in the gzip the plugin offers (which it inflates)."""
    hello = _as_clickhouse_go(served, HELLO)
    assert 200 == hello.status_code, hello.text
    assert "Native" == hello.headers["x-clickhouse-format"]
    assert hello.headers.get("content-encoding") in (None, "gzip")
    block = _native_block(hello.content, revision=CLIENT_PROTOCOL_VERSION)
    assert HELLO_COLUMNS == [(name, kind) for name, kind, _ in block]
    (_, _, [timezone]) = block[3]
    assert hello.headers["x-clickhouse-timezone"] == timezone
    (_, _, [revision]) = block[2]
    assert revision >= CUSTOM_SERIALIZATION
    ping = _as_clickhouse_go(served, "SELECT 1")
    assert [("1", "UInt8", [1])] == _native_block(ping.content, revision=CLIENT_PROTOCOL_VERSION)


def test_native_answers_are_written_for_the_clients_protocol_version(served: Served) -> None:
    """A Native answer to a request with client_protocol_version=54460 decodes as
    clickhouse-go decodes it: block info, then columns with their has_custom byte."""
    hello = _as_clickhouse_go(served, HELLO)
    block = _native_block(hello.content, revision=CLIENT_PROTOCOL_VERSION)
    assert HELLO_COLUMNS == [(name, kind) for name, kind, _ in block]


def test_answers_are_gzip_when_the_plugin_asks_with_enable_http_compression(
    served: Served,
) -> None:
    """With `enable_http_compression=1` among the custom settings, the answer comes gzip
    (Content-Encoding, which clickhouse-go inflates); httpx inflates it to the same block."""
    plain = _as_clickhouse_go(served, HELLO)
    compressed = _as_clickhouse_go(served, HELLO, {"enable_http_compression": "1"})
    assert "gzip" == compressed.headers["content-encoding"]
    assert (
        _native_block(plain.content, CLIENT_PROTOCOL_VERSION)[1:]
        == _native_block(compressed.content, CLIENT_PROTOCOL_VERSION)[1:]
    )


def test_the_plugins_schema_queries_run_as_the_analyst(served: Served) -> None:
    """The query editor's schema look-ups (databases, tables, columns, functions, version)
    answer 200 for the analyst."""
    for sql in [
        "SHOW DATABASES",
        'SHOW TABLES FROM "consentlog"',
        'DESC TABLE "consentlog"."page_requests"',
        "SELECT name, type, table FROM system.columns WHERE database IN ('consentlog')",
        "SELECT name, is_aggregate, case_insensitive, alias_to, origin, description, syntax, "
        "arguments, returned_value, examples, categories FROM system.functions LIMIT 10000",
        "SELECT version()",
    ]:
        answer = _as_clickhouse_go(served, sql)
        assert 200 == answer.status_code, f"{sql}: {answer.text}"
        assert answer.content, f"{sql}: no rows"


def test_the_row_limit_setting_applies(served: Served) -> None:
    """The data source's row limit (the `limit` setting in the URL) cuts the answer."""
    answer = _as_clickhouse_go(
        served, "SELECT toUInt64(number) AS n FROM system.numbers LIMIT 10", {"limit": "3"}
    )
    assert [("n", "UInt64", [0, 1, 2])] == _native_block(
        answer.content, revision=CLIENT_PROTOCOL_VERSION
    )


def test_the_plugins_header_authentication_over_tls_is_accepted(served: Served) -> None:
    """With TLS the plugin sends the user as X-ClickHouse-User/-Key (certificate auth off);
    those headers authenticate, and a wrong key is refused with 516."""
    headers = {"X-ClickHouse-User": "analyst", "X-ClickHouse-SSL-Certificate-Auth": "off"}
    right = httpx.post(served.base + "/", content=b"SELECT 1",
                       headers={**headers, "X-ClickHouse-Key": ANALYST_PASSWORD})  # fmt: skip
    assert (200, "1\n") == (right.status_code, right.text)
    wrong = httpx.post(served.base + "/", content=b"SELECT 1",
                       headers={**headers, "X-ClickHouse-Key": "wrong"})  # fmt: skip
    assert (401, "516") == (wrong.status_code, wrong.headers["x-clickhouse-exception-code"])


def test_an_error_is_answered_as_clickhouse_go_parses_it(served: Served) -> None:
    """An unknown table: a 404 whose body starts `Code: 60.` and whose
    X-ClickHouse-Exception-Code is 60 (clickhouse-go's newHTTPError reads both)."""
    answer = _as_clickhouse_go(served, "SELECT * FROM consentlog.no_such_table")
    assert 404 == answer.status_code
    assert "60" == answer.headers["x-clickhouse-exception-code"]
    assert re.match(r"Code: 60\. DB::Exception: ", answer.text), answer.text


def test_every_dashboard_query_runs_as_the_analyst(served: Served, tmp_path: Path) -> None:
    """Every panel and variable query of the Grafana dashboard, macros expanded as the
    plugin expands them, answers 200 in Native with rows, as the plugin sends it."""
    pages, engagements = generate()
    start = datetime.datetime.combine(DAY, datetime.time(), datetime.UTC)
    decisions = [
        ConsentRecord(start.timestamp() + 3600 + i * 60, uuid.uuid4().hex, action, (), 1,
                      "gpc" if action == "gpc" else "banner", "", "", BROWSER)
        for i, action in enumerate(["accept_all", "reject_all", "gpc", "withdraw"] * 5)
    ]  # fmt: skip
    goals = generate_goals(pages)
    _write(open_store(served.url()), "consentlog", [*pages, *engagements, *decisions, *goals],
           tmp_path)  # fmt: skip
    end = start + datetime.timedelta(days=1, seconds=-1)
    variables = {**CONSTANTS, "host": ALL_HOSTS, "path": "/pricing"}
    for name, sql in QUERIES.items():
        answer = _as_clickhouse_go(served, expand_macros(sql, start, end, 3600, variables))
        assert 200 == answer.status_code, f"{name}: {answer.text}"
        assert "Native" == answer.headers["x-clickhouse-format"]
        assert _rows_of_first_block(answer.content) > 0, f"{name}: no rows"


# -- last: the server stops cleanly ---------------------------------------------------------


def test_sigterm_stops_the_server_cleanly(served: Served) -> None:
    """SIGTERM: `consentlog serve` exits 0, says it stopped, and printed no traceback."""
    assert 0 == served.stop()
    out, err = served.stdout.read_text(), served.stderr.read_text()
    assert f"http://127.0.0.1:{served.port}" in out
    assert "consentlog serve: stopped" == out.strip().splitlines()[-1]
    assert "Traceback" not in out + err, err
