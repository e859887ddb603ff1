"""Helpers shared by the test modules: a host app, reading rows, cookies, a CLI
environment, and a generated traffic data set with known answers.

Fixtures live in ``conftest.py``; everything a test imports lives here.
"""

from __future__ import annotations

import datetime
import os
import random
import socket
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.ingest.events import Engagement, Goal, PageRequest, stored_referrer
from consentlog.testing import MemorySink

SECRET = "test-secret-key-that-is-long-enough-0123"
ROOT = Path(__file__).resolve().parent.parent  # the repository


async def _page(request: Request) -> Response:
    response = HTMLResponse(
        f"<!doctype html><html><head><title>t</title></head><body><h1>{request.url.path}</h1>"
        "</body></html>"
    )
    if "set" in request.query_params:
        response.set_cookie("_ga", "GA1.1.1")
        response.set_cookie("_fbp", "fb.1")
        response.set_cookie("theme", "dark")
    return response


async def _plain(request: Request) -> Response:
    return PlainTextResponse("ok")


def host_app() -> Starlette:
    """A small host application: HTML pages, a text endpoint."""
    return Starlette(
        routes=[
            Route("/", _page),
            Route("/docs/{slug}", _page),
            Route("/healthz", _plain),
            Route("/api/text", _plain),
        ]
    )


MakeApp = Callable[..., ConsentMiddleware]


def rows(middleware: ConsentMiddleware, sql: str) -> list[dict[str, Any]]:
    """Flush the writer, then run ``sql`` (``{db}`` is the test's database) as dicts."""
    assert not isinstance(middleware.writer, MemorySink), (
        "rows() reads the store, but this middleware keeps its events in a MemorySink: "
        "build it with the make_stored_app fixture"
    )
    assert middleware.writer.flush(), "writer did not flush"
    columns, result = middleware.store.query(sql.format(db=middleware.settings.database))
    return [dict(zip(columns, r, strict=True)) for r in result]


def set_cookies(response: Any) -> dict[str, str]:
    """Cookie name → raw ``Set-Cookie`` header value of a response."""
    return {v.split("=", 1)[0]: v for v in response.headers.get_list("set-cookie")}


def tmp_store_dir(tmp_path: Path) -> str:
    return f"chdb://{tmp_path / 'store'}"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on (now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(url: str, timeout: float = 60.0) -> None:
    """Return once ``url`` answers; raise the last error after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def cli_env() -> dict[str, str]:
    """The environment for a `consentlog` subprocess: no CONSENTLOG_* settings from the
    developer's shell, and this tree's package first on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTLOG_")}
    package_root = str(ROOT / "middleware")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


HUMAN = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0"
BOT = "Googlebot/2.1 (+http://www.google.com/bot.html)"
# what a browser sends with every page it asks for: a request without them counts as a
# bot's (``settings.browser_headers``), as the test client's own would
BROWSER = {
    "user-agent": HUMAN,
    "accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "accept-language": "en-GB,en;q=0.9",
}
PATHS = ["/", "/docs", "/docs/a", "/docs/b", "/pricing", "/blog/thin"]
DAY = datetime.date(2026, 11, 20)
# the generated visitors' countries ('' = not known; "xx" a CDN's unknown, stored as '')
COUNTRIES = ["DE", "GB", "US", "FR", "", "DE", "xx", "NL"]
# where landing pages came from: the Referer as stored with consent (an anonymous copy
# keeps its origin only), and the campaign part of the query
ARRIVALS = [
    ("", ""),
    ("https://www.google.com/search", ""),
    ("https://news.ycombinator.com/item", ""),
    ("https://blog.example.net/post", ""),
    ("", "utm_source=newsletter&utm_medium=email&utm_campaign=spring"),
    ("https://www.google.com/", "gclid=&utm_campaign=brand&utm_term=status+page"),
    ("", "ref=producthunt&utm_content=hero"),
    ("https://mail.google.com/", ""),
    ("https://www.google.com/search", ""),
    ("", ""),
]


def _generated_page(
    ts: float,
    path: str,
    *,
    state: str = "granted",
    session: str = "",
    visitor: str = "",
    status: int = 200,
    agent: str = HUMAN,
    country: str = "",
    arrival: tuple[str, str] = ("", ""),
) -> PageRequest:
    referrer, query = arrival
    return PageRequest(
        ts, uuid.uuid4().hex, "example.org", path, "", "GET", status, 100, 1.0, referrer, query,
        agent, "en", state, visitor, session, "203.0.113.1" if visitor else "", False, country,
    )  # fmt: skip


def generate(seed: int = 7) -> tuple[list[PageRequest], list[Engagement]]:
    """Sessions with 1-4 pages, engagement for most page views (some reported twice, as
    running totals), votes for some; some sessions accepted on their landing page (its
    anonymous view, then its consented copy); plus anonymous views, bots, 404s and 500s."""
    rng = random.Random(seed)
    start = time.mktime((DAY.year, DAY.month, DAY.day, 8, 0, 0, 0, 0, 0)) - time.timezone
    pages: list[PageRequest] = []
    engagements: list[Engagement] = []
    for s in range(300):
        visitor, session = f"v{s % 120:021d}", f"s{s:021d}"
        country = COUNTRIES[s % 120 % len(COUNTRIES)]  # a visitor's, as its CDN header said
        t = start + s * 60
        for k in range(rng.choice([1, 1, 2, 3, 4])):
            path = rng.choice(PATHS)
            # a landing page arrives from somewhere; the next ones from the page before
            arrival = ARRIVALS[s % len(ARRIVALS)] if k == 0 else (f"https://example.org{path}", "")
            page = _generated_page(t + k * 20, path, session=session, visitor=visitor,
                                   country=country, arrival=arrival)  # fmt: skip
            if k == 0 and s % 7 == 0:  # accepted on the landing page: anonymous, then a copy
                pages.append(
                    _generated_page(page.ts - 3, page.path, state="unknown", country=country,
                                    arrival=(stored_referrer(arrival[0], False), arrival[1]))
                )  # fmt: skip
                page = page._replace(consented_copy=True)
            pages.append(page)
            if rng.random() < 0.85:
                engaged = rng.choice([800, 4000, 9000, 15000, 42000, 90000])
                scroll = rng.choice([10, 40, 74, 75, 100])
                vote = rng.choice([None, None, True, False])
                ids = (page.pageview_id, visitor, session, page.host, page.path)
                if rng.random() < 0.3:  # an earlier running total, then the final one
                    engagements.append(
                        Engagement(page.ts + 2, *ids, engaged // 2, scroll // 2, None)
                    )
                engagements.append(Engagement(page.ts + 5, *ids, engaged, scroll, vote))
    for i in range(200):
        state = rng.choice(["unknown", "denied"])
        country, (referrer, query) = COUNTRIES[i % len(COUNTRIES)], ARRIVALS[i % len(ARRIVALS)]
        arrival = (stored_referrer(referrer, False), query)  # anonymous: the origin only
        pages.append(
            _generated_page(start + i, rng.choice(PATHS), state=state, country=country,
                            arrival=arrival)
        )  # fmt: skip
    for i in range(40):
        pages.append(
            _generated_page(start + i, rng.choice(PATHS), state="unknown", agent=BOT, country="US")
        )
    for i in range(15):
        pages.append(_generated_page(start + i, "/old-page", state="unknown", status=404))
    for i in range(5):
        pages.append(_generated_page(start + i, "/pricing", state="unknown", status=500))
    return pages, engagements


def generate_goals(pages: list[PageRequest]) -> list[Goal]:
    """Goals for ``generate``'s pages: a server goal ("signup", a POST answered 303) after
    the last page of every fifth consented session and of some anonymous views; a client
    goal ("download", with a property) on the first page of every ninth session, before
    its later pages; and a bot's server goal, which no report counts as a conversion."""
    sessions: dict[str, list[PageRequest]] = {}
    for p in pages:
        if p.session_id:
            sessions.setdefault(p.session_id, []).append(p)
    goals = []
    for index, (session, views) in enumerate(sorted(sessions.items())):
        views.sort(key=lambda p: p.ts)
        first, last = views[0], views[-1]
        if index % 5 == 0:
            goals.append(Goal(last.ts + 1, "signup", "server", "example.org", "/signup", "",
                              "POST", 303, "granted", last.visitor_id, session, HUMAN))  # fmt: skip
        if index % 9 == 0:
            goals.append(Goal(first.ts + 2, "download", "client", "example.org", first.path,
                              first.pageview_id, "", 0, "granted", first.visitor_id, session,
                              HUMAN, (("file", "guide.pdf"),)))  # fmt: skip
    anonymous = [p for p in pages if not p.session_id and p.user_agent == HUMAN]
    for p in anonymous[::25]:
        goals.append(Goal(p.ts + 1, "signup", "server", "example.org", "/signup", "", "POST",
                          303, p.consent_state, "", "", HUMAN))  # fmt: skip
    goals.append(Goal(pages[0].ts, "signup", "server", "example.org", "/signup", "", "POST",
                      303, "unknown", "", "", BOT))  # fmt: skip
    return goals


class KilledBeforeRollupInsert:
    """The real store, but the process dies at the rollup's insert into page_daily (a
    rebuild cut short between removing a day's rows and inserting them again)."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def query(self, *args: Any, **kwargs: Any) -> Any:
        return self._store.query(*args, **kwargs)

    def command(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        if "INSERT INTO {db:Identifier}.page_daily" in sql:
            raise KeyboardInterrupt("killed")
        return self._store.command(sql, *args, **kwargs)
