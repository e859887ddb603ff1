"""Raw page views become the table column by column (``ingest/columns.py``): the same rows
``PageSeen.request`` makes one by one, for any inputs and any mix in a batch; a batch
holding a value no row may hold loses that page only."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from consentlog.ingest.bots import DataCentres
from consentlog.ingest.columns import Distinct, per_distinct, seen_table
from consentlog.ingest.enrich import Enricher
from consentlog.ingest.events import PageSeen
from consentlog.ingest.geo import Countries
from consentlog.ingest.spool import Batch, decode, encode

COUNTRIES = Countries("geoip2fast")  # the real data: 81.2.69.160 is GB
# the data centres of the addresses drawn: one IPv4 and one IPv6 client's
DATACENTRES = DataCentres(["203.0.113.0/24", "2a00:1450::/32"])


def _headers() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.sampled_from(
            [
                b"",
                b"example.org",
                b"Example.ORG:8080",
                b"https://a.example/p?q=1",
                b"example.org:443",
                b"example.org:80",
                b"[::1]:443",
            ]
        ),
        st.binary(max_size=40),
    )


@st.composite
def page_seen(draw: Any) -> PageSeen:
    state = draw(st.sampled_from(["granted", "denied", "unknown"]))
    granted = state == "granted"
    return PageSeen(
        draw(st.floats(0, 2e9)),
        draw(st.sampled_from(["0" * 32, "a1" * 16])),
        draw(_headers()),  # host
        draw(_headers()),  # referer
        draw(_headers()),  # user agent
        draw(st.sampled_from([b"", b"de-AT,de;q=0.9", b"*", b"\xe9x"]) | st.binary(max_size=20)),
        draw(st.sampled_from([b"", b"198.51.100.7, 10.0.0.1", b"81.2.69.160", b"junk"])),
        draw(st.sampled_from([b"", b"https", b"HTTP"])),
        draw(st.sampled_from([b"", b"proxy.example", b"\x00bad"])),
        draw(st.sampled_from(["http", "https", None, 3])),  # a scope value of any type
        # the client's host: any text a server or a proxy's list may hold
        draw(
            st.sampled_from(
                [
                    "203.0.113.7",
                    "81.2.69.160",
                    "2a00:1450:4001:82a::200e",
                    "::ffff:81.2.69.160",
                    "::1",
                    None,
                    "",
                    1,
                    b"x",
                    "1.2\x013.4",
                    "\ud800",
                ]
            )
        ),
        draw(st.sampled_from([("testserver", 80), None, ("h", "p"), ["h", 8000]])),
        draw(st.text(max_size=30)),
        draw(st.sampled_from(["/docs/{slug}", "", "x" * 300, "r\x00", True, 1, 1.0, None])),
        draw(st.sampled_from(["GET", "POST", "g\x00t"])),
        draw(st.integers(100, 599)),
        draw(st.integers(0, 10**6)),
        draw(st.floats(0, 1e4)),
        draw(st.sampled_from([b"", b"utm_source=news&email=a@b.example", b"utm_\xff=1"])),
        state,
        "v" * 45 if granted else draw(st.sampled_from(["", "leak"])),
        "s" * 45 if granted else draw(st.sampled_from(["", "leak"])),
        draw(st.integers(0, 2)),
        draw(st.booleans()),
        draw(st.sampled_from([b"", b"DE", b"de", b"XX", b"T1", b"\xffZ", b"GBR"])),  # CDN
        draw(st.booleans()),  # the browser headers came
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(page_seen(), min_size=1, max_size=12))
def test_columns_are_the_rows_request_makes_one_by_one(events: list[PageSeen]) -> None:
    """Whatever the inputs, and however a batch mixes them (all consented, none, some;
    behind a proxy or not), the table is the one ``PageSeen.request`` makes row by row —
    so the limits and the consent masking (no id, IP or referrer path without consent)
    hold here too. The column types are the same; the dictionaries may order their
    values differently, so the rows are compared as values."""
    table = seen_table(events, 24, 48, COUNTRIES, datacentres=DATACENTRES)
    enricher = Enricher(countries=COUNTRIES, datacentres=DATACENTRES)
    expected = enricher.page_table(
        [event.request(COUNTRIES.decided, DATACENTRES) for event in events]
    )
    assert table.schema == expected.schema
    assert table.to_pylist() == expected.to_pylist()


@settings(max_examples=60, deadline=None)
@given(st.lists(page_seen(), min_size=1, max_size=8), st.integers(0, 3))
def test_a_batch_of_raw_and_ready_pages_makes_the_same_table(
    events: list[PageSeen], ready: int
) -> None:
    """A batch holding raw pages and ``PageRequest`` events (replayed) gives the table the
    one-by-one path gives."""
    requests = [event.request(COUNTRIES.decided, DATACENTRES) for event in events]
    batch = Batch("t", pages=requests[:ready], seen=events[ready:])
    enricher = Enricher(countries=COUNTRIES, datacentres=DATACENTRES)
    rows = enricher.tables(batch)
    assert rows.rejected == 0
    expected = enricher.page_table(requests)
    assert rows.tables["page_requests"].schema == expected.schema
    assert rows.tables["page_requests"].to_pylist() == expected.to_pylist()


def test_an_unsafe_value_costs_its_page_only() -> None:
    """A raw page whose path holds a lone surrogate (a row cannot) is left out, counted;
    the rest of its batch becomes rows."""
    good = PageSeen(
        1.0, "0" * 32, b"example.org", b"", b"agent", b"en", b"", b"", b"", "http",
        "203.0.113.7", None, "/ok", None, "GET", 200, 10, 1.0, b"", "denied", "", "",
        0, False, b"", True,
    )  # fmt: skip
    bad = good._replace(pageview_id="not a page-view id")
    batch = Batch("t", seen=[good, bad, good._replace(path="/also-ok")])
    rows = Enricher().tables(batch)
    assert rows.rejected == 1
    assert rows.tables["page_requests"].column("path").to_pylist() == ["/ok", "/also-ok"]
    assert len(batch) == 2  # spooled again, it neither keeps nor counts the bad page


def test_raw_pages_go_to_disk_as_rows() -> None:
    """A spool file never holds a ``PageSeen``: the batch is resolved first."""
    seen = PageSeen(
        1.0, "0" * 32, b"example.org", b"https://mail.example/inbox?token=s3cret", b"agent",
        b"en", b"", b"", b"", "http", "203.0.113.7", None, "/p", None, "GET", 200, 10,
        1.0, b"reset=abc&utm_source=x", "denied", "", "", 0, False, b"", True,
    )  # fmt: skip
    data = encode(Batch("t", seen=[seen]))
    for private in (b"s3cret", b"reset", b"203.0.113.7"):
        assert private not in data
    assert decode(data).pages == [seen.request()]


def test_distinct_helpers_call_once_per_value() -> None:
    calls: list[object] = []

    def spy(value: object) -> object:
        calls.append(value)
        return value

    assert per_distinct(spy, ["a", "b", "a", "a"]) == ["a", "b", "a", "a"]
    assert sorted(calls) == ["a", "b"]  # type: ignore[type-var]


def test_list_addresses_behind_a_proxy_take_the_column_path(
    monkeypatch: Any,
) -> None:
    """Behind a trusted proxy, and with a ``server`` that is a list (Daphne's), the batch
    still becomes rows column by column, not one by one."""
    import consentlog.ingest.enrich as enrich

    seen = PageSeen(
        1.0, "0" * 32, b"example.org", b"", b"agent", b"en", b"198.51.100.9", b"https", b"",
        "http", "10.0.0.1", ["internal", 8000], "/p", "", "GET", 200, 10, 1.0, b"",
        "granted", "v" * 45, "s" * 45, 1, False, b"", True,
    )  # fmt: skip

    def refuse(batch: Batch, countries: Countries, datacentres: object) -> int:
        raise AssertionError("the one-by-one path was taken")

    monkeypatch.setattr(enrich, "_resolve", refuse)
    rows = Enricher().tables(Batch("t", seen=[seen]))
    assert rows.tables["page_requests"].column("ip_prefix").to_pylist() == ["198.51.100.0/24"]


def test_a_queued_page_holds_no_container() -> None:
    """A page as the request path queues it holds only strings, bytes and numbers: no
    container of a request (the scope's, the app's) is kept alive by the queue, nor
    walked by the garbage collector there."""
    import asyncio
    import gc

    from consentlog.asgi.middleware import ConsentMiddleware
    from consentlog.testing import MemorySink, call, http_scope, visitor_cookies
    from tests.helpers import HUMAN, host_app

    class Keep(MemorySink):
        def submit(self, event: Any) -> None:
            self.raw = event

    sink = Keep()
    middleware = ConsentMiddleware(host_app(), secret_keys=["k" * 40], writer=sink)
    cookie = visitor_cookies(middleware)
    headers = [(b"cookie", cookie.encode()), (b"user-agent", HUMAN.encode())]
    asyncio.run(call(middleware, http_scope("/docs/a", headers=headers)))
    assert isinstance(sink.raw, PageSeen)
    assert [] == [value for value in sink.raw if gc.is_tracked(value)]


class _Lying(str):
    """A string that claims to be printable."""

    def isprintable(self) -> bool:
        return True

    def isascii(self) -> bool:
        return True


def test_a_string_that_lies_about_itself_is_read_by_its_characters() -> None:
    """A scope value of a ``str`` subclass whose methods lie: its characters decide."""
    seen = PageSeen(
        1.0, "0" * 32, b"example.org", b"", b"agent", b"en", b"", b"", b"", "http",
        "203.0.113.7", None, _Lying("/p\x00"), "", _Lying("GET\x00\x7f"), 200, 10, 1.0,
        b"", "denied", "", "", 0, False, b"", True,
    )  # fmt: skip
    table = Enricher().tables(Batch("t", seen=[seen])).tables["page_requests"]
    assert ["GET\ufffd\ufffd"] == table.column("method").to_pylist()
    assert ["/p\ufffd"] == table.column("path").to_pylist()


def test_campaign_values_decoded_from_escapes_are_safe_text() -> None:
    """``%00`` and ``%C2%85`` in a campaign parameter decode to control characters: the
    stored tags hold U+FFFD instead."""
    seen = PageSeen(
        1.0, "0" * 32, b"example.org", b"", b"agent", b"en", b"", b"", b"", "http",
        "203.0.113.7", None, "/p", "", "GET", 200, 10, 1.0,
        b"utm_source=%00%C2%85&utm_medium=a%01&utm_campaign=ok", "denied", "", "", 0, False,
        b"", True,
    )  # fmt: skip
    rows = Enricher().tables(Batch("t", seen=[seen]))
    assert rows.rejected == 0
    table = rows.tables["page_requests"]
    assert ["\ufffd\ufffd"] == table.column("utm_source").to_pylist()
    assert ["a\ufffd"] == table.column("utm_medium").to_pylist()
    assert ["ok"] == table.column("utm_campaign").to_pylist()


def test_distinct_values_are_told_apart_by_type() -> None:
    """Equal plain values of different types (1 and True; a str and its bytes) are
    distinct: each may read differently (``str(True)`` is 'True'); a lone surrogate
    (which Arrow cannot hold) is still a value; floats (0.0 == -0.0), containers and
    subclasses are each their own, never compared."""
    values: list[object] = [1, True, 1, "1", b"1", "\ud800", "\ud800", None]
    distinct = Distinct.of(values)
    assert [distinct.values[i] for i in distinct.indices.to_pylist()] == values
    assert [type(distinct.values[i]) for i in distinct.indices.to_pylist()] == list(
        map(type, values)
    )
    assert len(distinct.values) == 6
    surrogates = Distinct.of(["a", "\ud800", "a"])
    assert surrogates.values == ["a", "\ud800"]
    assert surrogates.indices.to_pylist() == [0, 1, 0]
    for own in ([0.0, -0.0], [(1,), (True,)], [[1], [1]]):
        each = Distinct.of(own)
        assert each.indices.to_pylist() == [0, 1]
        assert [repr(v) for v in each.values] == [repr(v) for v in own]
