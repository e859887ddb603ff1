"""Countries (``ingest/geo.py``): the CDN's header when it names a country, else the
database's answer for the full IP — geoip2fast's shipped data, or a MaxMind-format file
the operator provides — else unknown; never an error."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from consentlog.exceptions import ConfigError
from consentlog.ingest.geo import Countries, client_address, country_code
from consentlog.settings import Settings

GEOIP2FAST = Countries("geoip2fast")


@pytest.mark.parametrize(
    ("value", "code"),
    [("DE", "DE"), ("de", "DE"), (" fr ", "FR"), ("XX", ""), ("T1", ""), ("ZZ", ""),
     ("EU", ""), ("GBR", ""), ("", ""), ("D\x00", ""), ("ÄÖ", ""), ("ß", ""),
     ("\x85DE", ""), ("\tDE", ""), ("\ufffdDE", "")],
)  # fmt: skip
def test_only_two_letter_country_codes_are_kept(value: str, code: str) -> None:
    assert code == country_code(value)


@pytest.mark.parametrize(
    ("ip", "code"),
    [
        ("81.2.69.160", "GB"),
        ("::ffff:81.2.69.160", "GB"),  # a dual-stack socket's IPv4 visitor
        ("[2a00:1450:4001:82a::200e]", "DE"),
        ("2a00:1450:4001:82a::200e", "DE"),
        ("127.0.0.1", ""),  # private and reserved ranges have no country
        ("10.1.2.3", ""),
        ("2001:db8::1", ""),
        ("198.51.100.0/24", ""),  # a prefix (an old spool file's) is no address
        ("not an address", ""),
        ("", ""),
    ],
)
def test_the_shipped_database_gives_the_country_of_an_address(ip: str, code: str) -> None:
    assert code == GEOIP2FAST(ip)


def test_a_country_header_decides_even_when_it_names_none() -> None:
    """Behind a CDN the client's address is often the CDN's own: a header that says
    "unknown" (Cloudflare's XX, Tor's T1) is unknown, not looked up; only a request
    without the header falls back to the database."""
    assert "FR" == GEOIP2FAST("81.2.69.160", "fr")
    assert "" == GEOIP2FAST("81.2.69.160", "XX")
    assert "" == GEOIP2FAST("81.2.69.160", "T1")
    assert "GB" == GEOIP2FAST("81.2.69.160", "")
    assert "FR" == Countries()("81.2.69.160", "FR")  # no database: the header only
    assert "" == Countries()("81.2.69.160")


@given(st.text(max_size=60), st.text(max_size=10))
def test_any_input_gives_a_code_or_nothing(ip: str, header: str) -> None:
    code = GEOIP2FAST(ip, header)
    assert code == "" or (len(code) == 2 and code.isascii() and code.isupper())


def test_mapped_addresses_are_read_as_ipv4() -> None:
    assert "1.2.3.4" == client_address("::ffff:1.2.3.4")
    assert "2001:db8::1" == client_address("[2001:db8::1]")
    assert "::ffff:junk.1" == client_address("::ffff:junk.1")


def _mmdb(path: Path, networks: dict[str, dict[str, object]]) -> Path:
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-Country")
    for network, record in networks.items():
        writer.insert_network(IPSet([network]), record)
    writer.to_db_file(str(path))
    return path


def test_an_operator_mmdb_file_is_read_in_its_vendors_shapes(tmp_path: Path) -> None:
    """GeoLite2's ``country.iso_code`` (or ``registered_country``), and the flat
    ``country_code`` of other vendors' country files."""
    path = _mmdb(
        tmp_path / "countries.mmdb",
        {
            "192.0.2.0/25": {"country": {"iso_code": "NL", "names": {"en": "Netherlands"}}},
            "192.0.2.128/25": {"registered_country": {"iso_code": "BE"}},
            "198.51.100.0/24": {"country_code": "se"},
            "2001:db8::/32": {"continent": {"code": "EU"}},
        },
    )
    countries = Countries(str(path))
    assert ["NL", "BE", "SE", "", ""] == [
        countries(ip) for ip in ("192.0.2.1", "192.0.2.200", "198.51.100.9", "2001:db8::5",
                                 "203.0.113.1")
    ]  # fmt: skip
    assert "SE" == countries("::ffff:198.51.100.9")


def test_an_unreadable_database_gives_no_countries_and_one_log_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mmdb"
    broken.write_bytes(b"not a database")
    countries = Countries(str(broken))
    with structlog.testing.capture_logs() as logs:
        assert "" == countries("81.2.69.160")
        assert "" == countries("81.2.69.161")
        assert "DE" == countries("81.2.69.160", "DE")
    assert ["country_database_unreadable"] == [line["event"] for line in logs]
    assert "81.2.69" not in str(logs)


def test_the_settings_name_a_database_or_a_header_that_can_be_used(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        Settings(country_database=str(tmp_path / "missing.mmdb"))
    with pytest.raises(ConfigError, match="header name in lowercase"):
        Settings(country_header="CF-IPCountry")
    with pytest.raises(ConfigError, match="header name"):
        Settings(country_header="x\r\ny")
    assert "" == Settings(country_database="").country_database
    assert "cf-ipcountry" == Settings(country_header="cf-ipcountry").country_header
