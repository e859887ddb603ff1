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
from consentlog.ingest.bots import DataCentres, agent_signal
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
    path = tmp_path / "ranges.txt"
    path.write_text("# cloud\n203.0.113.0/24  # a provider\n\n  2001:db8::/48\n")
    first = DataCentres.read(str(path))
    assert first("203.0.113.9")
    assert first is DataCentres.read(str(path))  # read once
    path.write_text("192.0.2.0/24\n")
    os.utime(path, ns=(1, 1))
    second = DataCentres.read(str(path))
    assert second("192.0.2.1")
    assert not second("203.0.113.9")
    assert not DataCentres.read("")("203.0.113.9")


def test_a_bad_line_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "ranges.txt"
    path.write_text("203.0.113.0/24\n203.0.113.0/40\n")
    with pytest.raises(ConfigError, match=r"line 2: '203.0.113.0/40' is not an address range"):
        DataCentres.read(str(path))
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="cannot read it"):
        DataCentres.read(str(path))
    with pytest.raises(ConfigError, match="No such file"):
        DataCentres.read(str(tmp_path / "missing.txt"))


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
