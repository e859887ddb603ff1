"""Benchmark (a): per-request added cost of ConsentMiddleware, in-process.

A consented visitor (valid consent cookie, visitor and session ids) requests an HTML page
from a bare Starlette app. Three stacks are timed in interleaved rounds on one event loop:
the bare app, the app under Starlette's SessionMiddleware reading a signed session cookie,
and the app under ConsentMiddleware (event queued; the writer thread is paused so that the
figure is the request path alone). Reported: each stack's added cost as a ratio to the
bare request's own cost. Goal: ConsentMiddleware ≤ 0.5×.

    python -m benchmarks.request_cost [--requests 20000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import tempfile
import time
from typing import Any

import itsdangerous
from starlette.applications import Starlette
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.ingest.writer import Writer
from consentlog.store import open_store
from consentlog.testing import call, http_scope, visitor_cookies

BENCH_KEY = "benchmark-secret-key-long-enough-0123456"  # at least 32 bytes

PAGE = (
    "<!doctype html><html><head><title>x</title></head><body>"
    + "<p>text</p>" * 200
    + "</body></html>"
)


async def page(request: Request) -> Response:
    return HTMLResponse(PAGE)


def bare_app() -> Starlette:
    return Starlette(routes=[Route("/docs/{slug}", page)])


class PausedWriter(Writer):
    """Queues like the real writer but never starts its thread: the request path alone."""

    def start(self) -> None:
        return None


def consent_stack(tmp: str) -> tuple[ConsentMiddleware, list[tuple[bytes, bytes]]]:
    store = open_store(f"chdb://{tmp}/unused")  # never opened: the writer is paused
    writer = PausedWriter(store, database="bench", queue_size=10**8, spool_dir=None)
    app = ConsentMiddleware(bare_app(), secret_keys=[BENCH_KEY], writer=writer)
    cookie = visitor_cookies(app)  # a returning visitor: ids this server issued
    return app, [
        (b"cookie", cookie.encode()),
        (b"user-agent", b"Mozilla/5.0 Chrome/120.0"),
        (b"accept-language", b"en-GB,en;q=0.8"),
        (b"referer", b"https://example.org/a"),
    ]


def session_stack() -> tuple[Any, list[tuple[bytes, bytes]]]:
    app = SessionMiddleware(bare_app(), secret_key="bench")
    signer = itsdangerous.TimestampSigner("bench")
    data = base64.b64encode(json.dumps({"user": "someone", "cart": [1, 2, 3]}).encode())
    cookie = f"session={signer.sign(data).decode()}"
    return app, [(b"cookie", cookie.encode())]


async def timed(app: Any, headers: list[tuple[bytes, bytes]], n: int) -> float:
    request = http_scope("/docs/intro", headers=headers)
    start = time.perf_counter()
    for _ in range(n):
        answer = await call(app, request)
    elapsed = time.perf_counter() - start
    assert answer.status == 200
    return elapsed / n


async def main(requests: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        consent, consent_headers = consent_stack(tmp)
        stacks = {
            "bare": (bare_app(), [(b"cookie", b"")]),
            "session": session_stack(),
            "consent": (consent, consent_headers),
        }
        for app, headers in stacks.values():  # warm-up
            await timed(app, headers, 500)
        samples: dict[str, list[float]] = {name: [] for name in stacks}
        for _ in range(rounds):
            for name, (app, headers) in stacks.items():
                samples[name].append(await timed(app, headers, requests))
                consent.writer._queue.clear()
        median = {name: statistics.median(values) for name, values in samples.items()}
        bare = median["bare"]
        print(f"bare Starlette request: {bare * 1e6:.1f} µs")
        for name in ("session", "consent"):
            added = median[name] - bare
            print(
                f"{name:>8}: {median[name] * 1e6:.1f} µs, added {added * 1e6:.1f} µs"
                f" = {added / bare:.2f}× the bare request"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args()
    asyncio.run(main(options.requests, options.rounds))
