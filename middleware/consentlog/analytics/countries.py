"""Country names for reports: the English short name of an ISO 3166-1 code, from the
``iso3166.tab`` the tz database ships (``tzdata``), so that no list is kept here."""

from __future__ import annotations

import functools
from importlib import resources

UNKNOWN = "Unknown"  # the name of '' (no database or header knew the country)


@functools.cache
def _names() -> dict[str, str]:
    text = resources.files("tzdata").joinpath("zoneinfo", "iso3166.tab").read_text("utf-8")
    names = {}
    for line in text.splitlines():
        code, tab, name = line.partition("\t")
        if tab and not code.startswith("#"):
            names[code] = name.strip()
    return names


def country_name(code: str) -> str:
    """``DE`` → ``Germany``; a code the list does not hold is shown as itself."""
    if not code:
        return UNKNOWN
    return _names().get(code, code)
