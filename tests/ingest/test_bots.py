"""Bot signals beyond the user agent (``ingest/bots.py``): the crawler list, data-centre
ranges read from the operator's file, and the settings that configure them."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentlog.exceptions import ConfigError
from consentlog.ingest.bots import RECHECK, DataCentreFile, DataCentres, agent_signal, listed
from consentlog.settings import Settings


@pytest.mark.parametrize(
    ("user_agent", "signal"),
    [
        ("Mozilla/5.0 (compatible; Googlebot/2.1)", "agent"),
        ("curl/8.5.0", "list"),
        ("Wget/1.21.4", "list"),
        ("axios/1.6.8", "list"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/131.0.0.0 Safari/537.36", ""),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
         "Gecko) Version/17.0 Safari/605.1.15", ""),
    ],
)  # fmt: skip
def test_the_crawler_list_catches_what_names_no_bot(user_agent: str, signal: str) -> None:
    assert signal == agent_signal(user_agent, "", "")


def test_the_crawler_list_decides_as_crawlerdetect_does_in_linear_time() -> None:
    """The RE2 automaton gives CrawlerDetect's own answers, and a long made-up agent costs
    no more than a few hundred µs (Python's re: tens of ms)."""
    import random
    import string
    import time

    from crawlerdetect import CrawlerDetect

    rng = random.Random(5)
    made_up = ["".join(rng.choice(string.ascii_letters + " /;.()") for _ in range(256))
               for _ in range(40)]  # fmt: skip
    real = ["curl/8.5.0", "Slackbot-LinkExpanding 1.0", "Mozilla/5.0 (compatible; YandexBot/3.0)",
            "Mozilla/5.0 (Linux; Android 14) YandexSearch/24", "okhttp/4.12.0",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"]  # fmt: skip
    for agent in [*real, *made_up]:
        assert CrawlerDetect().is_crawler(agent) == listed(agent), agent
    started = time.perf_counter()
    for agent in made_up:
        listed(agent + "!")
    assert (time.perf_counter() - started) / len(made_up) < 0.005


def test_ranges_match_their_addresses_and_no_others() -> None:
    """Overlapping and adjacent ranges merge; an IPv4-mapped IPv6 address is its IPv4
    one; what is not an address (a prefix, junk) is in no range."""
    centres = DataCentres(["198.18.0.0/16", "198.19.0.0/16", "198.18.4.0/24", "2001:db8::/32"])
    assert len(centres) == 2  # the IPv4 ranges merged into one
    for ip in ("198.18.0.1", "198.19.255.255", "::ffff:198.18.1.1", "2001:db8::5", "[2001:db8::1]"):
        assert centres(ip), ip
    for ip in ("198.17.255.255", "198.20.0.0", "2001:db9::1", "", "198.18.0.0/24", "x", "1.2.3"):
        assert not centres(ip), ip


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.ip_addresses().flatmap(lambda a: st.tuples(st.just(a), st.integers(0, a.max_prefixlen))),
        max_size=6,
    ),
    st.ip_addresses(),
)
def test_a_lookup_agrees_with_ipaddress(ranges: list[tuple[object, int]], ip: object) -> None:
    networks = [ipaddress.ip_network(f"{a}/{bits}", strict=False) for a, bits in ranges]
    centres = DataCentres([str(n) for n in networks])
    address = ipaddress.ip_address(str(ip))
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # a dual-stack socket's IPv4 client
    assert centres(str(ip)) == any(address in n for n in networks if n.version == address.version)


def test_the_file_is_read_with_comments_and_again_when_it_changes(tmp_path: Path) -> None:
    """Comments, blank lines and a byte-order mark are no ranges; a changed file is read
    again at the next look (once a minute)."""
    path = tmp_path / "ranges.txt"
    path.write_text("\ufeff# cloud\n203.0.113.0/24  # a provider\n\n  2001:db8::/48\n")
    ranges = DataCentreFile(str(path))
    now = [1000.0]
    ranges.clock = lambda: now[0]  # type: ignore[method-assign]
    assert ranges("203.0.113.9")
    assert ranges("2001:db8::1")
    path.write_text("192.0.2.0/24\n")
    os.utime(path, ns=(1, 1))
    assert not ranges("192.0.2.1")  # not looked at again yet
    now[0] += RECHECK
    assert ranges("192.0.2.1")
    assert not ranges("203.0.113.9")


def test_what_is_no_range_or_too_narrow_is_left_out_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A line that is no range, and a range narrower than the stored prefix (it could
    single out one household), are left out; the rest holds. A file that cannot be read
    gives no ranges: pages are stored all the same."""
    path = tmp_path / "ranges.txt"
    path.write_text("203.0.113.0/24\n203.0.113.0/40\n198.51.100.7\n2001:db8::/64\nx/8\n")
    ranges = DataCentreFile(str(path), v4_bits=24, v6_bits=48)
    assert ranges("203.0.113.200")
    assert not ranges("198.51.100.7")  # a /32: narrower than /24
    assert not ranges("2001:db8::1")  # a /64: narrower than /48
    assert 1 == len(ranges)
    inner = ranges.current()
    assert (2, [2, 5]) == (inner.narrow, inner.bad)
    path.write_bytes(b"\xff\xfe\x00")
    unreadable = DataCentreFile(str(path))
    assert not unreadable("203.0.113.9")
    missing = DataCentreFile(str(tmp_path / "missing.txt"))
    assert not missing("203.0.113.9")


def test_the_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="not a header name in lowercase"):
        Settings(browser_headers=("Accept-Language",))
    with pytest.raises(ConfigError, match=r"datacentre_ranges=.*no such file"):
        Settings(datacentre_ranges="/no/such/ranges.txt")
    assert (
        ()
        == Settings.from_env(
            {"CONSENTLOG_BROWSER_HEADERS": ""}, require_secret_keys=False
        ).browser_headers
    )


def test_a_site_that_checks_no_headers_counts_no_header_bots() -> None:
    """``browser_headers=()``: a request without Accept-Language is a person's."""
    from starlette.testclient import TestClient

    from consentlog.asgi.middleware import ConsentMiddleware
    from consentlog.testing import MemorySink
    from tests.helpers import HUMAN, SECRET, host_app

    for checked, signal in (((), ""), (("accept-language",), "headers")):
        sink = MemorySink()
        app = ConsentMiddleware(
            host_app(), secret_keys=[SECRET], writer=sink, browser_headers=checked
        )
        TestClient(app).get("/", headers={"user-agent": HUMAN})
        [page] = sink.pages
        assert signal == page.bot_signal


def test_a_goal_from_a_data_centre_is_a_bots_and_its_address_never_reaches_disk() -> None:
    """A goal carries its client's full address in memory only: the writer checks it
    against the ranges and drops it, on disk and in the row alike."""
    from consentlog.ingest.enrich import Enricher
    from consentlog.ingest.events import Goal
    from consentlog.ingest.spool import Batch, decode, encode
    from tests.helpers import HUMAN

    enricher = Enricher(datacentres=DataCentres(["198.18.0.0/15"]))
    goals = [
        Goal(1.8e9, "signup", "server", "example.org", "/signup", "", "POST", 303, "unknown",
             "", "", HUMAN, (), "", ip)
        for ip in ("198.18.7.7", "203.0.113.7")
    ]  # fmt: skip
    on_disk, _ = enricher.for_disk(Batch("t", goals=goals))
    data = encode(on_disk)
    assert b"198.18.7.7" not in data
    assert b"203.0.113.7" not in data
    assert b"203.0.113.7" not in encode(Batch("t", goals=goals))  # whoever forgot for_disk
    replayed = decode(data).goals
    assert ["datacentre", ""] == [g.bot_signal for g in replayed]
    for batch in (Batch("t", goals=goals), Batch("t", goals=replayed)):
        table = enricher.tables(batch).tables["goals"]
        assert [True, False] == table.column("is_bot").to_pylist()
        assert "client_ip" not in table.column_names
