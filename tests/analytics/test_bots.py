"""Differential tests of the bot reports — requests by bot signal (``bots.sql``) and
verified browser views per page (``verified.sql``) — against an independent count in
Python over the raw events: the generated data set, plus requests of every signal and
the checks the banner script would have sent."""

from __future__ import annotations

import random
import uuid
from collections import Counter, defaultdict
from typing import Any

import pytest

from consentlog.analytics import reports
from consentlog.ingest.bots import DataCentres
from consentlog.ingest.enrich import Enricher
from consentlog.ingest.events import BrowserCheck, Engagement, PageRequest
from consentlog.ingest.writer import Writer
from consentlog.store import Store
from tests.helpers import BOT, DAY, HUMAN, generate

CURL = "curl/8.5.0"
CLOUD = "198.18.0.0/15"  # the data-centre range of this data set
# each user agent's signal, as the definitions in docs/bots.md give it (not as code does)
SIGNAL_OF_AGENT = {BOT: "agent", CURL: "list", HUMAN: ""}
Loaded = tuple[str, list[PageRequest], list[Engagement], list[BrowserCheck]]


def _bots_and_checks(
    pages: list[PageRequest], rng: random.Random
) -> tuple[list[PageRequest], list[BrowserCheck]]:
    """Requests of the other signals, and the checks the script sent: from most views
    served without consent (people's and some bots'), twice for some, and one for a page
    view no row has."""
    start = min(p.ts for p in pages)
    extra = []
    for i in range(30):
        ts, path = start + 7 * i, rng.choice(["/", "/docs", "/pricing", "/wp-login.php"])
        if i % 3 == 0:  # the crawler list: no bot word in its agent
            extra.append(_page(ts, path, CURL))
        elif i % 3 == 1:  # a browser's agent without a browser's headers
            extra.append(_page(ts, path, HUMAN, bot_signal="headers"))
        else:  # a consented visitor from a data-centre address (the full IP, not on disk)
            extra.append(_page(ts, path, HUMAN, state="granted", ip="198.18.3.4"))
    extra.append(_page(start, "/", HUMAN, bot_signal="datacentre"))  # as a spool file has it
    checks = []
    for p in [*pages, *extra]:
        if p.consent_state != "granted" and not p.consented_copy and rng.random() < 0.7:
            checks.append(BrowserCheck(p.ts + 1, p.pageview_id))
            if rng.random() < 0.1:  # sent again: still one verified view
                checks.append(BrowserCheck(p.ts + 2, p.pageview_id))
    checks.append(BrowserCheck(start, uuid.uuid4().hex))  # no page has it
    return [*pages, *extra], checks


def _page(
    ts: float, path: str, agent: str, *, state: str = "unknown", ip: str = "", bot_signal: str = ""
) -> PageRequest:
    visitor = "v" * 21 if state == "granted" else ""
    return PageRequest(
        ts, uuid.uuid4().hex, "example.org", path, "", "GET", 200, 100, 1.0, "", "", agent,
        "en", state, visitor, visitor.replace("v", "s"), ip, False, "", bot_signal,
    )  # fmt: skip


@pytest.fixture(scope="module")
def loaded(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    database = "bots_differential"
    store.command(f"DROP DATABASE IF EXISTS {database} SYNC")
    generated, engagements = generate()
    pages, checks = _bots_and_checks(generated, random.Random(3))
    writer = Writer(
        store, database=database, spool_dir=tmp_path_factory.mktemp("spool"),
        batch_size=5000, flush_interval=0.05,
        enricher=Enricher(datacentres=DataCentres([CLOUD])),
    )  # fmt: skip
    for event in [*pages, *engagements, *checks]:
        writer.submit(event)
    assert writer.stop(60)
    return database, pages, engagements, checks


def _signal(page: PageRequest) -> str:
    by_agent = SIGNAL_OF_AGENT[page.user_agent]
    in_cloud = page.client_ip.startswith("198.18.")
    return by_agent or page.bot_signal or ("datacentre" if in_cloud else "")


def _verified(loaded: Loaded) -> set[str]:
    """The page views the script confirmed: by a check without consent, by a beacon with."""
    _, pages, engagements, checks = loaded
    checked = {c.pageview_id for c in checks}
    beaconed = {e.pageview_id for e in engagements}
    return {
        p.pageview_id
        for p in pages
        if p.pageview_id in (beaconed if p.consent_state == "granted" else checked)
    }


def test_requests_by_signal_equal_an_independent_count(store: Store, loaded: Loaded) -> None:
    database, pages, _, _ = loaded
    verified = _verified(loaded)
    requests: Counter[str] = Counter()
    confirmed: Counter[str] = Counter()
    paths: dict[str, set[str]] = defaultdict(set)
    for p in pages:
        if p.consented_copy:
            continue
        signal = _signal(p)
        requests[signal] += 1
        confirmed[signal] += p.pageview_id in verified
        paths[signal].add(p.path)
    want = {s: (requests[s], confirmed[s], len(paths[s])) for s in requests}
    found = reports.bots(store, database, DAY, DAY)
    assert want == {r.signal: (r.requests, r.verified, r.pages) for r in found}
    assert {"", "agent", "list", "headers", "datacentre"} == set(want)  # every signal met
    assert "" == found[0].signal  # people's requests first


def test_verified_views_per_page_equal_an_independent_count(store: Store, loaded: Any) -> None:
    database, pages, _, _ = loaded
    verified = _verified(loaded)
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for p in pages:
        if p.consented_copy or _signal(p):
            continue
        counts = tally[p.path]
        anonymous = p.consent_state != "granted"
        counts[0] += 1
        counts[1] += p.pageview_id in verified
        counts[2] += anonymous
        counts[3] += anonymous and p.pageview_id in verified
    found = reports.verified(store, database, DAY, DAY)
    assert {path: tuple(c) for path, c in tally.items()} == {
        r.path: (r.views, r.verified_views, r.anonymous_views, r.verified_anonymous_views)
        for r in found
    }
    assert all(0 < r.verified_views < r.views for r in found)  # a test that can tell
    assert [r.views for r in found] == sorted((r.views for r in found), reverse=True)
