"""Benchmark (d): memory of the demo at rest and after a million page requests.

The demo site with consentlog (embedded store, real writer thread, dashboard mounted) is
built in this process, as ``consentlog demo`` builds it. Its RSS is read at rest (after
one page, so that the store is open and the writer runs), then after ``--requests`` pages
sent in-process (ASGI calls, no sockets) by ``--visitors`` returning visitors — a mix of
consented, declined and undecided ones, so that the plan, cookie and id caches fill as a
busy site's would — and once more after the writer has written everything. Reported: RSS
at each point, the Python heap's share (tracemalloc is off: it would double the time),
rows written, and the sizes of the request path's bounded caches.

    python -m benchmarks.memory [--requests 1000000] [--visitors 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import tempfile
import time
from pathlib import Path

from consentlog.demo.app import create_demo_app, demo_settings
from consentlog.testing import call, http_scope, visitor_cookies

PATHS = ("/", "/docs", "/pricing", "/blog", "/about", "/docs/getting-started")
AGENT = b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0"


def rss_mib() -> float:
    """This process's resident set size, MiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def main(requests: int, visitors: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = demo_settings(clickhouse_url=f"chdb://{tmp}/store", flush_interval=1.0)
        demo = create_demo_app(settings)
        site = demo.site
        rng = random.Random(1)
        cookies: list[bytes] = []
        for i in range(visitors):
            kind = i % 3
            if kind == 0:
                cookies.append(visitor_cookies(site).encode())
            elif kind == 1:
                cookies.append(visitor_cookies(site, accepted=()).encode())
            else:
                cookies.append(b"")
        first = await call(demo, http_scope("/", headers=[(b"user-agent", AGENT)]))
        assert first.status == 200
        site.writer.flush(60)
        gc.collect()
        at_rest = rss_mib()
        print(f"at rest (store open, writer running): RSS {at_rest:.0f} MiB")
        started = time.perf_counter()
        for n in range(1, requests + 1):
            cookie = cookies[rng.randrange(visitors)]
            headers = [(b"user-agent", AGENT), (b"accept-language", b"en-GB,en;q=0.8")]
            if cookie:
                headers.append((b"cookie", cookie))
            answer = await call(demo, http_scope(rng.choice(PATHS), headers=headers))
            assert answer.status == 200
            if n % 250_000 == 0:
                print(f"  after {n:,} requests ({time.perf_counter() - started:.0f} s): "
                      f"RSS {rss_mib():.0f} MiB")  # fmt: skip
        site.writer.flush(300)
        gc.collect()
        after = rss_mib()
        written = site.writer.counters.written
        core = site.core
        print(f"after {requests:,} requests, all written ({written:,} rows): RSS {after:.0f} MiB"
              f" (+{after - at_rest:.0f} MiB)")  # fmt: skip
        print(f"  caches: plans {len(core.plans._cache):,} ({core.plans._cache.bytes:,} B),"
              f" verified ids {len(core.codec.identifiers._verified):,}")  # fmt: skip
        site.writer.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--visitors", type=int, default=20_000)
    options = parser.parse_args()
    asyncio.run(main(options.requests, options.visitors))
