"""The banner asks only in the regions the operator names (``banner_regions``);
elsewhere the configured default is the decision, remembered and recorded with source
``region``; a visitor whose region is unknown is asked."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.exceptions import ConfigError
from consentlog.settings import Settings
from consentlog.testing import MemorySink
from tests.helpers import SECRET, MakeApp, set_cookies

GDPR = ("EEA", "GB", "CH")


def visit(
    app: ConsentMiddleware, country: str = "", region: str = "", **headers: str
) -> TestClient:
    client = TestClient(app, base_url="http://testserver")
    if country:
        client.headers["cf-ipcountry"] = country
    if region:
        client.headers["cf-region-code"] = region
    client.headers.update(headers)
    return client


def regional(make_app: MakeApp, **options: object) -> ConsentMiddleware:
    options.setdefault("banner_regions", GDPR)
    return make_app(country_header="cf-ipcountry", country_database="", **options)


def sink(app: ConsentMiddleware) -> MemorySink:
    assert isinstance(app.writer, MemorySink)
    return app.writer


@pytest.mark.parametrize("country", ["DE", "NO", "GB", "CH", ""])
def test_visitors_in_asked_regions_or_unknown_ones_see_the_banner(
    make_app: MakeApp, country: str
) -> None:
    """Germany (EU), Norway (EEA), the UK, Switzerland, and an unknown country: the
    banner, no cookie, no record."""
    app = regional(make_app)
    page = visit(app, country).get("/")
    assert 'data-decided="0"' in page.text
    assert [] == page.headers.get_list("set-cookie")
    assert [] == sink(app).consents


def test_elsewhere_the_denied_default_is_the_decision(make_app: MakeApp) -> None:
    """A visitor in the US: no banner, only the consent cookie (source region), one
    record with action and source ``region``, nothing accepted; pages logged denied."""
    app = regional(make_app)
    client = visit(app, "US")
    page = client.get("/")
    assert 'data-decided="1"' in page.text
    assert ["cl_consent"] == list(set_cookies(page))
    state = client.get("/_consent").json()
    assert ("region", False) == (state["source"], state["categories"]["analytics"])
    client.get("/docs/a")
    records = sink(app).consents
    assert [("region", "region", ())] == [(r.action, r.source, r.categories) for r in records]
    assert {"denied"} == {p.consent_state for p in sink(app).pages}


def test_a_granted_default_sets_the_traffic_cookies_and_says_so(make_app: MakeApp) -> None:
    """With ``outside_default="granted"`` a US visitor gets the ids at once; the record
    holds every optional category and the visitor id; GPC still refuses."""
    app = regional(make_app, outside_default="granted")
    page = visit(app, "US").get("/")
    assert {"cl_consent", "cl_vid", "cl_sid"} == set(set_cookies(page))
    (record,) = sink(app).consents
    assert ("region", ("analytics", "marketing")) == (record.source, record.categories)
    assert record.visitor_id
    refusing = visit(app, "US", **{"sec-gpc": "1"}).get("/")
    assert ["cl_consent"] == list(set_cookies(refusing))
    assert "gpc" == sink(app).consents[-1].source


def test_a_default_can_be_changed_like_any_decision(make_app: MakeApp) -> None:
    """The visitor outside the regions opens Settings and accepts: a banner decision."""
    app = regional(make_app)
    client = visit(app, "US")
    client.get("/")
    answer = client.post("/_consent", json={"categories": {"analytics": True}})
    assert ("banner", True) == (answer.json()["source"], answer.json()["categories"]["analytics"])
    assert {"cl_vid", "cl_sid"} <= set(set_cookies(answer))


@pytest.mark.parametrize(
    ("country", "region", "asked"),
    [("CA", "QC", True), ("CA", "ON", False), ("US", "CA", True), ("US", "TX", False),
     ("US", "", False), ("BR", "", True)],
)  # fmt: skip
def test_subdivisions_come_from_the_cdn_region_header(
    make_app: MakeApp, country: str, region: str, asked: bool
) -> None:
    """Québec and California are asked when ``region_header`` names them; Brazil as a
    country; the rest of Canada and the US get the default."""
    app = regional(
        make_app, banner_regions=("CA-QC", "US-CA", "BR"), region_header="cf-region-code"
    )
    page = visit(app, country, region).get("/")
    assert asked == ('data-decided="0"' in page.text)


def test_the_address_decides_without_a_cdn(make_app: MakeApp) -> None:
    """Without a country header the country comes from the address (the shipped
    database): a German address is asked, an American one gets the default."""
    app = make_app(banner_regions=GDPR, trusted_proxy_hops=1)
    german = visit(app, **{"x-forwarded-for": "141.20.1.1"}).get("/")  # a Berlin university
    american = visit(app, **{"x-forwarded-for": "8.8.8.8"}).get("/")
    assert ('data-decided="0"', 'data-decided="1"') == (
        re.search(r'data-decided="\d"', german.text).group(0),  # type: ignore[union-attr]
        re.search(r'data-decided="\d"', american.text).group(0),  # type: ignore[union-attr]
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"banner_regions": ("Europe",)}, "'Europe' is not a region"),
        ({"banner_regions": ("de",)}, "'de' is not a region"),
        ({"banner_regions": "EEA"}, "use a list of texts"),
        ({"region_header": "CF Region"}, "region_header='CF Region'"),
        ({"outside_default": "maybe"}, "outside_default='maybe'"),
    ],
)
def test_bad_region_options_are_refused(options: dict[str, object], message: str) -> None:
    """Each names what is wrong."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings(secret_keys=[SECRET], **options)  # type: ignore[arg-type]
