"""clickhouse-connect against the served store, as any Python client (or a guest
process) uses it: ``get_client(host=…, port=…, username=…, password=…)``, with and
without compression, as the read-write user and as the analyst."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import clickhouse_connect
import pyarrow as pa
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from consentlog.store import Store
from tests.store.serving_helpers import Served, served

UTC = datetime.UTC
COLUMNS = ["id", "name", "ts", "score", "tags"]
DDL = (
    "CREATE TABLE {table} (id UInt64, name String, ts DateTime64(3, 'UTC'), "
    "score Nullable(Int32), tags Array(String)) ENGINE = MergeTree ORDER BY id "
    "SETTINGS non_replicated_deduplication_window = 100"
)


@pytest.fixture
def here(store: Store, database: str) -> Served:
    return served(store, database)


@pytest.fixture(params=[True, False], ids=["compressed", "plain"])
def client(here: Served, request: pytest.FixtureRequest) -> Iterator[Any]:
    """The read-write user's clickhouse-connect client, compressing or not."""
    user, password = here.writer
    connected = clickhouse_connect.get_client(
        host=here.host,
        port=here.port,
        username=user,
        password=password,
        database=here.database,
        compress=request.param,
    )
    yield connected
    connected.close()


@pytest.fixture
def analyst(here: Served) -> Iterator[Any]:
    user, password = here.analyst
    connected = clickhouse_connect.get_client(
        host=here.host, port=here.port, username=user, password=password, compress=True
    )
    yield connected
    connected.close()


def _rows(count: int, start: int = 0) -> list[list[Any]]:
    """Rows whose strings hold what a naive transport breaks: NUL, tabs, quotes and
    blank lines."""
    moment = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    return [
        [
            i,
            f"row {i}\x00\t'\"\n\n;",
            moment + datetime.timedelta(milliseconds=i),
            None if i % 3 else -i,
            ["a", "b\n\nc"][: i % 3],
        ]
        for i in range(start, start + count)
    ]


def _arrow(rows: list[list[Any]]) -> pa.Table:
    columns = list(zip(*rows, strict=True))
    return pa.table(
        {
            "id": pa.array(columns[0], pa.uint64()),
            "name": pa.array(columns[1], pa.string()),
            "ts": pa.array(columns[2], pa.timestamp("ms", tz="UTC")),
            "score": pa.array(columns[3], pa.int32()),
            "tags": pa.array(columns[4], pa.list_(pa.string())),
        }
    )


def _stored(client: Any, table: str) -> list[list[Any]]:
    """The rows, their UTC times made aware (clickhouse-connect gives UTC naive)."""
    result = client.query(f"SELECT {', '.join(COLUMNS)} FROM {table} ORDER BY id")
    return [[i, name, ts.replace(tzinfo=UTC), *rest] for i, name, ts, *rest in result.result_rows]


def test_command_query_and_parameters(client: Any) -> None:
    """``command`` runs DDL and returns a single value; ``query`` binds server-side
    ``{name:Type}`` parameters and returns typed rows."""
    client.command(DDL.format(table="t"))
    assert "1" == str(client.command("EXISTS TABLE t"))
    result = client.query(
        "SELECT {n:UInt64} * 2 AS twice, {s:String} AS s, {d:Date} AS d",
        parameters={"n": 21, "s": "it's; a\n\nvalue", "d": datetime.date(2024, 5, 1)},
    )
    assert ["twice", "s", "d"] == list(result.column_names)
    assert [(42, "it's; a\n\nvalue", datetime.date(2024, 5, 1))] == result.result_rows


def test_native_insert_round_trips_every_value(client: Any) -> None:
    """``insert`` (Native, compressed or not) stores 20 000 rows exactly, NULs, blank
    lines, time zones and arrays included, and reports how many it wrote."""
    client.command(DDL.format(table="t"))
    rows = _rows(20_000)
    summary = client.insert("t", rows, column_names=COLUMNS)
    assert 20_000 == summary.written_rows
    assert rows == _stored(client, "t")


def test_arrow_insert_and_query_arrow_round_trip(client: Any) -> None:
    """``insert_arrow`` stores a 20 000-row Arrow table whole and ``query_arrow`` reads
    it back as the same table."""
    client.command(DDL.format(table="t"))
    table = _arrow(_rows(20_000))
    client.insert_arrow("t", table)
    read = client.query_arrow(f"SELECT {', '.join(COLUMNS)} FROM t ORDER BY id")
    assert table.column("name").to_pylist() == read.column("name").to_pylist()
    assert table.column("tags").to_pylist() == read.column("tags").to_pylist()
    assert table.column("score").to_pylist() == read.column("score").to_pylist()
    assert 20_000 == read.num_rows


def test_an_insert_retried_with_its_token_is_stored_once(client: Any) -> None:
    """An insert sent again with the same ``insert_deduplication_token`` is stored once
    (how a guest's writer retries a batch); another token is another batch."""
    client.command(DDL.format(table="t"))
    for token in ("batch-1", "batch-1", "batch-2"):
        client.insert(
            "t",
            _rows(10),
            column_names=COLUMNS,
            settings={"insert_deduplication_token": token},
        )
        client.insert_arrow(
            "t", _arrow(_rows(10, 100)), settings={"insert_deduplication_token": token + "a"}
        )
    assert 40 == client.command("SELECT count() FROM t")


def test_a_large_result_streams_to_the_client(client: Any) -> None:
    """A million-row result arrives whole through ``query`` and ``query_arrow``."""
    query = "SELECT number FROM numbers(1000000)"
    assert 499999500000 == sum(row[0] for row in client.query(query).result_rows)
    assert 1_000_000 == client.query_arrow(query).num_rows


def test_the_analyst_reads(here: Served, analyst: Any) -> None:
    """The analyst queries (rows and Arrow) what the writer stored."""
    here.sql(DDL.format(table="t"))
    here.sql("INSERT INTO t (id, name) VALUES (1, 'one')")
    table = f"{here.database}.t"
    assert [(1, "one")] == analyst.query(f"SELECT id, name FROM {table}").result_rows
    assert ["one"] == analyst.query_arrow(f"SELECT name FROM {table}").column(0).to_pylist()


@pytest.mark.parametrize(
    "attempt",
    [
        "insert",
        "insert_arrow",
        "create",
        "url",
    ],
)
def test_the_analyst_is_refused_writes_and_the_network_by_the_engine(
    here: Served, analyst: Any, attempt: str
) -> None:
    """Whatever the analyst sends to write or to reach the network is refused by the
    engine's ``readonly`` (``READONLY``, code 164); files: test_serving_interface."""
    here.sql(DDL.format(table="t"))
    table = f"{here.database}.t"
    attempts = {
        "insert": lambda: analyst.insert(table, _rows(1), column_names=COLUMNS),
        "insert_arrow": lambda: analyst.insert_arrow(table, _arrow(_rows(1))),
        "create": lambda: analyst.command(
            f"CREATE TABLE {here.database}.u (a Int8) ENGINE = Memory"
        ),
        "url": lambda: analyst.query("SELECT * FROM url('http://127.0.0.1:9/', 'LineAsString')"),
    }
    with pytest.raises(DatabaseError) as refused:
        attempts[attempt]()
    assert 164 == refused.value.code
    assert "(READONLY)" in str(refused.value)
    assert "0\n" == here.sql("SELECT count() FROM t")
