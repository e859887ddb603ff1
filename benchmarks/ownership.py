"""Benchmark: the cost of the hop through an embedded store's owner (issue 10).

This process opens a fresh embedded store and so owns it (chDB in process, the store
served over the ClickHouse HTTP interface on loopback); a second process opens the same
``chdb:`` URL and so is a guest, working through the owner with clickhouse-connect — as a
second web worker does. Both sides get the same work, interleaved A/B (the order flips
every round) on the same machine:

(a) events/s written: the same prepared batches of realistic page requests, either as
    Arrow tables through ``store.insert_arrow`` (``--via arrow``, the hop alone; the
    default) or as raw events through a ``Writer`` (``--via writer``, enrichment
    included), each round into a fresh database; ratio guest/owner (goal ≥ 0.67×).
(b) latency of a small query (``SELECT 1``, and a small report query over the rows of
    (a)), median over ``--queries`` calls; added latency guest − owner (goal ≤ 5 ms).

    python -m benchmarks.ownership [--events 200000] [--batch 10000] [--rounds 3]
                                   [--queries 200] [--via arrow|writer]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.ingest import events, fresh_database
from consentlog.ingest.enrich import Enricher
from consentlog.ingest.events import PageRequest
from consentlog.ingest.writer import Writer
from consentlog.store import Store, open_store

REPORT_QUERY = (
    "SELECT path, count() AS views, uniqExact(visitor_id) AS visitors "
    "FROM {database}.page_requests GROUP BY path ORDER BY views DESC LIMIT 10"
)


class Work:
    """The measured work, the same in the owner and in the guest."""

    def __init__(self, store: Store, total: int, batch: int, via: str) -> None:
        self.store, self.via, self.batch = store, via, batch
        data = events(total)
        self.batches: list[list[PageRequest]] = [
            data[i : i + batch] for i in range(0, total, batch)
        ]
        enricher = Enricher()
        self.tables = [enricher.page_table(b) for b in self.batches] if via == "arrow" else []

    def insert(self, database: str, spool: Path) -> float:
        """Seconds to write every batch into ``database`` (which exists)."""
        if self.via == "arrow":
            start = time.perf_counter()
            for i, table in enumerate(self.tables):
                self.store.insert_arrow(
                    f"{database}.page_requests", table, dedup_token=f"{database}-{i}"
                )
            return time.perf_counter() - start
        writer = Writer(self.store, database=database, batch_size=self.batch,
                        flush_interval=0.05, queue_size=10**8, spool_dir=spool,
                        prepare=lambda: None)  # fmt: skip  # the schema exists: time ingestion
        start = time.perf_counter()
        for batch in self.batches:
            for event in batch:
                writer.submit(event)
        assert writer.flush(600), "the writer could not write everything"
        elapsed = time.perf_counter() - start
        writer.stop()
        return elapsed

    def latencies(self, sql: str, count: int) -> list[float]:
        """Seconds each of ``count`` runs of ``sql`` took."""
        out = []
        for _ in range(count):
            start = time.perf_counter()
            self.store.query(sql)
            out.append(time.perf_counter() - start)
        return out


def guest(url: str, total: int, batch: int, via: str) -> None:
    """The second process: a guest of the owner, doing what it is told on stdin."""
    answers, sys.stdout = sys.stdout, sys.stderr  # log lines (the writer's) go to stderr
    store = open_store(url)
    store.query("SELECT 1")
    role = getattr(store, "role", "")
    work = Work(store, total, batch, via)
    print(json.dumps({"role": role}), file=answers, flush=True)
    for line in sys.stdin:
        order = json.loads(line)
        answer: dict[str, Any]
        if order["op"] == "insert":
            answer = {"seconds": work.insert(order["database"], Path(order["spool"]))}
        else:
            answer = {"latencies": work.latencies(order["sql"], order["count"])}
        print(json.dumps(answer), file=answers, flush=True)


class Guest:
    """The guest process, driven over its stdin and stdout: the same methods as ``Work``."""

    def __init__(self, url: str, total: int, batch: int, via: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.ownership", "--guest", url,
             "--events", str(total), "--batch", str(batch), "--via", via],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        hello = self._read()
        assert hello["role"] == "guest", f"the second process is not a guest: {hello}"

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        answer: dict[str, Any] = json.loads(self.process.stdout.readline())
        return answer

    def _ask(self, **order: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(order) + "\n")
        self.process.stdin.flush()
        return self._read()

    def insert(self, database: str, spool: Path) -> float:
        seconds: float = self._ask(op="insert", database=database, spool=str(spool))["seconds"]
        return seconds

    def latencies(self, sql: str, count: int) -> list[float]:
        seconds: list[float] = self._ask(op="query", sql=sql, count=count)["latencies"]
        return seconds

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=60)


def _ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1000


def main(total: int, batch: int, rounds: int, queries: int, via: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"chdb://{tmp}/store"
        store = open_store(url)
        store.query("SELECT 1")
        assert getattr(store, "role", "") == "owner"
        guest_process = Guest(url, total, batch, via)
        sides: dict[str, Work | Guest] = {
            "owner": Work(store, total, batch, via),
            "guest": guest_process,
        }
        seconds: dict[str, list[float]] = {side: [] for side in sides}
        latency: dict[tuple[str, str], list[float]] = {}
        try:
            for r in range(rounds):
                order = list(sides) if r % 2 == 0 else list(reversed(sides))  # A/B, then B/A
                for side in order:
                    database = fresh_database(store, f"{side}{r}")
                    seconds[side].append(sides[side].insert(database, Path(tmp) / f"spool{r}"))
                for name, sql in (
                    ("SELECT 1", "SELECT 1"),
                    ("report query", REPORT_QUERY.format(database=f"owner{r}")),
                ):
                    for side in order:
                        latency.setdefault((side, name), []).extend(
                            sides[side].latencies(sql, queries)
                        )
            for r in range(rounds):
                for side in sides:
                    _, [(count,)] = store.query(f"SELECT count() FROM {side}{r}.page_requests")
                    assert count == total, (side, r, count)
        finally:
            guest_process.close()
            store.close()
    owner_rate = total / statistics.median(seconds["owner"])
    guest_rate = total / statistics.median(seconds["guest"])
    print(f"{total:,} events in batches of {batch:,} via {via}, {rounds} rounds interleaved; "
          f"{queries} queries per side and round")  # fmt: skip
    print(f"{'figure':<34}{'in the owner':>16}{'through it':>16}{'guest/owner':>14}  goal")
    print(f"{'(a) events/s written':<34}{owner_rate:>16,.0f}{guest_rate:>16,.0f}"
          f"{guest_rate / owner_rate:>13.2f}×  ≥ 0.67×")  # fmt: skip
    for name in ("SELECT 1", "report query"):
        mine, theirs = _ms(latency[("owner", name)]), _ms(latency[("guest", name)])
        print(f"{'(b) ' + name + ', median ms':<34}{mine:>16.2f}{theirs:>16.2f}"
              f"{'+' + format(theirs - mine, '.2f') + ' ms':>14}  ≤ +5 ms")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--via", choices=("arrow", "writer"), default="arrow")
    parser.add_argument("--guest", metavar="URL", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.guest:
        guest(options.guest, options.events, options.batch, options.via)
    else:
        main(options.events, options.batch, options.rounds, options.queries, options.via)
