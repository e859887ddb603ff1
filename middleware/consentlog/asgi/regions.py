"""Where the banner asks: ``banner_regions``.

A visitor without a decision (and without a GPC / DNT signal) is asked only in the
regions the operator names; elsewhere ``outside_default`` is their decision — every
optional category (``granted``) or none (``denied``) — taken at once, remembered in the
consent cookie and recorded in ``consent_records`` with source and action ``region``,
like a signal's. The region is the country (the CDN's ``country_header``, else the
``country_database`` looked up with the client's address, the same as page rows get)
and, for a subdivision such as ``CA-QC``, the CDN's ``region_header``. A visitor whose
country is unknown is asked: privacy fails closed.
"""

from __future__ import annotations

from consentlog.consent.http import text
from consentlog.consent.visit import Visit
from consentlog.ingest.events import MAX_COUNTRY
from consentlog.ingest.geo import Countries
from consentlog.settings import Settings


class Regions:
    """Whether the banner asks a visitor, by their country and subdivision."""

    def __init__(self, settings: Settings) -> None:
        self._asked = settings.asked_regions
        self._countries = Countries(settings.country_database)
        self._country_header = settings.country_header.encode("ascii")
        self._region_header = settings.region_header.encode("ascii")

    def asks(self, visit: Visit) -> bool:
        """True unless the visitor's country is known and neither it nor their
        subdivision is one the banner asks in."""
        header = (
            text(visit.headers, self._country_header, MAX_COUNTRY) if self._country_header else ""
        )
        country = self._countries(visit.origin.client_ip, header)
        if not country:
            return True
        if country in self._asked:
            return True
        if self._region_header:
            subdivision = text(visit.headers, self._region_header, 8).strip().upper()
            if subdivision and f"{country}-{subdivision}" in self._asked:
                return True
        return False
