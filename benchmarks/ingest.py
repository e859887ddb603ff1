"""Benchmark (c): sustained sink ingest into chDB vs raw insert_arrow.

Both sides get the same batches of realistic page views as the request path queues them
(``PageSeen``: raw headers and scope values; a mix of consented and anonymous visitors,
a few hundred distinct user agents and referrers, a new IP and port for nearly every
consented view):

- raw: ``insert_arrow`` of Arrow tables built beforehand (making the rows not timed);
- writer: ``Writer.submit`` of the raw page views, then ``flush`` — queueing, making the
  rows (cutting, consent masking, user-agent parsing, IP prefixes, referrer/UTM split),
  Arrow building and the insert.

Rounds alternate between the two, each into its own fresh table. Goal: writer ≥ 0.8× raw
and ≥ 250k events/s.

    python -m benchmarks.ingest [--events 1000000] [--batch 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from consentlog.ingest.enrich import Enricher
from consentlog.ingest.events import PageSeen
from consentlog.ingest.spool import Batch
from consentlog.ingest.writer import Writer
from consentlog.store import Store, open_store
from consentlog.store.schema import migrate

AGENTS = (
    [
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{v}.0 Safari/537.36"
        for v in range(60, 160)
    ]
    + [
        f"Mozilla/5.0 (iPhone; CPU iPhone OS {v}_0 like Mac OS X) "
        "AppleWebKit/605.1.15 Mobile/15E148"
        for v in range(10, 18)
    ]
    + [
        f"Mozilla/5.0 (Windows NT 10.0; rv:{v}.0) Gecko/20100101 Firefox/{v}.0"
        for v in range(80, 130)
    ]
)
PATHS = [f"/docs/page-{i}" for i in range(200)]
REFERRERS = ["", "", "https://www.google.com/", "https://news.ycombinator.com/item?id=1"] + [
    f"https://blog{i}.example/post" for i in range(50)
]


def events(n: int, seed: int = 1) -> list[PageSeen]:
    """Page views as the request path queues them (``PageSeen``: raw headers, scope
    values), a mix of consented and anonymous visitors."""
    rng = random.Random(seed)
    now = time.time()
    out = []
    for i in range(n):
        state = rng.choice(("granted", "granted", "denied", "unknown"))
        granted = state == "granted"
        out.append(
            PageSeen(
                now + i / 1000, os.urandom(16).hex(), b"example.org",
                rng.choice(REFERRERS).encode(), rng.choice(AGENTS).encode(), b"en-GB,en;q=0.8",
                b"", b"", b"", "https",
                f"203.0.{rng.randrange(256)}.{rng.randrange(256)}", None, rng.choice(PATHS),
                "/docs/{slug}", "GET", 200, 5120, 2.5,
                b"utm_source=news" if i % 10 == 0 else b"", state,
                f"v{rng.randrange(50000):021d}" if granted else "",
                f"s{rng.randrange(90000):021d}" if granted else "", 0, False, b"",
            )
        )  # fmt: skip
    return out


def fresh_database(store: Store, name: str) -> str:
    store.command(f"DROP DATABASE IF EXISTS {name} SYNC")
    migrate(store, name)
    return name


Timing = tuple[float, float]  # (wall seconds, CPU seconds of the whole process)


def cpu() -> float:
    times = os.times()
    return times.user + times.system


def run_raw(store: Store, database: str, batches: list[list[PageSeen]]) -> Timing:
    enricher = Enricher()
    tables = [enricher.tables(Batch("raw", seen=list(b))).tables["page_requests"] for b in batches]
    start, used = time.perf_counter(), cpu()
    for i, table in enumerate(tables):
        store.insert_arrow(f"{database}.page_requests", table, dedup_token=f"raw-{i}")
    return time.perf_counter() - start, cpu() - used


def run_writer(store: Store, database: str, batches: list[list[PageSeen]], spool: Path) -> Timing:
    size = len(batches[0])
    writer = Writer(store, database=database, batch_size=size, flush_interval=0.05,
                    queue_size=10**8, spool_dir=spool)  # fmt: skip
    writer._migrated = True  # the schema exists: time ingestion, not DDL
    start, used = time.perf_counter(), cpu()
    for batch in batches:
        for event in batch:
            writer.submit(event)
    assert writer.flush(600)
    elapsed, used = time.perf_counter() - start, cpu() - used
    writer.stop()
    assert writer.counters.written == sum(len(b) for b in batches)
    return elapsed, used


def main(total: int, batch: int, rounds: int) -> None:
    data = events(total)
    batches = [data[i : i + batch] for i in range(0, total, batch)]
    # The page views made up front stay alive all run; the garbage collector would walk
    # them on every full collection the writer's allocations set off. A web process
    # holds no such pile (its queue is a batch or two), so they are frozen out of it.
    gc.freeze()
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"chdb://{tmp}/store")
        raw: list[Timing] = []
        ours: list[Timing] = []
        for r in range(rounds):
            raw.append(run_raw(store, fresh_database(store, f"raw{r}"), batches))
            ours.append(
                run_writer(store, fresh_database(store, f"wr{r}"), batches, Path(tmp) / f"spool{r}")
            )
            _, [(count,)] = store.query(f"SELECT count() FROM wr{r}.page_requests")
            assert count == total, count
        raw_s, ours_s = (statistics.median(t[0] for t in side) for side in (raw, ours))
        raw_cpu, ours_cpu = (statistics.median(t[1] for t in side) for side in (raw, ours))
        print(f"{total} events in batches of {batch}, median of {rounds} rounds")
        print(
            f"raw insert_arrow (prepared): {total / raw_s:,.0f} rows/s;"
            f" CPU {raw_cpu / total * 1e6:.2f} µs a row = {raw_cpu / raw_s:.2f} cores busy"
        )
        print(
            f"consentlog writer (end to end): {total / ours_s:,.0f} events/s;"
            f" CPU {ours_cpu / total * 1e6:.2f} µs an event = {ours_cpu / ours_s:.2f} cores busy"
        )
        print(f"ratio writer/raw: {raw_s / ours_s:.2f}×  (cores here: {os.cpu_count()})")
        store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    main(options.events, options.batch, options.rounds)
