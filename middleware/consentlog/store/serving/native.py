"""Native answers for clients that speak a newer protocol revision than chDB writes.

A ClickHouse server writes the Native format for the ``client_protocol_version`` the
client names. From revision 54454 on (clickhouse-go, and so Grafana's ClickHouse data
source, sends 54460) each block starts with its *block info* and each column carries a
byte saying whether it uses a custom serialization. chDB writes the revision-0 layout
only, so ``Upgrade`` walks each block's columns — by type, to find where one column's data
ends and the next begins — and adds those bytes: block info ``01 00 02 ff ff ff ff 00``
(not an overflow block, bucket -1) and ``00`` (default serialization) after each type.

Types whose layout is not walked here (JSON, Dynamic, Variant, aggregate states …) are
refused with one line naming the column; the same query in another format still works.
"""

from __future__ import annotations

from collections.abc import Iterator

REVISION_WITH_CUSTOM_SERIALIZATION = 54454
BLOCK_INFO = b"\x01\x00\x02\xff\xff\xff\xff\x00"

_FIXED = {
    "UInt8": 1, "Int8": 1, "Bool": 1, "Enum8": 1, "Nothing": 1,
    "UInt16": 2, "Int16": 2, "Enum16": 2, "Date": 2, "BFloat16": 2,
    "UInt32": 4, "Int32": 4, "Float32": 4, "Date32": 4, "DateTime": 4, "IPv4": 4,
    "Decimal32": 4, "Time": 4,
    "UInt64": 8, "Int64": 8, "Float64": 8, "DateTime64": 8, "Decimal64": 8, "Time64": 8,
    "UInt128": 16, "Int128": 16, "UUID": 16, "IPv6": 16, "Decimal128": 16,
    "UInt256": 32, "Int256": 32, "Decimal256": 32,
}  # fmt: skip
_INTERVALS = frozenset(
    f"Interval{unit}"
    for unit in (
        "Nanosecond", "Microsecond", "Millisecond", "Second", "Minute", "Hour", "Day",
        "Week", "Month", "Quarter", "Year",
    )
)  # fmt: skip


class Unsupported(Exception):
    """A column type this module cannot walk."""


class Truncated(Exception):
    """The bytes end inside a block: more must come."""


def _split_arguments(text: str) -> list[str]:
    """``'String, Tuple(a UInt8, b String)'`` → ``['String', 'Tuple(a UInt8, b String)']``."""
    parts, depth, start, quote = [], 0, 0, ""
    for i, ch in enumerate(text):
        if quote:
            if ch == quote and text[i - 1] != "\\":
                quote = ""
        elif ch in "'`\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _parse(type_name: str) -> tuple[str, list[str]]:
    type_name = type_name.strip()
    if "(" not in type_name:
        return type_name, []
    head, _, rest = type_name.partition("(")
    return head.strip(), _split_arguments(rest[: rest.rfind(")")])


def _element_type(argument: str) -> str:
    """A tuple element's type, without its name (``a UInt8`` → ``UInt8``)."""
    if argument.startswith("`"):
        close = argument.find("`", 1)
        return argument[close + 1 :].strip() if close > 0 else argument
    name, space, rest = argument.partition(" ")
    if space and "(" not in name and rest and not name.endswith(","):
        return rest.strip()
    return argument


class _Reader:
    def __init__(self, data: bytes | memoryview, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def need(self, size: int) -> None:
        if self.pos + size > len(self.data):
            raise Truncated

    def varint(self) -> int:
        value, shift = 0, 0
        while True:
            self.need(1)
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7
            if shift > 63:
                raise Unsupported("a varint longer than 64 bits")

    def u64(self) -> int:
        self.need(8)
        value = int.from_bytes(self.data[self.pos : self.pos + 8], "little")
        self.pos += 8
        return value

    def skip(self, size: int) -> None:
        self.need(size)
        self.pos += size

    def text(self) -> bytes:
        size = self.varint()
        self.need(size)
        start = self.pos
        self.pos += size
        return bytes(self.data[start : self.pos])

    def column(self, type_name: str, rows: int) -> None:
        """Skip ``rows`` values of ``type_name``."""
        if rows == 0:
            return
        head, arguments = _parse(type_name)
        if head in _FIXED or head in _INTERVALS:
            self.skip(_FIXED.get(head, 8) * rows)
        elif head == "Decimal":
            precision = int(arguments[0])
            self.skip(
                rows
                * (4 if precision <= 9 else 8 if precision <= 18 else 16 if precision <= 38 else 32)
            )
        elif head == "String":
            for _ in range(rows):
                self.skip(self.varint())
        elif head == "FixedString":
            self.skip(int(arguments[0]) * rows)
        elif head == "Nullable":
            self.skip(rows)
            self.column(arguments[0], rows)
        elif head in ("Array", "Map"):
            self.skip(8 * (rows - 1))
            total = self.u64()
            if head == "Array":
                self.column(arguments[0], total)
            else:
                self.column(arguments[0], total)
                self.column(arguments[1], total)
        elif head == "Tuple":
            for argument in arguments:
                self.column(_element_type(argument), rows)
        elif head == "SimpleAggregateFunction":
            self.column(arguments[-1], rows)
        elif head == "LowCardinality":
            self._low_cardinality(arguments[0])
        else:
            raise Unsupported(type_name)

    def _low_cardinality(self, inner: str) -> None:
        self.u64()  # the keys' serialization version
        flags = self.u64()
        width = (1, 2, 4, 8)[flags & 0xFF] if flags & 0xFF < 4 else 0
        if not width:
            raise Unsupported("LowCardinality with an unknown index type")
        if flags & (1 << 9):  # has additional keys: the dictionary, without Nullable
            head, arguments = _parse(inner)
            self.column(arguments[0] if head == "Nullable" else inner, self.u64())
        self.skip(width * self.u64())


def upgrade_block(data: bytes | memoryview, pos: int, out: bytearray) -> int:
    """Append block ``data[pos:]`` in the newer layout to ``out``; the position after it."""
    reader = _Reader(data, pos)
    columns = reader.varint()
    rows = reader.varint()
    pieces = [BLOCK_INFO, bytes(data[pos : reader.pos])]
    for _ in range(columns):
        start = reader.pos
        reader.text()
        type_name = reader.text()
        pieces.append(bytes(data[start : reader.pos]))
        pieces.append(b"\x00")
        start = reader.pos
        try:
            reader.column(type_name.decode(), rows)
        except Unsupported as exc:
            raise Unsupported(
                f"column type {type_name.decode()[:200]} ({exc}) cannot be sent in Native to a "
                f"client of protocol revision {REVISION_WITH_CUSTOM_SERIALIZATION} or later "
                "here: ask for another format (JSON, TabSeparated, Arrow …)"
            ) from None
        pieces.append(bytes(data[start : reader.pos]))
    out += b"".join(pieces)
    return reader.pos


def upgrade(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The blocks of a revision-0 Native answer, rewritten block by block."""
    pending = b""
    for chunk in chunks:
        pending = pending + chunk if pending else chunk
        out = bytearray()
        pos = 0
        while pos < len(pending):
            try:
                pos = upgrade_block(pending, pos, out)
            except Truncated:
                break
        pending = pending[pos:]
        if out:
            yield bytes(out)
    if pending:
        raise Unsupported("the Native answer ends inside a block")
