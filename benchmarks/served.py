"""Benchmark (b): served throughput under uvicorn, with and without consentlog.

Two uvicorn processes serve the same Starlette page, one wrapped in ConsentMiddleware
(embedded store, writer running); `wrk` (Debian package) loads each on loopback as a
consented visitor, in alternating rounds. Goal: with/without ≥ 0.90 (issue 11: ≥ 0.85).
``--workers 2`` runs each server with two uvicorn workers (two processes on one store:
one owns it, the other writes through it). ``--breakdown`` serves four more apps in the
same rounds: a middleware that only wraps ``send``; the floor (``benchmarks/floor.py``,
the least any page-editing middleware in Python must do); and consentlog with its events
dropped (no writer), with and without the banner.

    python -m benchmarks.served [--seconds 10] [--rounds 3] [--connections 32] [--workers 1]
                                [--breakdown]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BENCH_KEY = "benchmark-secret-key-long-enough-0123456"  # at least 32 bytes
ROOT = Path(__file__).resolve().parent.parent  # benchmarks.floor is imported from here

APP = """
import os
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

HEAD = "<!doctype html><html><head><title>x</title></head><body>"
PAGE = HEAD + "<p>text</p>" * 200 + "</body></html>"

async def page(request):
    return HTMLResponse(PAGE)

app = Starlette(routes=[Route("/docs/{slug}", page)])
VARIANT = os.environ.get("BENCH_VARIANT", "")
if VARIANT == "passthrough":  # an ASGI middleware that only wraps send
    inner = app

    async def app(scope, receive, send):
        async def forward(message):
            await send(message)

        await inner(scope, receive, forward)
elif VARIANT == "floor":  # the least a page-editing middleware does: benchmarks/floor.py
    from benchmarks.floor import floor

    app = floor(app)
elif VARIANT in ("no-writer", "no-writer-no-banner"):  # the request path alone
    from consentlog import ConsentMiddleware
    from consentlog.testing import MemorySink

    class Dropped(MemorySink):
        def submit(self, event):
            pass

    app = ConsentMiddleware(
        app, writer=Dropped(), inject_banner=VARIANT == "no-writer"
    )
elif os.environ.get("WITH_CONSENTLOG"):
    from consentlog import ConsentMiddleware
    app = ConsentMiddleware(app)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(
    workdir: Path, with_consentlog: bool, workers: int = 1, variant: str = ""
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join((str(workdir), str(ROOT))),
           "CONSENTLOG_SECRET_KEY": BENCH_KEY,
           "CONSENTLOG_CLICKHOUSE_URL": f"chdb://{workdir}/store"}  # fmt: skip
    if with_consentlog:
        env["WITH_CONSENTLOG"] = "1"
    env["BENCH_VARIANT"] = variant
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "benchapp:app", "--port", str(port),
         "--log-level", "warning", "--no-access-log",
         *(["--workers", str(workers)] if workers > 1 else [])],
        cwd=workdir, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/docs/intro"
    for _ in range(100):
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return process, url
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def consented_cookie() -> str:
    """A returning visitor's cookies, with ids the served app (same key) issued."""
    from consentlog.consent.decision import ConsentCodec
    from consentlog.consent.identifiers import IdentifierSigner

    codec = ConsentCodec([BENCH_KEY], policy_revision=1, max_age=3600)
    decision = codec.new_decision(["analytics"], "banner")
    signer = IdentifierSigner([BENCH_KEY])
    visitor = signer.issue("visitor", decision.consent_id)
    session = signer.issue("session", decision.consent_id)
    return f"cl_consent={codec.dumps(decision)}; cl_vid={visitor}; cl_sid={session}"


def load(url: str, seconds: int, connections: int, cookie: str) -> float:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-H", f"Cookie: {cookie}", url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert match, out
    return float(match.group(1))


BREAKDOWN = ("passthrough", "floor", "no-writer-no-banner", "no-writer")


def main(
    seconds: int, rounds: int, connections: int, workers: int = 1, breakdown: bool = False
) -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install -y wrk")
    cookie = consented_cookie()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "benchapp.py").write_text(APP)
        servers = {"without": serve(workdir, False, workers)}
        for variant in BREAKDOWN if breakdown else ():
            servers[variant] = serve(workdir, False, workers, variant)
        servers["with"] = serve(workdir, True, workers)
        results: dict[str, list[float]] = {name: [] for name in servers}
        try:
            for _ in range(rounds):
                for name, (_, url) in servers.items():
                    results[name].append(load(url, seconds, connections, cookie))
        finally:
            for process, _ in servers.values():
                process.terminate()
                process.wait(30)
        without, with_ = (statistics.median(results[n]) for n in ("without", "with"))
        print(f"workers: {workers}")
        print(f"without consentlog: {without:,.0f} req/s   with: {with_:,.0f} req/s")
        print(f"ratio with/without: {with_ / without:.2f}  (rounds: {results})")
        for variant in BREAKDOWN if breakdown else ():
            rate = statistics.median(results[variant])
            added = (1 / rate - 1 / without) * 1e6
            print(
                f"  {variant}: {rate:,.0f} req/s = {rate / without:.2f}×, +{added:.0f} µs a request"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also serve a pass-through middleware, the floor of a page-editing one, and "
        "consentlog without a writer (with and without the banner), to split the cost",
    )
    options = parser.parse_args()
    main(options.seconds, options.rounds, options.connections, options.workers, options.breakdown)
