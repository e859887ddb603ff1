"""What a cookie or storage key found by ``consentlog scan`` is: its category, who sets
it and why. Pure: no browser, no I/O beyond reading the shipped list.

A name is classified, in order, by consentlog's own cookies, the categories the site
configured (``Settings.categories``' cookie patterns, and ``--necessary`` patterns
given to the scan), and ``known.toml``, a curated list of common third-party cookies.
A name none of them knows is ``unclassified``, which a scan treats as beyond necessary.
The site's own rules (consentlog's cookies, its categories, ``--necessary``) and the
known list's generic names (``first_party``: a session id, a CSRF token) hold only for
what the site's own domain stores: the same name set by another domain is another
party's, and not known to be necessary.
"""

from __future__ import annotations

import fnmatch
import functools
import ipaddress
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.resources import files
from typing import Literal

from consentlog.settings import ANALYTICS, NECESSARY, Settings

UNCLASSIFIED = "unclassified"
Source = Literal["consentlog", "configured", "known", "none"]


@dataclass(frozen=True, slots=True)
class Classification:
    """What is known of one name."""

    category: str  # necessary, analytics, marketing, preferences … or unclassified
    provider: str
    purpose: str
    source: Source  # where the classification comes from


@dataclass(frozen=True, slots=True)
class _Rule:
    pattern: str
    classification: Classification
    first_party: bool  # holds only for the site's own domain


@functools.cache
def known() -> tuple[_Rule, ...]:
    """The curated list (``known.toml``), in its order."""
    data = tomllib.loads(files("consentlog.scan").joinpath("known.toml").read_text("utf-8"))
    return tuple(
        _Rule(
            item["pattern"],
            Classification(item["category"], item["provider"], item["purpose"], "known"),
            bool(item.get("first_party", False)),
        )
        for item in data["cookie"]
    )


class Classifier:
    """Classifies names for one site: its settings, and patterns it declares necessary."""

    def __init__(self, settings: Settings, necessary: Iterable[str] = ()) -> None:
        own = [
            (settings.consent_cookie, NECESSARY, "Remembers the visitor's cookie choice."),
            (settings.visitor_cookie, ANALYTICS, "Distinguishes visitors who accepted analytics."),
            (settings.session_cookie, ANALYTICS, "Groups an analytics visit's page views."),
            ("cl_dashboard*", NECESSARY, "Signs in to the site's analytics dashboard."),
        ]
        rules = [
            _Rule(
                name,
                Classification(category, "this site (consentlog)", purpose, "consentlog"),
                True,
            )
            for name, category, purpose in own
        ]
        for pattern in necessary:
            rules.append(
                _Rule(
                    pattern,
                    Classification(NECESSARY, "this site", "Declared necessary.", "configured"),
                    True,
                )
            )
        for category in settings.categories:
            for pattern in category.cookie_patterns:
                rules.append(
                    _Rule(
                        pattern,
                        Classification(
                            category.name, "", f"Configured as {category.label}.", "configured"
                        ),
                        True,
                    )
                )
        self._rules = (*rules, *known())

    def classify(self, name: str, domain: str = "", site: str = "") -> Classification:
        """The first rule whose pattern matches ``name`` (case-sensitive) and, for a
        first-party rule, whose ``domain`` is the ``site`` host's own (the same, a
        parent or a subdomain; no ``site``: not checked), else unclassified. A
        configured rule without a provider takes the known one's."""
        own = not site or same_site(domain, site)
        for rule in self._rules:
            if (own or not rule.first_party) and fnmatch.fnmatchcase(name, rule.pattern):
                found = rule.classification
                if not found.provider:
                    listed = next(
                        (r.classification for r in known() if fnmatch.fnmatchcase(name, r.pattern)),
                        None,
                    )
                    if listed is not None:
                        return Classification(
                            found.category, listed.provider, listed.purpose, "configured"
                        )
                return found
        return Classification(UNCLASSIFIED, "", "", "none")


def same_site(domain: str, site: str) -> bool:
    """Whether a cookie's (or a storage's) ``domain`` is the ``site`` host's own: the
    host, a domain above it, or one below it (no public-suffix list: ``co.uk`` would be
    taken for a parent)."""
    domain = domain.lower().lstrip(".").rstrip(".").strip("[]")
    site = site.lower().rstrip(".").strip("[]")
    if _is_address(domain) or _is_address(site):  # an IP address is only itself
        return domain == site
    return domain == site or site.endswith("." + domain) or domain.endswith("." + site)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
