"""Countries: the ISO 3166-1 code of a request's client, worked out by the writer from the
full IP before the IP is cut to its prefix (or dropped, without consent), or taken from a
header the site's CDN sets.

A country is stored for every page request, consented or not: it is not an identifier
(a country holds millions of people), and the IP it came from is never stored. The
lookup runs off the request path, once per distinct address of a batch; nothing here
keeps an address after the call returns.

``Countries`` is what the writer asks: the CDN's header value when it names a country,
else the database's answer for the IP, else '' (unknown). Databases:

- ``"geoip2fast"``: the country data geoip2fast ships (IPv4 and IPv6), read once per
  process (about 50 MB of memory, 0.2 s);
- a path to a MaxMind-format ``.mmdb`` file the operator provides (GeoLite2 Country,
  DB-IP Lite Country, IPinfo Lite), read with ``maxminddb``;
- ``""``: no database (countries only from the header, if one is configured).
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from consentlog.exceptions import ConfigError, first_line
from consentlog.settings import GEOIP2FAST

log = structlog.get_logger("consentlog.ingest.geo")

MAX_HEADER = 8  # a country header is two letters; more is not one
# two-letter answers that name no country: unknown (Cloudflare's XX, ISO's ZZ), and the
# continent codes older databases gave (EU, AP)
NOT_COUNTRIES = frozenset({"XX", "ZZ", "EU", "AP"})

# What a page event holds once its country was worked out and none was found: a value
# that names no country (so it is stored as ''), and that no later lookup replaces.
UNKNOWN = "--"

Lookup = Callable[[str], str]  # an IP as text → its country code, '' when not known


def country_code(value: str) -> str:
    """``value`` as a country code (``de`` → ``DE``), or '' when it names no country: what
    a CDN header or a database answer must be before it is stored."""
    code = value.strip(" ")
    if len(code) != 2 or not code.isascii() or not code.isalpha():  # "ß".upper() is "SS"
        return ""
    code = code.upper()
    return code if code not in NOT_COUNTRIES else ""


def client_address(ip: str) -> str:
    """``ip`` as a database reads it: an IPv4-mapped IPv6 address (``::ffff:1.2.3.4``, what a
    dual-stack socket reports) as its IPv4 address, a bracketed IPv6 address unbracketed."""
    if ip.startswith("["):
        ip = ip[1:].partition("]")[0]
    if "." in ip and ":" in ip:
        try:
            mapped = ipaddress.IPv6Address(ip).ipv4_mapped
        except ValueError:
            return ip
        return str(mapped) if mapped else ip
    return ip


class Countries:
    """A request's country: the CDN's ``header`` when the request has one (a value that
    names no country, Cloudflare's ``XX`` or Tor's ``T1``, is unknown: the client's IP
    behind a CDN is often the CDN's own), else the ``database``'s answer for the client's
    IP, else ''.

    The database is read on first use (on the writer's thread, not when the site
    starts), once per process; one that cannot be read is logged once and gives no
    countries — the pages are still stored.
    """

    def __init__(self, database: str = "", *, lookup: Lookup | None = None) -> None:
        self.database = database
        self._lookup = lookup
        self._failed = False

    @property
    def has_database(self) -> bool:
        """Whether addresses are looked up (else only headers give countries)."""
        return bool(self.database) or self._lookup is not None

    def __call__(self, ip: str, header: str = "") -> str:
        if header:
            return country_code(header)
        if not ip:
            return ""
        lookup = self._lookup or self._open()
        if lookup is None:
            return ""
        try:
            return country_code(lookup(client_address(ip)))
        except Exception:  # an address a database cannot read has no country
            return ""

    def decided(self, ip: str, header: str = "") -> str:
        """The country as an event keeps it once worked out: the code, or ``UNKNOWN``."""
        return self(ip, header) or UNKNOWN

    def _open(self) -> Lookup | None:
        if not self.database or self._failed:
            return None
        try:
            self._lookup = _database(self.database)
        except Exception as exc:  # the site fails open: pages, no countries
            self._failed = True
            log.error("country_database_unreadable", database=self.database[:200],
                      error=first_line(exc))  # fmt: skip
            return None
        return self._lookup


_LOADING = threading.Lock()
_LOADED: dict[str, Lookup] = {}


def _database(database: str) -> Lookup:
    """The lookup of ``database``, read once per process (two writers share it)."""
    with _LOADING:
        if database not in _LOADED:
            _LOADED[database] = _geoip2fast() if database == GEOIP2FAST else _mmdb(database)
        return _LOADED[database]


def _geoip2fast() -> Lookup:
    from geoip2fast import GeoIP2Fast

    data = GeoIP2Fast(geoip2fast_data_file="geoip2fast-ipv6.dat.gz", verbose=False)

    def lookup(ip: str) -> str:
        return str(data.lookup(ip).country_code)

    return lookup


def _mmdb(path: str) -> Lookup:
    import maxminddb

    try:
        reader = maxminddb.open_database(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"country_database={path[:200]!r}: cannot read it: {exc}") from None

    def lookup(ip: str) -> str:
        return _mmdb_country(reader.get(ip))

    return lookup


def _mmdb_country(record: Any) -> str:
    """The country code of a MaxMind-format record: GeoLite2's ``country.iso_code`` (or the
    registered country's, for an address whose users' country is not known), or the
    plain ``country_code``/``country`` text other vendors' files hold."""
    if not isinstance(record, Mapping):
        return ""
    for key in ("country", "registered_country"):
        place = record.get(key)
        if isinstance(place, Mapping) and isinstance(place.get("iso_code"), str):
            return str(place["iso_code"])
    for key in ("country_code", "country"):
        if isinstance(record.get(key), str):
            return str(record[key])
    return ""
