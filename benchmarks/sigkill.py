"""The SIGKILL loss window: what a hard kill of a serving process loses.

Starts ``consentlog demo`` (embedded store, default ``flush_interval`` 1 s) in a fresh
directory, loads it with concurrent page requests for a few seconds, kills it with
SIGKILL, then counts the rows that reached the store against the pages that were answered
200. Repeated ``--rounds`` times; the loss is reported in events and in seconds of traffic.

    python -m benchmarks.sigkill [--seconds 4] [--rounds 3] [--threads 8]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def one_round(seconds: float, threads: int) -> tuple[int, int, float]:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTLOG_")}
        server = subprocess.Popen(
            [sys.executable, "-m", "consentlog.cli", "demo", "--port", str(port)],
            cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}/docs"
        while True:
            try:
                urllib.request.urlopen(url, timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        answered = [0] * threads
        stop = threading.Event()

        def load(k: int) -> None:
            while not stop.is_set():
                try:
                    with urllib.request.urlopen(url, timeout=5) as response:
                        response.read()
                        answered[k] += response.status == 200
                except (urllib.error.URLError, http.client.HTTPException, OSError):
                    return

        workers = [threading.Thread(target=load, args=(k,)) for k in range(threads)]
        started = time.monotonic()
        for worker in workers:
            worker.start()
        time.sleep(seconds)
        server.send_signal(signal.SIGKILL)
        elapsed = time.monotonic() - started
        server.wait()
        stop.set()
        for worker in workers:
            worker.join()
        total = sum(answered) + 1  # the readiness probe was a page too
        result = subprocess.run(
            [sys.executable, "-m", "consentlog.cli", "sql", "--format", "json",
             "SELECT count() AS n FROM consentlog.page_requests"],
            cwd=tmp, env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        stored = int(json.loads(result.stdout)[0]["n"]) if Path(tmp, ".consentlog").exists() else 0
        return total, stored, total / elapsed


def main(seconds: float, rounds: int, threads: int) -> None:
    for r in range(rounds):
        total, stored, rate = one_round(seconds, threads)
        lost = total - stored
        print(f"round {r + 1}: answered {total}, stored {stored}, lost {lost} "
              f"= {lost / rate:.2f} s of traffic at {rate:.0f} req/s")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=8)
    options = parser.parse_args()
    main(options.seconds, options.rounds, options.threads)
