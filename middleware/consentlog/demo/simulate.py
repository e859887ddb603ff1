"""``consentlog demo --simulate N``: synthetic visitors for the demo site, over real HTTP.

Each visitor is planned first (:func:`plan_visitors`, deterministic for a seed), then
played against a running demo server with its own :class:`httpx.Client` — a browser-like
user agent, language and referrer, a consent decision sent as the banner sends it, and
for visitors who accepted analytics an engagement beacon per page (the page-view token
read from the page, the body sent as ``text/plain`` JSON like ``navigator.sendBeacon``).

How each page behaves is the table :data:`visitors.PROFILES`, so the usefulness report
and the dashboards have real differences to show.
Timestamps are real: a simulated minute of reading is reported, not waited for.
"""

from __future__ import annotations

import datetime
import html
import json
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final, TextIO

import httpx

from consentlog.demo.visitors import (
    CONSENTS,
    DEMO_COUNTRY_HEADER,
    PROFILES,
    Consent,
    PageVisit,
    VisitorPlan,
    plan_visitors,
)

__all__ = [
    "PROFILES",
    "SimulationSummary",
    "plan_visitors",
    "simulate",
    "simulate_in_background",
]

WORKERS: Final = 6
_ACCEPTING: Final[frozenset[Consent]] = frozenset(("returning", "accept"))
_PV_TOKEN: Final = re.compile(r'<i id="cl-pv" data-pv="([^"]+)"')
_CHECK_TOKEN: Final = re.compile(r'<i id="cl-pv" data-check="([0-9a-f.]+)"')  # no consent
_PAGE_ACCEPT: Final = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@dataclass(frozen=True, slots=True)
class VisitorResult:
    """What playing one visitor produced."""

    page_views: int = 0
    beacons: int = 0
    votes: int = 0
    errors: tuple[str, ...] = ()
    goals: int = 0


@dataclass(frozen=True, slots=True)
class SimulationSummary:
    """The totals of a simulation run."""

    visitors: int
    page_views: int
    beacons: int
    votes: int
    consents: dict[str, int]
    bots: int
    errors: int
    seconds: float
    first_errors: tuple[str, ...] = ()
    goals: int = 0

    def line(self) -> str:
        """The summary in one line."""
        decided = ", ".join(f"{count} {name}" for name, count in self.consents.items())
        return (
            f"simulated {self.visitors} visitors in {self.seconds:.1f} s: "
            f"{self.page_views} page views, {self.beacons} beacons, {self.votes} votes, "
            f"{self.goals} goals; "
            f"{decided}, {self.bots} bots; {self.errors} errors"
        )


# -- playing -------------------------------------------------------------------------------


class _Player:
    """Plays one visitor's plan against the site, as that visitor's browser would."""

    def __init__(self, base_url: str, plan: VisitorPlan, address: str | None = None) -> None:
        self.origin = base_url.rstrip("/")
        self.plan = plan
        self.errors: list[str] = []
        self.beacons = self.votes = self.page_views = self.goals = 0
        headers = {"user-agent": plan.user_agent}
        if plan.language:  # a scraper may send none
            headers["accept-language"] = plan.language
        if plan.country:  # what a CDN would tell the site
            headers[DEMO_COUNTRY_HEADER] = plan.country
        if plan.consent == "gpc":
            headers["sec-gpc"] = "1"
        # each visitor from an address of its own, as on the internet (the site limits
        # what one address may send: consented copies, checks)
        transport = httpx.HTTPTransport(local_address=address) if address else None
        self.client = httpx.Client(
            base_url=self.origin, headers=headers, timeout=15.0, transport=transport
        )

    def play(self) -> VisitorResult:
        """Every page of the plan, with its consent decision and beacons."""
        with self.client:
            if self.plan.consent == "returning":  # the cookie of an earlier visit
                self._decide("accept_all")
            referrer = self.plan.referrer
            for index, visit in enumerate(self.plan.pages):
                asks = self._view(visit, referrer)
                if index == 0 and self.plan.consent in {"accept", "decline"}:
                    action = "accept_all" if self.plan.consent == "accept" else "reject_all"
                    self._decide(action, on=visit, asks=asks)
                referrer = f"{self.origin}{visit.path}"
        return VisitorResult(
            self.page_views, self.beacons, self.votes, tuple(self.errors), self.goals
        )

    def _same_origin(self, referrer: str) -> dict[str, str]:
        """Headers a browser adds to a same-origin fetch or beacon."""
        return {
            "origin": self.origin,
            "referer": referrer,
            "sec-fetch-site": "same-origin",
            "sec-fetch-mode": "cors",
            "sec-fetch-dest": "empty",
        }

    def _expect(self, response: httpx.Response, status: int) -> bool:
        if response.status_code == status:
            return True
        request = response.request
        self.errors.append(
            f"{request.method} {request.url.path}: {response.status_code} "
            f"(expected {status}) {response.text[:120]!r}"
        )
        return False

    def _decide(self, action: str, on: PageVisit | None = None, *, asks: bool = False) -> None:
        """Click Accept or Decline in the banner of the page ``on`` (its script posts JSON
        with the page's path); an answer with a page-view token measures that page too."""
        referrer = f"{self.origin}{self.plan.pages[0].path}"
        body: dict[str, str] = {"action": action}
        if on is not None:  # the page, and how it was reached, as the script sends them
            body.update(path=on.path, referrer=self.plan.referrer or "", query=on.query)
        response = self.client.post("/_consent", json=body, headers=self._same_origin(referrer))
        if self._expect(response, 200) and on is not None and "pv" in response.json():
            self._report(on, response.json()["pv"], asks=asks)

    def _view(self, visit: PageVisit, referrer: str | None) -> bool:
        """Load one page and, when the page issued a page-view token, report on it.
        Whether the page asks for a vote."""
        headers = {"accept": _PAGE_ACCEPT}
        if not self.plan.bot:  # crawlers send no fetch metadata
            headers.update(_navigation_headers(self.origin, referrer))
        target = f"{visit.path}?{visit.query}" if visit.query else visit.path
        response = self.client.get(target, headers=headers)
        self.page_views += 1
        self._expect(response, PROFILES[visit.path].status)
        asks = "data-consent-feedback" in response.text
        match = _PV_TOKEN.search(response.text)
        if match is not None and self.plan.consent not in _ACCEPTING:
            self.errors.append(f"GET {visit.path}: a page-view token without analytics consent")
            return asks
        token = html.unescape(match.group(1)) if match is not None else ""
        if token:
            self._report(visit, token, asks=asks)
        check = _CHECK_TOKEN.search(response.text)
        if check is not None and not self.plan.bot:  # the script runs: a verified view
            page = f"{self.origin}{visit.path}"
            headers = {**self._same_origin(page), "content-type": "text/plain;charset=UTF-8"}
            answer = self.client.post("/_consent/check", content=check.group(1), headers=headers)
            if answer.status_code != 429:  # every simulated visitor has the one address
                self._expect(answer, 204)
        self._reach(visit, token)
        return asks

    def _reach(self, visit: PageVisit, token: str) -> None:
        """The visitor's goal on the page: the trial form posted (a server goal, with or
        without consent), or the download link clicked (a client goal, which the script
        sends only for a page view it measures)."""
        page = f"{self.origin}{visit.path}"
        if visit.goal == "trial":
            headers = {**self._same_origin(page), "sec-fetch-mode": "navigate"}
            response = self.client.post("/trial", data={}, headers=headers, follow_redirects=False)
            self.goals += self._expect(response, 303)
        elif visit.goal == "download" and token:
            body = {"pv": token, "path": visit.path, "goal": "download",
                    "props": {"plan": "community"}}  # fmt: skip
            self.goals += self._send_beacon(body, visit.path)

    def _report(self, visit: PageVisit, token: str, *, asks: bool) -> None:
        """The beacons of one page view: maybe a running total, then the final one."""
        if visit.partial_beacon:
            share = 0.5
            self._beacon(visit, token, visit.engaged_ms * share, visit.scroll_pct * share, None)
        vote = visit.vote if asks else None
        self._beacon(visit, token, visit.engaged_ms, visit.scroll_pct, vote)
        self.votes += vote is not None

    def _beacon(
        self, visit: PageVisit, token: str, engaged_ms: float, scroll: float, vote: bool | None
    ) -> None:
        """One engagement beacon of a page view."""
        body = {
            "pv": token,
            "path": visit.path,
            "engaged_ms": round(engaged_ms),
            "scroll_pct": round(scroll),
            "useful": vote,
        }
        self.beacons += self._send_beacon(body, visit.path)

    def _send_beacon(self, body: Mapping[str, object], path: str) -> bool:
        """``navigator.sendBeacon`` of a JSON string: a text/plain POST with cookies."""
        headers = self._same_origin(f"{self.origin}{path}")
        headers.update({"content-type": "text/plain;charset=UTF-8", "sec-fetch-mode": "no-cors"})
        response = self.client.post("/_consent/beacon", content=json.dumps(body), headers=headers)
        return self._expect(response, 204)


def _navigation_headers(origin: str, referrer: str | None) -> dict[str, str]:
    """Headers a browser sends with a top-level navigation from ``referrer``."""
    headers = {"sec-fetch-mode": "navigate", "sec-fetch-dest": "document", "sec-fetch-user": "?1"}
    if referrer is None:
        headers["sec-fetch-site"] = "none"
    else:
        headers["referer"] = referrer
        headers["sec-fetch-site"] = "same-origin" if referrer.startswith(origin) else "cross-site"
    return headers


def _play(base_url: str, plan: VisitorPlan, number: int) -> VisitorResult:
    """Play one visitor; a connection failure is that visitor's error, not the run's."""
    try:
        return _Player(base_url, plan, _address(base_url, number)).play()
    except httpx.HTTPError as exc:
        return VisitorResult(errors=(f"{type(exc).__name__}: {exc}",))


def _address(base_url: str, number: int) -> str | None:
    """The loopback address visitor ``number`` sends from (127.1.0.1, 127.1.0.2 …), when
    the site is on an IPv4 loopback address of Linux (which answers all of 127.0.0.0/8);
    else None: the system picks (all visitors share it)."""
    host = (httpx.URL(base_url).host or "").strip("[]")
    if sys.platform != "linux" or not host.startswith("127."):  # localhost may be ::1
        return None
    return f"127.{1 + number // 65_025 % 254}.{number // 255 % 255}.{1 + number % 255}"


def _summarise(
    plans: Sequence[VisitorPlan], results: Sequence[VisitorResult], seconds: float
) -> SimulationSummary:
    consents = Counter(p.consent for p in plans if not p.bot)
    errors = [e for r in results for e in r.errors]
    return SimulationSummary(
        visitors=len(plans),
        page_views=sum(r.page_views for r in results),
        beacons=sum(r.beacons for r in results),
        votes=sum(r.votes for r in results),
        goals=sum(r.goals for r in results),
        consents={name: consents[name] for name, _ in CONSENTS},
        bots=sum(p.bot for p in plans),
        errors=len(errors),
        seconds=seconds,
        first_errors=tuple(errors[:3]),
    )


def simulate(
    base_url: str,
    visitors: int,
    *,
    seed: int = 1,
    workers: int = WORKERS,
    progress: Callable[[int, int], None] | None = None,
) -> SimulationSummary:
    """Send ``visitors`` synthetic visitors to the site at ``base_url`` over HTTP.

    The visitors are planned from ``seed``, then played by ``workers`` threads, each
    visitor with its own client (its own cookies). ``progress(done, total)`` is called
    from this thread as visitors finish.
    """
    plans = plan_visitors(visitors, seed=seed)
    started = time.perf_counter()
    results: list[VisitorResult] = []
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="visitor") as pool:
        numbered = enumerate(plans)
        for result in pool.map(lambda item: _play(base_url, item[1], item[0]), numbered):
            results.append(result)
            if progress is not None:
                progress(len(results), len(plans))
    return _summarise(plans, results, time.perf_counter() - started)


# -- the demo command ----------------------------------------------------------------------


def client_url(host: str, port: int) -> str:
    """The URL a local client reaches a server bound to ``host`` at."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def wait_until_serving(base_url: str, timeout: float = 30.0) -> None:
    """Return once the server answers; raise :class:`TimeoutError` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(f"{base_url}/healthz", timeout=2.0)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{base_url} did not answer within {timeout:.0f} s") from None
            time.sleep(0.1)


After = Callable[[datetime.datetime], str]  # run after the visitors, given their start


def _run_for_demo(
    base_url: str, visitors: int, seed: int, out: TextIO, after: After | None = None
) -> None:
    """Wait for the demo server, simulate, print progress and the summary; then
    ``after`` (the demo spreads the visits over the last 30 days) and what to open."""
    step = max(1, visitors // 10)

    def progress(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            print(f"consentlog demo: {done}/{total} visitors", file=out, flush=True)

    try:
        wait_until_serving(base_url)
        print(
            f"consentlog demo: simulating {visitors} visitors against {base_url} (seed {seed})",
            file=out,
            flush=True,
        )
        started = datetime.datetime.now(datetime.UTC)
        summary = simulate(base_url, visitors, seed=seed, progress=progress)
        print(f"consentlog demo: {summary.line()}", file=out, flush=True)
        if after is not None:
            print(f"consentlog demo: {after(started)}", file=out, flush=True)
    except Exception as exc:  # the server keeps serving; say what went wrong in one line
        print(f"consentlog demo: simulation failed: {exc}", file=sys.stderr, flush=True)
        return
    print(
        f"consentlog demo: now open {base_url}/analytics/pages for which pages visitors find"
        " useful (the least useful flagged), then Goals, Funnels, Sources and Countries;"
        " Now shows the last five minutes",
        file=out,
        flush=True,
    )
    for error in summary.first_errors:
        print(f"consentlog demo: simulation error: {error}", file=sys.stderr, flush=True)


def simulate_in_background(
    host: str,
    port: int,
    visitors: int,
    *,
    seed: int = 1,
    out: TextIO | None = None,
    after: After | None = None,
) -> threading.Thread:
    """Start a daemon thread that simulates ``visitors`` once the server on
    ``host:port`` answers (for ``consentlog demo --simulate N``), then runs ``after``."""
    if visitors < 0:
        raise ValueError(f"--simulate needs a number of visitors ≥ 0, not {visitors}")
    thread = threading.Thread(
        target=_run_for_demo,
        args=(client_url(host, port), visitors, seed, out or sys.stdout, after),
        name="consentlog-simulate",
        daemon=True,
    )
    thread.start()
    return thread
