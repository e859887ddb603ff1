"""Native answers in the layout of protocol revision 54454+ (clickhouse-go, Grafana)."""

from __future__ import annotations

from typing import Any

import chdb
import pytest

from consentlog.store import Store
from consentlog.store.serving.native import BLOCK_INFO, Unsupported, _Reader, upgrade

TYPED = """
SELECT
    toUInt8(number) AS u8, toInt64(number) - 5 AS i64, toFloat32(number) / 3 AS f32,
    toDecimal64(number, 4) AS d64, toDecimal128(number, 2) AS d128, number % 2 = 0 AS flag,
    toDate('2026-01-01') + number AS day, toDateTime64(number, 3, 'UTC') AS ts,
    generateUUIDv4() AS id, toIPv6('::1') AS ip6, toFixedString('ab', 2) AS fixed,
    repeat('x', number) AS text, if(number % 2, NULL, number) AS maybe,
    range(number) AS list, [[toString(number)], []] AS nested,
    map('k', number, 'j', 2) AS m, (number, toString(number)) AS pair,
    CAST((1, 'a'), 'Tuple(a UInt8, b String)') AS named,
    toLowCardinality(toString(number % 3)) AS lc,
    toLowCardinality(if(number % 2, NULL, 'n')) AS lc_nullable,
    [toNullable(number), NULL] AS nullables, CAST('b', 'Enum8(\\'a\\' = 1, \\'b\\' = 2)') AS e,
    NULL AS nothing, toIntervalDay(number) AS span
FROM numbers(5)
"""


def _columns(data: bytes) -> list[tuple[str, str]]:
    """Names and types of the upgraded blocks, checking the added bytes on the way."""
    found: list[tuple[str, str]] = []
    assert data.startswith(BLOCK_INFO)
    # walking again, each column's length as the walker sees it puts the next name where
    # it must be: a wrong length would misplace every name after it
    reader = _Reader(data)
    while reader.pos < len(data):
        reader.skip(len(BLOCK_INFO))
        columns, rows = reader.varint(), reader.varint()
        for _ in range(columns):
            name, type_name = reader.text().decode(), reader.text().decode()
            reader.need(1)
            assert 0 == data[reader.pos], name  # default serialization
            reader.skip(1)
            reader.column(type_name, rows)
            found.append((name, type_name))
    return found


def _native(store: Store, sql: str) -> list[bytes]:
    store.query("SELECT 1")
    assert store.path is not None
    handle: Any = chdb.connect(str(store.path))
    try:
        return [chunk.bytes() for chunk in handle.send_query(sql, "Native")]
    finally:
        handle.close()


def test_every_column_of_every_block_gets_its_bytes(store: Store) -> None:
    """Block info before each block and a serialization byte after each type, for every
    type the reports and dashboards use; nothing else changes."""
    chunks = _native(store, TYPED)
    upgraded = b"".join(upgrade(iter(chunks)))
    names = [name for name, _ in _columns(upgraded)]
    expected = [
        "u8", "i64", "f32", "d64", "d128", "flag", "day", "ts", "id", "ip6", "fixed", "text",
        "maybe", "list", "nested", "m", "pair", "named", "lc", "lc_nullable", "nullables", "e",
        "nothing", "span",
    ]  # fmt: skip
    assert expected == names
    original = b"".join(chunks)
    assert len(original) + len(BLOCK_INFO) + len(expected) == len(upgraded)


def test_many_blocks_and_blocks_split_across_chunks(store: Store) -> None:
    """A stream of many blocks is rewritten block by block, even when a chunk ends inside one."""
    chunks = _native(
        store,
        "SELECT number, toString(number) AS s FROM numbers(200000) SETTINGS max_block_size = 10000",
    )
    assert len(chunks) > 1
    joined = b"".join(chunks)
    pieces = [joined[i : i + 7777] for i in range(0, len(joined), 7777)]
    upgraded = b"".join(upgrade(iter(pieces)))
    blocks = upgraded.count(BLOCK_INFO + b"\x02")
    assert blocks >= len(chunks)
    assert len(joined) + blocks * (len(BLOCK_INFO) + 2) == len(upgraded)


def test_a_type_it_cannot_walk_is_named() -> None:
    """An aggregate state is refused in one line that names the type and the way out."""
    type_name = b"AggregateFunction(sum, UInt8)"
    block = b"\x01\x01\x01a" + bytes([len(type_name)]) + type_name + b"\x00"
    with pytest.raises(Unsupported, match=r"AggregateFunction\(sum, UInt8\).*another format"):
        list(upgrade(iter([block])))
