"""Repair an embedded store's deduplication logs after its owner died mid-insert.

Every raw table deduplicates inserts by token (``non_replicated_deduplication_window``):
a batch retried with the token it was first sent with is written once. ClickHouse keeps
those tokens in ``deduplication_logs/`` of each table, one record per line
(``<op>\\t<part name>\\t<block id>``, op 1 adds, op 2 drops), and it writes a block's
record *before* the new part is renamed from ``tmp_insert_<part>`` into place. A process
killed between the two (SIGKILL, the OOM killer, a SIGTERM that takes the default
action) leaves a token with no rows behind it: the retry of that batch — a guest's
in-flight insert sent again to the next owner, or a spooled batch replayed — is then
taken for a duplicate and dropped, silently.

What that crash leaves is recognisable, though not by name: the half-written part's
directory, ``tmp_insert_<partition>_<t>_<t>_<level>``, where ``t`` is an in-memory
counter of the engine that wrote it (it starts again with every process), and an add
record for the part ``<partition>_<n>_<n>_0`` it was to become (``n`` the table's next
block number) — no such part, and no part covering block ``n`` (a merge or a mutation
keeps the block in a part's range). Before opening chDB, a new owner (which holds the
store's lock, so no engine runs on the directory) looks, per partition that has
half-written parts, at the most recent add records (the last ``RECENT`` of the log) whose
block no part holds, and drops the newest of them, as many as there are half-written
parts: a drop record each, in ClickHouse's own format, in a new log after the newest, so
that the retry is written. Records of parts that were merged or mutated are covered and
kept; a record that was never followed by its part but is older than the window (a part
emptied by an erasure, or dropped by TTL) is kept too, so a batch replayed long after is
still taken for the duplicate it is. The engine removes the stale ``tmp_insert_``
directories itself when it opens.

A ClickHouse server has the same window for a non-replicated table after a crash, and
this cannot repair it; ``ReplicatedMergeTree`` commits block ids with the part.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

LOGS = "deduplication_logs"
TMP_INSERT = "tmp_insert_"
ADD, DROP = "1", "2"
RECENT = 64  # the add records looked at: the inserts in flight when the owner died are
# among the last few (others may have committed after them, concurrently)


@dataclass(frozen=True, slots=True)
class Repair:
    """Blocks of one table whose records were dropped: their parts were never written."""

    table: Path  # the table's data directory
    parts: tuple[str, ...]  # the part names the dropped records named
    blocks: int


def _table_directories(store: Path) -> list[Path]:
    """Every table data directory of the store that keeps deduplication logs (Atomic
    databases keep tables under ``store/<xxx>/<uuid>``, Ordinary ones under ``data``)."""
    found: dict[Path, None] = {}
    for pattern in ("store/*/*", "data/*/*"):
        for candidate in sorted(store.glob(pattern)):
            with contextlib.suppress(OSError):
                if (candidate / LOGS).is_dir():
                    found.setdefault(candidate.resolve(), None)
    return list(found)


def _log_files(logs: Path) -> list[Path]:
    """``deduplication_log_<n>.txt`` in the order ClickHouse replays them."""
    numbered: list[tuple[int, Path]] = []
    for file in logs.glob("deduplication_log_*.txt"):
        number = file.stem.rsplit("_", 1)[-1]
        if number.isascii() and number.isdigit():  # as ClickHouse parses it
            numbered.append((int(number), file))
    return [file for _, file in sorted(numbered)]


def _standing_records(files: list[Path]) -> dict[str, str]:
    """Block id -> part name of every block whose last record adds it, oldest first."""
    standing: dict[str, str] = {}
    for file in files:
        for line in file.read_text(encoding="utf-8", errors="replace").splitlines():
            fields = line.split("\t")
            if len(fields) != 3:
                continue  # a torn last line: ClickHouse logs it and reads on
            op, part, block = fields
            if op == ADD:
                standing.pop(block, None)
                standing[block] = part  # moved to the end: the newest
            elif op == DROP:
                standing.pop(block, None)
    return standing


def _blocks(name: str) -> tuple[str, int, int] | None:
    """Partition, first and last block of a part name (``<partition>_<min>_<max>_<level>``
    with an optional ``_<mutation>``; partition ids hold no ``_``), or None."""
    fields = name.split("_")
    if len(fields) not in (4, 5) or not all(f.isdecimal() for f in fields[1:]):
        return None
    return fields[0], int(fields[1]), int(fields[2])


def _phantoms(table: Path, standing: dict[str, str]) -> dict[str, str]:
    """The records of ``standing`` whose parts the crash kept from their place."""
    in_flight: dict[str, int] = {}  # partition -> half-written parts
    held: dict[str, list[tuple[int, int]]] = {}  # partition -> block ranges of parts
    for entry in table.iterdir():
        name = entry.name
        if name.startswith(TMP_INSERT):
            found = _blocks(name[len(TMP_INSERT) :])
            if found is not None:
                in_flight[found[0]] = in_flight.get(found[0], 0) + 1
        elif (found := _blocks(name)) is not None and entry.is_dir():
            held.setdefault(found[0], []).append((found[1], found[2]))
    if not in_flight:
        return {}
    chosen: dict[str, str] = {}
    taken: dict[str, int] = {}
    for block, part in reversed(list(standing.items())[-RECENT:]):  # newest first
        found = _blocks(part)
        if found is None:
            continue
        partition, first, _ = found
        if taken.get(partition, 0) >= in_flight.get(partition, 0):
            continue
        if any(low <= first <= high for low, high in held.get(partition, ())):
            continue  # committed: the part, or one merged or mutated from it, holds it
        chosen[block] = part
        taken[partition] = taken.get(partition, 0) + 1
    return chosen


def repair_table(table: Path) -> Repair | None:
    """Drop the records of blocks ``table`` never committed (see the module)."""
    files = _log_files(table / LOGS)
    if not files:
        return None
    phantoms = _phantoms(table, _standing_records(files))
    if not phantoms:
        return None
    # A log of its own, numbered after the newest, so that a torn last line of that one
    # (which makes ClickHouse stop reading a file) cannot hide the drops; written beside
    # the logs first (a ``tmp_`` name, which the engine ignores and clears) and renamed in.
    number = int(files[-1].stem.rsplit("_", 1)[-1]) + 1
    staged = table / f"tmp_consentlog_deduplication_log_{number}"
    with staged.open("wb") as log:
        log.write(
            "".join(f"{DROP}\t{part}\t{block}\n" for block, part in phantoms.items()).encode()
        )
        log.flush()
        os.fsync(log.fileno())
    staged.rename(table / LOGS / f"deduplication_log_{number}.txt")
    return Repair(table, tuple(sorted(set(phantoms.values()))), len(phantoms))


def repair_store(store: Path) -> list[Repair]:
    """Repair every table of the embedded store at ``store``; call it with the store's
    lock held and before chDB opens the directory."""
    repairs: list[Repair] = []
    for table in _table_directories(store):
        with contextlib.suppress(OSError, ValueError):
            repair = repair_table(table)
            if repair is not None:
                repairs.append(repair)
    return repairs
