"""How ``consentlog scan`` classifies what it finds, and what breaks consent."""

from __future__ import annotations

import tomllib
from importlib.resources import files

import pytest

from consentlog.scan.classify import UNCLASSIFIED, Classifier, known
from consentlog.scan.crawl import Scan, Sighting
from consentlog.scan.report import as_markdown, entries
from consentlog.settings import DEFAULT_CATEGORIES, Category, Settings

SETTINGS = Settings()
CATEGORIES = {"necessary", "preferences", "analytics", "marketing"}


def test_the_curated_list_is_well_formed() -> None:
    """Every entry has a pattern, a provider, a purpose and a known category, and no
    pattern comes after one that already covers it."""
    data = tomllib.loads(files("consentlog.scan").joinpath("known.toml").read_text("utf-8"))
    assert len(data["cookie"]) == len(known()) >= 50
    for item in data["cookie"]:
        assert {"pattern", "provider", "purpose", "category"} == set(item), item
        assert item["category"] in CATEGORIES, item
        assert item["purpose"].endswith("."), item
    patterns = [rule.pattern for rule in known()]
    assert len(set(patterns)) == len(patterns)


@pytest.mark.parametrize(
    ("name", "category", "provider", "source"),
    [
        ("cl_consent", "necessary", "this site (consentlog)", "consentlog"),
        ("cl_vid", "analytics", "this site (consentlog)", "consentlog"),
        ("_ga", "analytics", "Google Analytics", "configured"),  # a default pattern
        ("_ga_ABC123", "analytics", "Google Analytics", "configured"),
        ("_gcl_au", "marketing", "Google Ads", "configured"),
        ("YSC", "marketing", "YouTube", "known"),
        ("__cf_bm", "necessary", "Cloudflare", "known"),
        ("_hjSessionUser_123", "analytics", "Hotjar", "configured"),
        ("ga", UNCLASSIFIED, "", "none"),
        ("session", UNCLASSIFIED, "", "none"),
    ],
)
def test_names_are_classified(name: str, category: str, provider: str, source: str) -> None:
    """consentlog's own cookies, then the site's configured patterns (with the curated
    provider), then the curated list; anything else is unclassified."""
    found = Classifier(SETTINGS).classify(name)
    assert (category, provider, source) == (found.category, found.provider, found.source)


def test_the_site_configuration_wins() -> None:
    """A pattern of the site's own category, or one declared necessary, beats the list."""
    settings = Settings(categories=(*DEFAULT_CATEGORIES, Category("video", "Video", "", ("YSC",))))
    classifier = Classifier(settings, necessary=["session*"])
    assert "video" == classifier.classify("YSC").category
    assert "YouTube" == classifier.classify("YSC").provider
    assert ("necessary", "configured") == (
        classifier.classify("sessionid").category,
        classifier.classify("sessionid").source,
    )


def sighting(name: str, phase: str, kind: str = "cookie") -> Sighting:
    return Sighting(kind, name, "site.test", phase, "http://site.test/", -1)  # type: ignore[arg-type]


def test_only_what_is_beyond_necessary_before_a_choice_or_after_decline_breaks_consent() -> None:
    """Necessary anywhere is fine; analytics after Accept is fine; the same before a
    choice, an unclassified name after Decline, or a storage key before a choice is not."""
    scan = Scan("http://site.test/", 0.0)
    scan.sightings += [
        sighting("cl_consent", "declined"),
        sighting("cl_vid", "accepted"),
        sighting("_ga", "before"),
        sighting("mystery", "declined"),
        sighting("ajs_anonymous_id", "before", "localStorage"),
    ]
    found = entries(scan, Classifier(SETTINGS))
    assert ["_ga", "ajs_anonymous_id", "mystery"] == sorted(
        e.name for e in found if e.breaks_consent
    )
    text = as_markdown(scan, found)
    assert "3 beyond necessary (or unclassified) present before a choice or after Decline:" in text
    assert "| `ajs_anonymous_id` | local storage | Segment |" in text
