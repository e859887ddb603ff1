"""Enrichment, off the request path: agent families, IP prefixes, referrers, UTM tags, and
consent enforced a second time when the rows are built."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentlog.ingest.enrich import Enricher
from consentlog.ingest.events import ConsentRecord, Engagement, PageRequest
from consentlog.ingest.parsing import Agent, agent, ip_prefix, referrer_parts, utm_tags

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
TS = 1_800_000_000.5

# -- agent --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_agent", "families"),
    [
        (CHROME, ("Chrome", "Windows", "desktop", "")),
        (FIREFOX, ("Firefox", "Ubuntu", "desktop", "")),
        (IPHONE, ("Mobile Safari", "iOS", "mobile", "")),
        (IPAD, ("Mobile Safari", "iOS", "tablet", "")),
        (ANDROID, ("Chrome Mobile", "Android", "mobile", "")),
        (GOOGLEBOT, ("Googlebot", "Other", "bot", "agent")),
        ("python-requests/2.31", ("Python Requests", "Other", "bot", "agent")),
        ("Mozilla/5.0 HeadlessChrome/124.0", ("HeadlessChrome", "Other", "bot", "agent")),
        # no bot word: ua-parser's families, and the crawler list's verdict
        ("curl/8.5.0", ("curl", "Other", "bot", "list")),
        ("Go-http-client/1.1", ("Go-http-client", "Other", "bot", "list")),
        ("facebookexternalhit/1.1", ("FacebookBot", "Other", "bot", "agent")),
        ("okhttp/4.12.0", ("okhttp", "Other", "bot", "list")),
        ("", ("", "", "", "")),
    ],
)
def test_agent_families(user_agent: str, families: tuple[str, str, str, str]) -> None:
    """A user agent becomes browser, OS and device families and its bot signal (''
    for a person's browser), never more."""
    assert Agent(families) == agent(user_agent)


# -- ip_prefix ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "v4_bits", "v6_bits", "prefix"),
    [
        ("203.0.113.77", 24, 48, "203.0.113.0/24"),
        ("203.0.113.77", 16, 48, "203.0.0.0/16"),
        ("2001:db8:1:2::1", 24, 48, "2001:db8:1::/48"),
        ("2001:db8:1:2::1", 24, 64, "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.77", 24, 48, "203.0.113.0/24"),  # an IPv4 visitor on a v6 socket
        ("", 24, 48, ""),
        ("not-an-ip", 24, 48, ""),
        ("203.0.113", 24, 48, ""),
        ("2001:db8::1::2", 24, 48, ""),
        ("203.0.113.77\x00", 24, 48, ""),
    ],
)
def test_ip_prefix(ip: str, v4_bits: int, v6_bits: int, prefix: str) -> None:
    """An address becomes its network prefix; what does not parse becomes ''."""
    assert prefix == ip_prefix(ip, v4_bits, v6_bits)


_ADDRESS = st.one_of(
    st.tuples(*[st.integers(0, 300)] * 4).map(lambda t: ".".join(map(str, t))),
    st.sampled_from(["", "01.2.3.4", "1.2.3", "1.2.3.4/8", "::ffff:1.2.3.4", "2001:db8::1",
                     "1.2.3.4 ", "١.2.3.4", "256.1.1.1", "0.0.0.0"]),
    st.text(alphabet="0123456789.:abcdef/", max_size=20),
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(_ADDRESS, min_size=1, max_size=20), st.sampled_from([0, 8, 16, 20, 24, 32]))
def test_the_prefix_column_is_ip_prefix_of_each_address(ips: list[str], v4_bits: int) -> None:
    """The column cut in C (whole-octet IPv4 prefixes) is ``ip_prefix`` of each value."""
    column = Enricher(ipv4_prefix=v4_bits, ipv6_prefix=48)._prefixes(ips).to_pylist()
    assert column == [ip_prefix(ip, v4_bits, 48) for ip in ips]


# -- referrer_parts and utm_tags ----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "parts"),
    [
        ("https://search.example/results?q=secret#x", ("search.example", "/results")),
        ("https://Search.Example:8443", ("search.example", "")),
        ("android-app://com.example.app/", ("com.example.app", "/")),
        ("/relative/path", ("", "")),
        ("not a url", ("", "")),
        ("http://[::1", ("", "")),
        ("", ("", "")),
    ],
)
def test_referrer_parts(raw: str, parts: tuple[str, str]) -> None:
    """A Referer gives its host and path (no query, no fragment); nonsense gives ''."""
    assert parts == referrer_parts(raw)


@pytest.mark.parametrize(
    ("query", "tags"),
    [
        ("utm_source=news&utm_medium=mail&utm_campaign=spring", ("news", "mail", "spring")),
        ("utm_source=a&utm_source=b", ("a", "", "")),
        ("utm_campaign=caf%C3%A9+sale", ("", "", "café sale")),
        ("page=2", ("", "", "")),
        ("", ("", "", "")),
        ("utm_source=" + "x" * 300, ("x" * 200, "", "")),
    ],
)
def test_utm_tags(query: str, tags: tuple[str, str, str]) -> None:
    """utm_source, utm_medium and utm_campaign, decoded, the first of each, cut to 200."""
    assert tags == utm_tags(query)


# -- Enricher -----------------------------------------------------------------------------


def page(state: str, **fields: Any) -> PageRequest:
    """A page request as the middleware queues it, carrying identifiers whatever
    ``state`` says (the enricher must drop them when it is not 'granted')."""
    values: dict[str, Any] = {
        "ts": TS, "pageview_id": "0123456789abcdef" * 2, "host": "example.org", "path": "/docs/a",
        "route": "/docs/{slug}", "method": "GET", "status": 200, "response_bytes": 1234,
        "duration_ms": 1.5, "referrer": "https://search.example/results?q=1",
        "query": "utm_source=news", "user_agent": CHROME, "language": "de",
        "consent_state": state, "visitor_id": "visitor", "session_id": "session",
        "client_ip": "203.0.113.77",
    }  # fmt: skip
    return PageRequest(**{**values, **fields})


def test_page_rows_keep_identifiers_only_when_granted() -> None:
    """Rows not 'granted' lose the visitor and session ids, the IP prefix and the
    referrer path, whatever the event carried; the rest is kept for every row."""
    table = Enricher().page_table([page("granted"), page("denied"), page("unknown")])
    found = table.to_pylist()
    private = ("visitor_id", "session_id", "ip_prefix", "referrer_path")
    assert [
        ("visitor", "session", "203.0.113.0/24", "/results"),
        ("", "", "", ""),
        ("", "", "", ""),
    ] == [tuple(row[k] for k in private) for row in found]
    shared = {
        "ts": datetime.datetime(2027, 1, 15, 8, 0, 0, 500000, tzinfo=datetime.UTC),
        "host": "example.org", "path": "/docs/a", "route": "/docs/{slug}", "method": "GET",
        "status": 200, "response_bytes": 1234, "referrer_host": "search.example",
        "utm_source": "news", "utm_medium": "", "utm_campaign": "", "browser": "Chrome",
        "os": "Windows", "device": "desktop", "is_bot": False, "language": "de",
    }  # fmt: skip
    for row in found:
        assert shared == {k: row[k] for k in shared}
    assert ["granted", "denied", "unknown"] == [row["consent_state"] for row in found]


def test_page_rows_use_the_configured_prefix_lengths() -> None:
    """The IP prefix follows the enricher's IPv4 and IPv6 settings."""
    enricher = Enricher(ipv4_prefix=16, ipv6_prefix=32)
    table = enricher.page_table(
        [
            page("granted"),
            page("granted", client_ip="2001:db8:1:2::1"),
            page("granted", client_ip=""),
        ]
    )
    assert ["203.0.0.0/16", "2001:db8::/32", ""] == table.column("ip_prefix").to_pylist()


def test_page_rows_parse_each_distinct_agent_once_and_keep_order() -> None:
    """Many rows with few distinct agents get their own agent's families, in order."""
    agents = [CHROME, GOOGLEBOT, CHROME, IPHONE, GOOGLEBOT]
    table = Enricher().page_table([page("unknown", user_agent=a) for a in agents])
    assert ["Chrome", "Googlebot", "Chrome", "Mobile Safari", "Googlebot"] == (
        table.column("browser").to_pylist()
    )
    assert [False, True, False, False, True] == table.column("is_bot").to_pylist()


def test_consent_rows_keep_the_prefix_and_browser_family_only() -> None:
    """A consent record keeps the IP as a prefix and the agent as its browser family."""
    record = ConsentRecord(
        ts=TS, consent_id="c" * 32, action="custom", categories=("analytics",),
        policy_revision=2, source="form", visitor_id="visitor", client_ip="203.0.113.77",
        user_agent=FIREFOX,
    )  # fmt: skip
    [row] = Enricher().consent_table([record]).to_pylist()
    assert {
        "consent_id": "c" * 32, "action": "custom", "categories": ["analytics"],
        "policy_revision": 2, "source": "form", "visitor_id": "visitor",
        "ip_prefix": "203.0.113.0/24", "browser": "Firefox", "banner_revision": "",
    } == {k: v for k, v in row.items() if k != "ts"}  # fmt: skip


def test_engagement_rows_are_the_events() -> None:
    """An engagement is stored as reported (the beacon route validated it)."""
    engagement = Engagement(
        TS, "0123456789abcdef" * 2, "visitor", "session", "example.org", "/", 4200, 75, None
    )
    [row] = Enricher().engagement_table([engagement]).to_pylist()
    assert (4200, 75, None, "/") == (
        row["engaged_ms"],
        row["scroll_pct"],
        row["useful"],
        row["path"],
    )


def test_claimed_agent_families_are_safe_text() -> None:
    """A visitor may send the spool's reduced form of a user agent: the families it
    claims are read as safe text of a family's length, never control characters."""
    claimed = agent("consentlog-agent:%00%C2%85/%1b[31m/" + "x" * 300 + "/0")
    assert claimed == ("\ufffd\ufffd", "\ufffd[31m", "x" * 100, "")
    # a signal is one of the names, "1" (files before the crawler list), or none
    assert agent("consentlog-agent:curl/Other/bot/list")[3] == "list"
    assert agent("consentlog-agent:Googlebot/Other/bot/1")[3] == "agent"
    assert agent("consentlog-agent:X/Other/bot/%1b")[3] == ""


def test_aliases_name_the_canonical_host_in_every_table_with_a_host() -> None:
    """``host_aliases``: an alias host is stored as its canonical one, in page rows (raw
    or replayed) and engagements; other hosts are left as they are."""
    from consentlog.ingest.spool import Batch

    enricher = Enricher(host_aliases={"www.example.org": "example.org"})
    pages = [
        PageRequest(TS, "a" * 32, host, "/", "", "GET", 200, 1, 1.0, "", "", "ua", "en",
                    "denied", "", "", "")
        for host in ("www.example.org", "example.org", "other.example")
    ]  # fmt: skip
    engagements = [
        Engagement(TS, "b" * 32, "v", "s", host, "/", 10, 5, None)
        for host in ("www.example.org", "blog.example")
    ]
    rows = enricher.tables(Batch("t", pages=pages, engagements=engagements))
    assert rows.tables["page_requests"].column("host").to_pylist() == [
        "example.org", "example.org", "other.example",
    ]  # fmt: skip
    assert rows.tables["engagements"].column("host").to_pylist() == [
        "example.org", "blog.example",
    ]  # fmt: skip
    assert rows.tables["engagements"].schema == enricher.engagement_table(engagements).schema
