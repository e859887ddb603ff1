"""Benchmark (b): served throughput under uvicorn, with and without consentlog.

Two uvicorn processes serve the same Starlette page, one wrapped in ConsentMiddleware
(embedded store, writer running); `wrk` (Debian package) loads each on loopback as a
consented visitor, in alternating rounds. Goal: with/without ≥ 0.90 (issue 11: ≥ 0.85).
``--workers 2`` runs each server with two uvicorn workers (two processes on one store:
one owns it, the other writes through it).

    python -m benchmarks.served [--seconds 10] [--rounds 3] [--connections 32] [--workers 1]
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
if os.environ.get("WITH_CONSENTLOG"):
    from consentlog import ConsentMiddleware
    app = ConsentMiddleware(app)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(
    workdir: Path, with_consentlog: bool, workers: int = 1
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(workdir), "CONSENTLOG_SECRET_KEY": BENCH_KEY,
           "CONSENTLOG_CLICKHOUSE_URL": f"chdb://{workdir}/store"}  # fmt: skip
    if with_consentlog:
        env["WITH_CONSENTLOG"] = "1"
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


def main(seconds: int, rounds: int, connections: int, workers: int = 1) -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install -y wrk")
    cookie = consented_cookie()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        (workdir / "benchapp.py").write_text(APP)
        servers = {"without": serve(workdir, False, workers), "with": serve(workdir, True, workers)}
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


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    options = parser.parse_args()
    main(options.seconds, options.rounds, options.connections, options.workers)
