"""Privacy in every copy: what reaches the disk (spool, quarantine) holds no more than the
tables would for that consent state; quarantined files expire with the retention period;
``Spool.forget`` takes a data subject's events out of every file."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.ingest.enrich import Enricher
from consentlog.ingest.events import ConsentRecord, Engagement, Goal, PageRequest, PageSeen
from consentlog.ingest.geo import Countries
from consentlog.ingest.parsing import agent, ip_prefix, reduced_agent
from consentlog.ingest.redact import store_error
from consentlog.ingest.spool import Batch, Spool, decode, encode
from consentlog.ingest.writer import Writer
from consentlog.settings import ANALYTICS
from consentlog.store import Store
from consentlog.testing import MemorySink, OutageStore, consent_cookie
from tests.helpers import MakeApp, host_app

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
REFERRER = "https://u:pw@mail.example/inbox/alice?user=alice@example.com#msg"
QUERY = (
    "email=alice@example.com&reset_token=s3cret&utm_source=news&gclid=Cj0clickvalue"
    "&utm_campaign=winter"
)
HEADERS = {"referer": REFERRER, "user-agent": CHROME, "x-forwarded-for": "203.0.113.77"}


def _page_event(make_app: MakeApp, *accepted: str) -> PageRequest:
    middleware = make_app(trusted_proxy_hops=1)
    client = TestClient(middleware, headers=HEADERS)
    if accepted:
        client.cookies.set(*consent_cookie(middleware, accepted).split("=", 1))
    assert 200 == client.get(f"/docs/a?{QUERY}").status_code
    sink = middleware.writer
    assert isinstance(sink, MemorySink)
    [page] = sink.pages
    return page


def test_an_unconsented_page_event_keeps_the_referrer_origin_and_campaign_only(
    make_app: MakeApp,
) -> None:
    """Without consent: the referrer's origin, the utm_* parameters, an ad click id's name
    (not its value), no identifier, no IP."""
    page = _page_event(make_app)
    assert ("https://mail.example", "utm_source=news&utm_campaign=winter&gclid=") == (
        page.referrer,
        page.query,
    )
    assert ("", "", "") == (page.visitor_id, page.session_id, page.client_ip)


def test_a_consented_page_event_keeps_the_referrer_path_but_no_query(make_app: MakeApp) -> None:
    """With consent: the referrer's path too, but never its query, fragment or credentials."""
    page = _page_event(make_app, ANALYTICS)
    assert ("https://mail.example/inbox/alice", "utm_source=news&utm_campaign=winter&gclid=") == (
        page.referrer,
        page.query,
    )


def test_a_reduced_agent_gives_the_same_families() -> None:
    """A user agent reduced for disk is read back as the families of the full one."""
    reduced = reduced_agent(CHROME)
    assert "Mozilla" not in reduced
    assert agent(CHROME) == agent(reduced)
    assert "" == reduced_agent("")


def test_a_prefix_gives_itself() -> None:
    """An IP reduced to its prefix for disk replays as the same prefix."""
    for ip in ("203.0.113.77", "2001:db8:1:2::1", "::ffff:203.0.113.77"):
        prefix = ip_prefix(ip, 24, 48)
        assert prefix == ip_prefix(prefix, 24, 48)


def _events(visitor: str = "visitor-a", consent_id: str = "consent-a") -> list[Any]:
    now = time.time()
    page = PageRequest(
        now, uuid.uuid4().hex, "example.org", "/docs", "", "GET", 200, 1, 1.0,
        "https://mail.example/inbox", "utm_source=news", CHROME, "en", "granted", visitor,
        "session-a", "203.0.113.77",
    )  # fmt: skip
    consent = ConsentRecord(
        now, consent_id, "accept_all", (ANALYTICS,), 1, "banner", visitor, "203.0.113.77", CHROME
    )
    engagement = Engagement(
        now, page.pageview_id, visitor, "session-a", "example.org", "/docs", 10, 20, None
    )
    return [page, consent, engagement]


def test_a_spool_file_holds_no_full_agent_or_ip_and_replays_the_same_rows(
    store: Store, database: str, tmp_path: Path
) -> None:
    """During an outage the spool keeps agent families and IP prefixes only; replayed, the
    rows are those a direct insert would have written."""
    outage = OutageStore(store, down=True)
    writer = Writer(outage, database=database, spool_dir=tmp_path, flush_interval=0.02)
    events = _events()
    for event in events:
        writer.submit(event)
    assert False is writer.flush(timeout=0.5)
    [spooled] = writer.spool.files()
    data = spooled.read_bytes()
    assert b"Mozilla" not in data
    assert b"203.0.113.77" not in data
    outage.down = False
    assert writer.flush()
    writer.stop()
    expected = Enricher().page_table([events[0]]).to_pylist()[0]
    columns, found = store.query(
        f"SELECT browser, os, device, ip_prefix, referrer_path FROM {database}.page_requests"
    )
    assert [tuple(expected[c] for c in columns)] == [tuple(r) for r in found]
    _, consents = store.query(f"SELECT browser, ip_prefix FROM {database}.consent_records")
    assert [("Chrome", "203.0.113.0/24")] == [tuple(r) for r in consents]


def test_the_old_spool_formats_still_replay_with_full_agents() -> None:
    """A version 1 file written before reduction (full user agent) still becomes rows."""
    [fixture] = (Path(__file__).parent / "fixtures").glob("v1-*.batch")
    batch = Spool(fixture.parent).read(fixture)
    tables, rejected = Enricher().tables(batch)
    assert 0 == rejected
    assert len(batch) == sum(t.num_rows for t in tables.values())


def _age(path: Path, days: float) -> None:
    then = time.time() - days * 86400
    os.utime(path, (then, then))


def test_quarantined_files_expire_with_the_retention_period(tmp_path: Path) -> None:
    """Files older than the period are deleted; younger ones are kept."""
    spool = Spool(tmp_path)
    old, young = (
        spool.quarantine(spool.write(Batch(uuid.uuid4().hex, *_split(_events())))) for _ in "ab"
    )
    _age(old, 40)
    _age(young, 10)
    assert 1 == spool.expire_quarantine(30 * 86400)
    assert [young] == list(spool.quarantine_dir.iterdir())


def test_the_writer_expires_old_quarantined_files_when_it_starts(
    store: Store, database: str, tmp_path: Path
) -> None:
    """With retention_months=1, a quarantined file two months old is gone once the
    writer runs."""
    spool = Spool(tmp_path)
    old = spool.quarantine(spool.write(Batch(uuid.uuid4().hex, *_split(_events()))))
    _age(old, 62)
    writer = Writer(store, database=database, spool_dir=tmp_path, retention_months=1)
    writer.start()
    assert writer.flush()
    writer.stop()
    assert not old.exists()


def test_forget_takes_a_visitors_events_out_of_waiting_and_quarantined_files(
    tmp_path: Path,
) -> None:
    """Visitor a's events go from every file (a file left empty is deleted); visitor b's
    stay, and the files still read back."""
    spool = Spool(tmp_path)
    mixed = spool.write(Batch(uuid.uuid4().hex, *_split(_events("a", "ca") + _events("b", "cb"))))
    only_a = spool.quarantine(spool.write(Batch(uuid.uuid4().hex, *_split(_events("a", "ca")))))
    assert 6 == spool.forget(["a"])
    assert not only_a.exists()
    left = spool.read(mixed)
    visitors = [e.visitor_id for e in left.pages] + [e.visitor_id for e in left.consents]
    assert {"b"} == {*visitors, *(e.visitor_id for e in left.engagements)}
    assert 0 == spool.forget(["a"])


def test_forget_by_consent_id_reaches_the_visitor_its_record_names(tmp_path: Path) -> None:
    """A consent id alone leads to the visitor id of its consent record, whose page views
    and engagements go too."""
    spool = Spool(tmp_path)
    path = spool.write(Batch(uuid.uuid4().hex, *_split(_events("a", "ca") + _events("b", "cb"))))
    assert 3 == spool.forget([], "ca")
    assert {"b"} == {e.visitor_id for e in spool.read(path).pages}


def test_forget_deletes_an_unreadable_quarantined_file_that_names_the_visitor(
    tmp_path: Path,
) -> None:
    """A damaged quarantined file cannot be rewritten: if it holds the identifier, it goes."""
    spool = Spool(tmp_path)
    spool.quarantine_dir.mkdir(parents=True)
    damaged = spool.quarantine_dir / "damaged.batch"
    damaged.write_bytes(b'{"v":2,"pages":[[1,"x","visitor-a"')
    other = spool.quarantine_dir / "other.batch"
    other.write_bytes(b'{"v":2,"pages":[[1,"x","visitor-b"')
    assert 1 == spool.forget(["visitor-a"])
    assert (False, True) == (damaged.exists(), other.exists())


def _split(events: list[Any]) -> tuple[list[Any], list[Any], list[Any]]:
    return (
        [e for e in events if isinstance(e, PageRequest)],
        [e for e in events if isinstance(e, ConsentRecord)],
        [e for e in events if isinstance(e, Engagement)],
    )


@pytest.mark.parametrize("visitors", [[], [""]])
def test_forget_without_an_identifier_changes_nothing(tmp_path: Path, visitors: list[str]) -> None:
    """No identifier, nothing forgotten: empty ids match no event of an unconsented row."""
    spool = Spool(tmp_path)
    path = spool.write(Batch(uuid.uuid4().hex, *_split(_events(""))))
    assert 0 == spool.forget(visitors)
    assert 3 == len(spool.read(path))


def test_log_lines_show_a_clickhouse_error_by_code_never_the_rows_it_quotes() -> None:
    """A ClickHouse refusal is logged as its code and name; other errors keep their line."""
    refused = ValueError(
        "Code: 27. DB::Exception: Cannot parse input: expected '\"' before: "
        "'alice@example.com/reset?token=s3cret'. (CANNOT_PARSE_INPUT_ASSERTION_FAILED)"
    )
    assert "ClickHouse error 27 (CANNOT_PARSE_INPUT_ASSERTION_FAILED)" == store_error(refused)
    assert "connection refused" == store_error(ConnectionError("connection refused"))


_AGENTS = st.sampled_from(
    [CHROME, "", "curl/8.5.0", "Googlebot/2.1 (+http://www.google.com/bot.html)", "é/1 ü"]
)
_IPS = st.sampled_from(["", "203.0.113.77", "2001:db8:1:2::1", "::ffff:198.51.100.9", "junk"])


@settings(max_examples=60, deadline=None)
@given(
    agents=st.lists(_AGENTS, min_size=1, max_size=8),
    ips=st.lists(_IPS, min_size=1, max_size=8),
    states=st.lists(st.sampled_from(["granted", "denied", "unknown"]), min_size=1, max_size=8),
)
def test_a_batch_reduced_for_disk_and_read_back_gives_the_same_rows(
    agents: list[str], ips: list[str], states: list[str]
) -> None:
    """Whatever agents, IPs and consent states: spooled (reduced, encoded, decoded), a
    batch becomes exactly the rows it would have become directly."""
    now = time.time()
    page = _events()[0]._replace(ts=now)
    pages = [
        page._replace(
            pageview_id=uuid.uuid4().hex,
            user_agent=agent_,
            consent_state=state,
            visitor_id="v" if state == "granted" else "",
            client_ip=ip,
        )
        for agent_, ip, state in zip(agents, ips * 8, states * 8, strict=False)
    ]
    consents = [
        ConsentRecord(now, "c", "accept_all", (ANALYTICS,), 1, "banner", "v", ip, agent_)
        for agent_, ip in zip(agents, ips * 8, strict=False)
    ]
    batch = Batch(uuid.uuid4().hex, pages, consents)
    enricher = Enricher()
    reduced, rejected = enricher.for_disk(batch)
    assert 0 == rejected
    replayed = decode(encode(reduced))
    direct, again = enricher.tables(batch).tables, enricher.tables(replayed).tables
    for name in direct:
        assert direct[name].to_pylist() == again[name].to_pylist()


def test_an_event_with_an_unsafe_agent_is_counted_not_spooled(
    store: Store, database: str, tmp_path: Path
) -> None:
    """An event whose agent no row may hold is left out of the spool file and counted."""
    writer = Writer(OutageStore(store, down=True), database=database, spool_dir=tmp_path)
    page, *_ = _events()
    writer.submit(page)
    writer.submit(page._replace(pageview_id=uuid.uuid4().hex, user_agent="x\x00y"))
    assert False is writer.flush(timeout=0.5)
    writer.stop(timeout=0.1)
    assert 1 == writer.counters.events_rejected
    assert [1] == [len(writer.spool.read(path)) for path in writer.spool.files()]


def test_a_spool_file_loses_its_rejected_events_once(
    store: Store, database: str, tmp_path: Path
) -> None:
    """A spooled batch with a poisoned event, replayed while the store is still down and
    then again: the event is counted once, left out of the file, and the rest written."""
    page, *_ = _events()
    bad = page._replace(pageview_id=uuid.uuid4().hex, path="/\ud800")
    path = Spool(tmp_path).write(Batch(uuid.uuid4().hex, [page, bad]))
    outage = OutageStore(store, down=True)
    writer = Writer(outage, database=database, spool_dir=tmp_path, flush_interval=0.02)
    assert False is writer.flush(timeout=0.5)
    assert 1 == len(writer.spool.read(path))
    outage.down = False
    assert writer.flush()
    writer.stop()
    assert (1, 1) == (writer.counters.events_rejected, writer.counters.written)


def test_a_spool_file_keeps_the_country_not_the_address_it_came_from(
    store: Store, database: str, tmp_path: Path
) -> None:
    """The country is worked out before a batch goes to disk: the file holds "GB" and no
    address (an anonymous visitor's is not even a prefix), and the replayed row has it."""

    class Raw(MemorySink):  # keeps the page as the request path queued it
        def submit(self, event: Any) -> None:
            self.events.append(event)

    middleware = ConsentMiddleware(host_app(), secret_keys=["k" * 40], writer=Raw())
    client = TestClient(middleware, client=("81.2.69.160", 50000))
    assert 200 == client.get("/docs/a", headers={"user-agent": CHROME}).status_code
    assert isinstance(middleware.writer, Raw)
    [seen] = middleware.writer.events
    assert isinstance(seen, PageSeen)
    consented = _events()[0]._replace(client_ip="2a00:1450:4001:82a::200e")
    outage = OutageStore(store, down=True)
    writer = Writer(
        outage, database=database, spool_dir=tmp_path, flush_interval=0.02,
        enricher=Enricher(countries=Countries("geoip2fast")),
    )  # fmt: skip
    writer.submit(seen)
    writer.submit(consented)
    assert False is writer.flush(timeout=0.5)
    [spooled] = writer.spool.files()
    data = spooled.read_bytes()
    assert b"81.2.69" not in data
    assert b"2a00:1450:4001:82a" not in data
    assert b'"GB"' in data
    assert b'"DE"' in data
    outage.down = False
    assert writer.flush()
    writer.stop()
    _, found = store.query(f"SELECT path, country, ip_prefix FROM {database}.page_requests")
    assert sorted(map(tuple, found)) == [
        ("/docs", "DE", "2a00:1450:4001::/48"),
        ("/docs/a", "GB", ""),
    ]


def test_a_spooled_goal_holds_no_identifier_or_full_agent_of_a_refusing_visitor(
    store: Store, database: str, tmp_path: Path
) -> None:
    """A server goal of a visitor who declined, queued while the store is down: the spool
    file holds its name and the agent's family, no id, no address, no full user agent."""
    middleware = ConsentMiddleware(
        host_app(), secret_keys=["k" * 40], writer=MemorySink(), goals=("docs=GET /docs/*",)
    )
    client = TestClient(middleware, client=("81.2.69.160", 50000), headers={"user-agent": CHROME})
    client.post("/_consent", json={"action": "reject_all"})
    client.get("/docs/a")
    assert isinstance(middleware.writer, MemorySink)
    events = middleware.writer.events
    goals = [e for e in events if isinstance(e, Goal)]
    assert 1 == len(goals), [type(e).__name__ for e in events]
    [goal] = goals
    outage = OutageStore(store, down=True)
    writer = Writer(outage, database=database, spool_dir=tmp_path, flush_interval=0.02)
    writer.submit(goal)
    assert False is writer.flush(timeout=0.5)
    deadline = time.monotonic() + 10
    while not writer.spool.files() and time.monotonic() < deadline:
        time.sleep(0.05)
    [spooled] = writer.spool.files()
    data = spooled.read_bytes()
    assert b'"docs"' in data
    assert b"Mozilla" not in data
    assert b"81.2.69" not in data
    writer.stop(timeout=0.5)
