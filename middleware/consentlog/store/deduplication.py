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

The signature of that crash is exact: an add record for part ``P`` whose last word is
still "added", no directory ``P``, and the half-written ``tmp_insert_P`` beside it. Before
opening chDB, a new owner (which holds the store's lock, so no engine runs on the
directory) writes a drop record for each such block, in ClickHouse's own format, to a
new log after the newest, so the retry is written. Nothing else is touched: a part
merged or mutated away, or removed by TTL, has no ``tmp_insert_`` twin and keeps its
records (a forgotten visitor's replayed batch stays deduplicated). The engine removes
the stale ``tmp_insert_`` directories itself when it opens.

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
        if number.isdigit():
            numbered.append((int(number), file))
    return [file for _, file in sorted(numbered)]


def _standing_records(files: list[Path]) -> dict[str, str]:
    """Block id -> part name of every block whose last record adds it."""
    standing: dict[str, str] = {}
    for file in files:
        for line in file.read_text(encoding="utf-8", errors="replace").splitlines():
            fields = line.split("\t")
            if len(fields) != 3:
                continue  # a torn last line: ClickHouse logs it and reads on
            op, part, block = fields
            if op == ADD:
                standing[block] = part
            elif op == DROP:
                standing.pop(block, None)
    return standing


def repair_table(table: Path) -> Repair | None:
    """Drop the records of blocks ``table`` never committed (see the module)."""
    files = _log_files(table / LOGS)
    if not files:
        return None
    phantoms = {
        block: part
        for block, part in _standing_records(files).items()
        if not (table / part).exists() and (table / f"{TMP_INSERT}{part}").exists()
    }
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
        with contextlib.suppress(OSError):
            repair = repair_table(table)
            if repair is not None:
                repairs.append(repair)
    return repairs
