"""Benchmark (d): memory and loss through a ClickHouse outage under load.

Page requests are driven through ConsentMiddleware in-process at a steady rate while a
fault-injecting wrapper makes the real embedded store fail every call for ``--outage``
seconds. Every second the process's resident memory, the queue length and the spool are
sampled. After recovery the writer flushes and the rows are counted: every request must
be stored exactly once. Goal: bounded memory (the queue is spilled to disk), nothing lost.

    python -m benchmarks.outage [--rate 2000] [--before 10] [--outage 60] [--after 20]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import tracemalloc
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.ingest.writer import Writer
from consentlog.store import open_store
from consentlog.testing import OutageStore, call, consent_cookie, http_scope

BENCH_KEY = "benchmark-secret-key-long-enough-0123456"  # at least 32 bytes


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def page(request: Request) -> Response:
    return HTMLResponse("<html><body>" + "<p>x</p>" * 100 + "</body></html>")


async def run(rate: int, before: float, outage: float, after: float) -> None:
    # Python-heap figures separate consentlog's own memory (queue, batches) from the
    # embedded engine's, which RSS mixes in
    tracemalloc.start()
    with tempfile.TemporaryDirectory() as tmp:
        store = OutageStore(open_store(f"chdb://{tmp}/store"))
        writer = Writer(store, database="outage", spool_dir=Path(tmp) / "spool",  # type: ignore[arg-type]
                        queue_size=100_000, flush_interval=1.0)  # fmt: skip
        app = ConsentMiddleware(
            Starlette(routes=[Route("/docs/{slug}", page)]), secret_keys=[BENCH_KEY], writer=writer
        )
        scope = http_scope(
            "/docs/x", headers=[(b"cookie", consent_cookie(app, ["analytics"]).encode())]
        )
        sent = 0
        start = time.monotonic()
        total = before + outage + after
        samples: list[tuple[float, float, int, int, float]] = []
        next_sample = 0.0
        while (elapsed := time.monotonic() - start) < total:
            store.down = before <= elapsed < before + outage
            due = int(elapsed * rate)
            while sent < due:
                answer = await call(app, scope)
                assert answer.status == 200
                sent += 1
            if elapsed >= next_sample:
                status = writer.status()
                heap = tracemalloc.get_traced_memory()[0] / 2**20
                samples.append(
                    (elapsed, rss_mib(), status["queue_length"], status["spool_files"], heap)
                )
                next_sample += 1.0
            await asyncio.sleep(0.001)
        store.down = False
        assert writer.flush(300), "writer did not recover"
        writer.stop()
        _, [(count, distinct)] = store.query(
            "SELECT count(), uniqExact(pageview_id) FROM outage.page_requests"
        )
        base = samples[0][1]
        peak = max(s[1] for s in samples)
        in_outage = [s for s in samples if before <= s[0] < before + outage]
        print(
            f"{sent} requests at {rate}/s: {before:.0f} s up, {outage:.0f} s down, {after:.0f} s up"
        )
        print(f"stored {count} rows, {distinct} distinct pageview ids, lost {sent - distinct}")
        print(f"RSS: start {base:.0f} MiB, peak {peak:.0f} MiB (+{peak - base:.0f} MiB)")
        print(f"queue during outage: max {max(s[2] for s in in_outage)} events; spool files max "
              f"{max(s[3] for s in in_outage)}")  # fmt: skip
        heaps = [s[4] for s in samples]
        print(f"Python heap: start {heaps[0]:.1f} MiB, peak {max(heaps):.1f} MiB, during the "
              f"outage max {max(s[4] for s in in_outage):.1f} MiB")  # fmt: skip
        print(f"writer: {writer.counters}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--before", type=float, default=10)
    parser.add_argument("--outage", type=float, default=60)
    parser.add_argument("--after", type=float, default=20)
    options = parser.parse_args()
    asyncio.run(run(options.rate, options.before, options.outage, options.after))
