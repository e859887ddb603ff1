"""How ``consentlog scan`` classifies what it finds, and what breaks consent."""

from __future__ import annotations

import tomllib
from importlib.resources import files

import pytest

from consentlog.scan.classify import UNCLASSIFIED, Classifier, known, same_site
from consentlog.scan.crawl import Scan, Sighting
from consentlog.scan.report import as_html, as_markdown, entries, printable
from consentlog.settings import DEFAULT_CATEGORIES, Category, Settings

SETTINGS = Settings()
CATEGORIES = {"necessary", "preferences", "analytics", "marketing"}


def test_the_curated_list_is_well_formed() -> None:
    """Every entry has a pattern, a provider, a purpose and a known category, and no
    pattern comes after one that already covers it."""
    data = tomllib.loads(files("consentlog.scan").joinpath("known.toml").read_text("utf-8"))
    assert len(data["cookie"]) == len(known()) >= 50
    for item in data["cookie"]:
        assert {"pattern", "provider", "purpose", "category"} <= set(item), item
        assert set(item) <= {"pattern", "provider", "purpose", "category", "first_party"}, item
        assert item.get("first_party", True) is True, item
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


@pytest.mark.parametrize(
    ("name", "domain", "category"),
    [
        ("PHPSESSID", "site.test", "necessary"),  # the site's own session
        ("PHPSESSID", "www.site.test", "necessary"),
        ("PHPSESSID", "tracker.test", UNCLASSIFIED),  # another server's: not known
        ("csrftoken", "ads.example", UNCLASSIFIED),
        ("cl_consent", "tracker.test", UNCLASSIFIED),  # consentlog's name, not this site
        ("sessionid", "tracker.test", UNCLASSIFIED),  # --necessary is the site's own
        ("__cf_bm", "tracker.test", "necessary"),  # a provider's own name, on any domain
        ("YSC", "youtube.com", "marketing"),
    ],
)
def test_generic_and_site_rules_hold_only_on_the_site_domain(
    name: str, domain: str, category: str
) -> None:
    """A session id or CSRF token name (and the site's own rules) is necessary only
    where the site sets it; the same name from another domain is another party's."""
    classifier = Classifier(SETTINGS, necessary=["sessionid"])
    assert category == classifier.classify(name, domain, "www.site.test").category


def test_same_site() -> None:
    """The host, a domain above it, one below it; nothing else."""
    assert same_site(".Site.Test", "www.site.test")
    assert same_site("a.www.site.test", "www.site.test")
    assert not same_site("evilsite.test", "site.test")
    assert not same_site("site.test.evil", "site.test")
    # an address is only itself, brackets or not
    assert same_site("127.0.0.1", "127.0.0.1")
    assert not same_site("0.0.1", "127.0.0.1")
    assert same_site("[::1]", "::1")


def test_names_cannot_break_the_declaration_or_the_terminal() -> None:
    """A storage key with a newline, backticks, pipes, an ANSI escape or a bidi override
    stays one code span in one table row, printable; the HTML shows it escaped."""
    hostile = "a`b``|c\n\x1b[31mred\u202e"
    scan = Scan("http://site.test/", 0.0)
    scan.sightings.append(sighting(hostile, "before", "localStorage"))
    found = entries(scan, Classifier(SETTINGS))
    text = as_markdown(scan, found)
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert 2 == len(rows)  # the header and one entry
    assert rows[1].startswith("| ```a`b``\\|c\\n\\x1b[31mred\\u202e``` | local storage |")
    assert "\x1b" not in text
    assert "\u202e" not in text
    assert "\x1b" not in as_html(scan, found)
    assert "a`b``|c\\n\\x1b[31mred\\u202e" == printable(hostile)


def test_a_scan_that_fails_otherwise_is_exit_2_not_a_verdict(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 1 means "breaks consent" to a site's CI: a configuration error is exit 2,
    with one printable line."""
    from consentlog.cli import main

    monkeypatch.setenv("CONSENTLOG_CATEGORIES", "not json\x1b[2J")
    assert 2 == main(["scan", "http://127.0.0.1:9/"])
    err = capsys.readouterr().err
    assert err.startswith("consentlog scan: the scan failed: ")
    assert "\x1b" not in err
