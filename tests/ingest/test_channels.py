"""Channels and campaign tags (``ingest/channels.py``, ``parsing.campaign_tags``): the
documented rules, first match wins; an ad click id is kept by name, never by value."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consentlog.ingest.channels import CHANNELS, channel
from consentlog.ingest.events import campaign_query
from consentlog.ingest.parsing import Campaign, campaign_tags

HOST = "example.org"


@pytest.mark.parametrize(
    ("referrer", "query", "expected"),
    [
        ("", "", "direct"),
        ("example.org", "", "internal"),
        ("example.org", "utm_source=x", "internal"),  # a tagged link inside the site
        ("www.example.org", "", "internal"),  # an alias
        ("www.google.com", "", "search"),
        ("www.google.co.uk", "", "search"),
        ("google.de", "", "search"),
        ("search.brave.com", "", "search"),
        ("duckduckgo.com", "", "search"),
        ("google.example.net", "", "referral"),  # not google.<tld>
        ("notgoogle.com", "", "referral"),
        ("news.ycombinator.com", "", "social"),
        ("m.facebook.com", "", "social"),
        ("t.co", "", "social"),
        ("mastodon.social", "utm_source=mastodon&utm_medium=social", "social"),
        ("mastodon.social", "utm_source=mastodon", "social"),  # no medium: still social
        ("l.facebook.com", "fbclid=", "campaign"),  # an ad click
        ("l.facebook.com", "utm_medium=cpc", "campaign"),
        ("mail.google.com", "", "email"),
        ("", "utm_source=newsletter&utm_medium=email", "email"),
        ("", "utm_medium=Newsletter", "email"),
        ("www.google.com", "gclid=", "campaign"),
        ("www.google.com", "utm_campaign=spring", "campaign"),
        ("", "ref=producthunt", "campaign"),
        ("", "msclkid=", "campaign"),
        ("dev.to", "", "referral"),
        ("blog.example.net", "", "referral"),
    ],
)
def test_the_documented_rules(referrer: str, query: str, expected: str) -> None:
    tags = campaign_tags(campaign_query(query))
    aliases = {"www.example.org": HOST}
    got = channel(
        HOST, referrer, tags.source, tags.medium, tags.campaign, tags.ref, tags.click_id,
        lambda host: aliases.get(host, host),
    )  # fmt: skip
    assert expected == got


def test_a_port_does_not_make_the_site_external() -> None:
    assert "internal" == channel("example.org:8080", "example.org", "", "", "", "", "")


@given(
    st.tuples(
        st.text(max_size=40), st.text(max_size=40), st.text(max_size=10), st.text(max_size=10),
        st.text(max_size=10), st.text(max_size=10), st.sampled_from(["", "gclid", "fbclid"]),
    )
)  # fmt: skip
def test_every_row_gets_one_of_the_channels(parts: tuple[str, ...]) -> None:
    assert channel(*parts) in CHANNELS


def test_campaign_parameters_are_kept_and_click_ids_lose_their_value() -> None:
    query = (
        "email=a@b.example&utm_source=news&utm_term=shoes&utm_content=banner-2&ref=hn"
        "&gclid=Cj0KCQiA&fbclid=IwAR3&token=s3cret&utm_campaign=spring"
    )
    kept = campaign_query(query)
    assert (
        "utm_source=news&utm_campaign=spring&utm_term=shoes&utm_content=banner-2&ref=hn"
        "&gclid=&fbclid="
    ) == kept
    assert Campaign("news", "", "spring", "shoes", "banner-2", "hn", "gclid") == campaign_tags(kept)
    assert "" == campaign_query("a=1&b=2")
    assert "" == campaign_query("no-equals-sign")


@given(st.text(max_size=200))
def test_no_click_id_value_survives(value: str) -> None:
    kept = campaign_query(f"gclid={value}&msclkid={value}&utm_content={value}")
    tags = campaign_tags(kept)
    assert "gclid" == tags.click_id
    clicks = [p for p in kept.split("&") if p.startswith(("gclid=", "msclkid="))]
    assert set(clicks) <= {"gclid=", "msclkid="}


def test_a_spool_copy_holds_no_more_campaign_than_the_row() -> None:
    """Repeated tags and values past the row's 200 characters stay out of the event (and
    so of any spool file); a click id inside a tag is cut out of it."""
    query = "ref=newsletter&ref=jane.doe%40example.com&utm_term=" + "x" * 300 + "TAIL"
    kept = campaign_query(query)
    assert "jane.doe" not in kept
    assert "TAIL" not in kept
    assert ("newsletter", "x" * 200) == (campaign_tags(kept).ref, campaign_tags(kept).term)
    kept = campaign_query("utm_source=x;gclid=SECRET&utm_medium=cpc|fbclid=S2")
    assert "SECRET" not in kept
    assert "S2" not in kept
    assert Campaign("x", "cpc", "", "", "", "", "gclid") == campaign_tags(kept)
