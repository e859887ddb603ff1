"""Benchmark (a): per-request added cost of ConsentMiddleware, in-process.

A visitor requests an HTML page from a bare Starlette app: a small page (2.4 KB), a
50 KB one of one sentence repeated (a worst case for the substring scans of the page:
CPython's search skips little in a short period of common letters), and a 50 KB one of
this repository's docs as paragraphs and links (prose and markup, as pages are), and
that page again with one marked embed (the one-pass rewrite of ``asgi/embeds.py``).
Timed in interleaved rounds on one event loop, for each page: the bare app;
the app under Starlette's SessionMiddleware reading a signed session cookie; under the
floor (``benchmarks/floor.py``: the least a page-editing middleware must do); and the app
under ConsentMiddleware for a consented visitor (valid consent cookie, visitor and session
ids), one who declined, and one who has not decided (no cookie: the banner is shown).
Events are queued; the writer thread is paused so that the figure is the request path
alone. Reported: each stack's added cost, and its ratio to the bare request's own cost,
from the least disturbed round of each (the machine is shared; as ``timeit`` does), and
from the median rounds.
Goal (issue 11): consented ≤ 1.0× on the small page, and below SessionMiddleware.

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

from benchmarks.floor import floor
from consentlog.asgi.consentmode import GOOGLE_TAGS
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
LARGE_PAGE = (
    "<!doctype html><html><head><title>x</title></head><body>"
    + "<p>a paragraph of text that runs on for a while.</p>" * 1000
    + "</body></html>"
)  # 50 KB


def _prose_page() -> str:
    """About 50 KB of varied HTML: the docs' lines as paragraphs, a link every fifth."""
    from html import escape
    from pathlib import Path

    lines = [
        line.strip()
        for doc in sorted((Path(__file__).parents[1] / "docs").glob("*.md"))
        for line in doc.read_text("utf-8").splitlines()
        # a page that names no marker and no Google tag: the path of most pages
        if line.strip()
        and "consent-" not in line.lower()
        and not any(tag.decode() in line for tag in GOOGLE_TAGS)
    ]
    parts, size = [], 0
    for number, line in enumerate(lines):
        item = (
            f'<p class="note"><a href="/docs/{number}">{escape(line)}</a></p>'
            if number % 5 == 0
            else f"<p>{escape(line)}</p>"
        )
        parts.append(item)
        size += len(item)
        if size >= 50_000:
            break
    return (
        "<!doctype html><html><head><title>x</title></head><body><main>"
        + "\n".join(parts)
        + "</main></body></html>"
    )


PROSE_PAGE = _prose_page()


async def page(request: Request) -> Response:
    return HTMLResponse(PAGE)


async def large_page(request: Request) -> Response:
    return HTMLResponse(LARGE_PAGE)


async def prose_page(request: Request) -> Response:
    return HTMLResponse(PROSE_PAGE)


EMBED = '<iframe data-consent-src="https://www.youtube.com/embed/x" title="A video"></iframe>'
EMBED_PAGE = PROSE_PAGE.replace("</main>", EMBED + "</main>")  # the same page, one embed


async def embed_page(request: Request) -> Response:
    return HTMLResponse(EMBED_PAGE)


def bare_app() -> Starlette:
    return Starlette(
        routes=[
            Route("/docs/{slug}", page),
            Route("/large/{slug}", large_page),
            Route("/prose/{slug}", prose_page),
            Route("/embed/{slug}", embed_page),
        ]
    )


class PausedWriter(Writer):
    """Queues like the real writer but never starts its thread: the request path alone."""

    def start(self) -> None:
        return None


BROWSER = [
    (b"user-agent", b"Mozilla/5.0 Chrome/120.0"),
    (b"accept-language", b"en-GB,en;q=0.8"),
    (b"referer", b"https://example.org/a"),
]


def consent_stack(tmp: str) -> tuple[ConsentMiddleware, dict[str, list[tuple[bytes, bytes]]]]:
    """The middleware, and the request headers of each kind of visitor."""
    store = open_store(f"chdb://{tmp}/unused")  # never opened: the writer is paused
    writer = PausedWriter(store, database="bench", queue_size=10**8, spool_dir=None)
    app = ConsentMiddleware(bare_app(), secret_keys=[BENCH_KEY], writer=writer)
    consented = visitor_cookies(app)  # a returning visitor: ids this server issued
    declined = visitor_cookies(app, accepted=())
    return app, {
        "consented": [(b"cookie", consented.encode()), *BROWSER],
        "declined": [(b"cookie", declined.encode()), *BROWSER],
        "undecided": list(BROWSER),
    }


def session_stack() -> tuple[Any, list[tuple[bytes, bytes]]]:
    app = SessionMiddleware(bare_app(), secret_key="bench")
    signer = itsdangerous.TimestampSigner("bench")
    data = base64.b64encode(json.dumps({"user": "someone", "cart": [1, 2, 3]}).encode())
    cookie = f"session={signer.sign(data).decode()}"
    return app, [(b"cookie", cookie.encode())]


async def timed(app: Any, headers: list[tuple[bytes, bytes]], n: int, path: str) -> float:
    request = http_scope(path, headers=headers)
    start = time.perf_counter()
    for _ in range(n):
        answer = await call(app, request)
    elapsed = time.perf_counter() - start
    assert answer.status == 200
    return elapsed / n


async def main(requests: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        consent, visitors = consent_stack(tmp)
        stacks: dict[str, tuple[Any, list[tuple[bytes, bytes]]]] = {
            "bare": (bare_app(), [(b"cookie", b"")]),
            "session": session_stack(),
            "floor": (floor(bare_app()), [(b"cookie", b"")]),
            **{f"consentlog, {kind}": (consent, headers) for kind, headers in visitors.items()},
        }
        pages = (
            ("small page (2.4 KB)", "/docs/intro"),
            ("50 KB page, one sentence repeated", "/large/x"),
            (f"{len(PROSE_PAGE) // 1000} KB page of prose and links", "/prose/x"),
            ("the same with one embed held back (the rewrite's pass)", "/embed/x"),
        )
        for page_name, path in pages:
            for app, headers in stacks.values():  # warm-up
                await timed(app, headers, 500, path)
            samples: dict[str, list[float]] = {name: [] for name in stacks}
            for _ in range(rounds):
                for name, (app, headers) in stacks.items():
                    samples[name].append(await timed(app, headers, requests, path))
                    consent.writer._queue.clear()
            # the least disturbed round of each stack (the machine is shared), and the median
            best = {name: min(values) for name, values in samples.items()}
            median = {name: statistics.median(values) for name, values in samples.items()}
            bare = best["bare"]
            print(
                f"{page_name}: bare Starlette request {bare * 1e6:.1f} µs"
                f" (median round {median['bare'] * 1e6:.1f} µs)"
            )
            for name in stacks:
                if name == "bare":
                    continue
                added = best[name] - bare
                typical = median[name] - median["bare"]
                print(
                    f"  {name:>24}: {best[name] * 1e6:6.1f} µs, added {added * 1e6:5.1f} µs"
                    f" = {added / bare:.2f}× the bare request"
                    f" (medians: added {typical * 1e6:5.1f} µs = {typical / median['bare']:.2f}×)"
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args()
    asyncio.run(main(options.requests, options.rounds))
