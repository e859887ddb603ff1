"""One bad event never costs others: events holding strings no row may hold are left out
of their batch and counted, and every other event of the batch is written once."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentlog.ingest.enrich import Enricher
from consentlog.ingest.events import ConsentRecord, Engagement, PageRequest, unsafe_text
from consentlog.ingest.spool import Batch
from consentlog.ingest.status import StatusFile, read_status
from consentlog.ingest.writer import Writer
from consentlog.store import Store
from tests.helpers import HUMAN

NOW = time.time()  # rows older than the retention period would expire at once


def _page(pageview_id: str, path: str = "/docs", **fields: Any) -> PageRequest:
    page = PageRequest(
        NOW, pageview_id, "example.org", path, "", "GET", 200, 10, 1.0, "", "", HUMAN,
        "en", "granted", "v", "s", "203.0.113.9",
    )  # fmt: skip
    return page._replace(**fields)


@pytest.mark.parametrize("bad", ["\ud800", "/a\udfff", "\x00", "/\x1b[31m", "\x7f", "\x85"])
def test_unsafe_text_finds_control_characters_and_lone_surrogates(bad: str) -> None:
    """C0/C1 control characters, DEL and lone surrogates are unsafe."""
    assert True is unsafe_text(bad)


@pytest.mark.parametrize("good", ["", "/café docs", "/docs/ü?x=1", "😀", "\u00a0"])
def test_unsafe_text_passes_ordinary_unicode(good: str) -> None:
    """Letters, emoji and non-breaking spaces of any script are safe."""
    assert False is unsafe_text(good)


def test_a_poisoned_event_is_left_out_of_its_batch() -> None:
    """A lone surrogate in one event's path costs that event only."""
    a, b, c = ("a" * 32, "b" * 32, "c" * 32)
    batch = Batch("t", pages=[_page(a), _page(b, path="/\ud800"), _page(c)])
    tables, rejected = Enricher().tables(batch)
    assert 1 == rejected
    assert [a, c] == tables["page_requests"].column("pageview_id").to_pylist()


def test_an_event_enrichment_fails_on_is_found_and_left_out() -> None:
    """An event of the wrong shape (a damaged spool file's) is isolated by halving the
    batch until it is alone; the others become rows."""
    pages = [_page(uuid.uuid4().hex) for _ in range(64)]
    pages[37] = pages[37]._replace(status="not a number")  # type: ignore[arg-type]
    tables, rejected = Enricher().tables(Batch("t", pages=pages))
    assert 1 == rejected
    assert 63 == tables["page_requests"].num_rows


@pytest.fixture
def writer(store: Store, database: str, tmp_path: Any) -> Iterator[Writer]:
    running = Writer(
        store, database=database, spool_dir=tmp_path, batch_size=500, flush_interval=0.02,
        after_cycle=[StatusFile()],
    )  # fmt: skip
    yield running
    running.stop()


def test_the_writer_counts_rejected_events_in_status_and_log(
    writer: Writer, store: Store, database: str, tmp_path: Any
) -> None:
    """Two poisoned events among five: three rows, ``events_rejected`` 2 in the counters,
    the status file and the ``writer_stopped`` line."""
    ids = [uuid.uuid4().hex for _ in range(3)]
    for event in (_page(ids[0]), _page(ids[1], referrer="\udc80"), _page(ids[2])):
        writer.submit(event)
    writer.submit(
        ConsentRecord(NOW, "c1", "accept_all", ("analytics",), 1, "banner", "", "", "\x00")
    )
    writer.submit(Engagement(NOW, ids[0], "v", "s", "example.org", "/docs", 5, 50, None))
    assert writer.flush()
    _, found = store.query(f"SELECT count() FROM {database}.page_requests")
    assert [(2,)] == [tuple(r) for r in found]
    assert 3 == writer.counters.written
    [mine] = read_status(tmp_path)  # this process's figures
    assert 2 == mine["events_rejected"]
    with structlog.testing.capture_logs() as logs:
        writer.stop()
    [stopped] = [e for e in logs if e["event"] == "writer_stopped"]
    assert 2 == stopped["events_rejected"]


def _hostile_text() -> st.SearchStrategy[str]:
    """Any text, with lone surrogates and control characters mixed in, sometimes huge."""
    char = st.one_of(
        st.characters(),
        st.integers(0xD800, 0xDFFF).map(chr),
        st.integers(0, 0x9F).map(chr),
    )
    return st.one_of(
        st.text(char, max_size=40),
        st.builds(
            lambda c, n: c * n, st.text(char, min_size=1, max_size=3), st.integers(1, 30_000)
        ),
    )


_TEXT = _hostile_text()
_PAGE_TEXT = ("host", "path", "route", "method", "referrer", "query", "user_agent",
              "language", "consent_state", "visitor_id", "session_id", "client_ip")  # fmt: skip
_CONSENT_TEXT = ("action", "source", "visitor_id", "client_ip", "user_agent")
_ENGAGEMENT_TEXT = ("visitor_id", "session_id", "host", "path")


_SUFFIX = st.one_of(st.just(""), _TEXT)  # a page-view id is 32 hex digits, or invalid


def _valid(event: tuple[Any, ...]) -> bool:
    if not isinstance(event, ConsentRecord) and len(event[1]) != 32:
        return False
    return not any(unsafe_text(v) for v in event if isinstance(v, str)) and not any(
        unsafe_text(c) for v in event if isinstance(v, tuple) for c in v
    )


@st.composite
def _events(draw: st.DrawFn) -> list[PageRequest | ConsentRecord | Engagement]:
    events: list[PageRequest | ConsentRecord | Engagement] = []
    for _ in range(draw(st.integers(1, 6))):
        key = uuid.uuid4().hex
        kind = draw(st.sampled_from(("page", "consent", "engagement")))
        if kind == "page":
            fields = {name: draw(_TEXT) for name in _PAGE_TEXT}
            events.append(_page(key + draw(_SUFFIX), **fields))
        elif kind == "consent":
            texts = [draw(_TEXT) for _ in _CONSENT_TEXT]
            category = draw(st.lists(_TEXT, max_size=2))
            action, source, visitor, ip, agent = texts
            events.append(
                ConsentRecord(NOW, key + draw(_TEXT), action, tuple(category), 1, source,
                              visitor, ip, agent)
            )  # fmt: skip
        else:
            visitor, session, host, path = (draw(_TEXT) for _ in _ENGAGEMENT_TEXT)
            events.append(
                Engagement(NOW, key + draw(_SUFFIX), visitor, session, host, path, 1, 2, None)
            )
    return events


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=_events())
def test_every_valid_event_lands_exactly_once(
    events: list[PageRequest | ConsentRecord | Engagement],
    writer: Writer,
    store: Store,
    database: str,
) -> None:
    """Whatever strings the events hold, each valid one is one row and no other is."""
    for event in events:
        writer.submit(event)
    assert writer.flush()
    for event in events:
        table, key = (
            ("consent_records", "startsWith(consent_id, '{}')")
            if isinstance(event, ConsentRecord)
            else (
                "page_requests" if isinstance(event, PageRequest) else "engagements",
                "replaceAll(toString(pageview_id), '-', '') = '{}'",
            )
        )
        _, found = store.query(
            f"SELECT count() FROM {database}.{table} WHERE {key.format(event[1][:32])}"
        )
        assert [(1 if _valid(event) else 0,)] == [tuple(r) for r in found]
