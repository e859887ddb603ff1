"""The dashboard's pages and JSON API over the week of traffic: every page renders with
strict headers and no personal data, the errors page and the API give the data set's
numbers, bad parameters are named, and a prefix carries through when mounted."""

from __future__ import annotations

import datetime
from html.parser import HTMLParser

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from consentlog.dashboard import create_dashboard
from consentlog.store import Store
from tests.dashboard.support import DAYS, FIRST, PAGES, PASSWORD, RANGE, SECRET
from tests.helpers import DAY

CHARTED = {
    "/",
    "/pages",
    "/pages/detail?path=/docs",
    "/funnels",
    "/sources",
    "/countries",
    "/bots",  # share meters
    "/consent",
}  # /errors: a table


@pytest.mark.parametrize(("route", "heading"), PAGES.items())
def test_every_page_renders(analyst: TestClient, route: str, heading: str) -> None:
    """After login every page answers 200 with its heading, and strict security headers."""
    joiner = "&" if "?" in route else "?"
    response = analyst.get(route + joiner + RANGE)
    assert 200 == response.status_code
    assert heading in response.text
    assert (route in CHARTED) is ("<svg" in response.text)
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "no-store" == response.headers["cache-control"]
    for personal in ("v00000000", "s00000000", "203.0.113"):  # visitor, session, IP prefix
        assert personal not in response.text


class _CellParser(HTMLParser):
    """The text of each cell of each table body row."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self._in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
        elif tag in {"th", "td"} and self._in_body:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False
        elif tag in {"th", "td"} and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_errors_page_lists_the_error_answers(analyst: TestClient) -> None:
    """The errors page counts and lists the week's 404 and 500 answers (15 and 5 a day in
    the data set), with the last time each was seen."""
    parser = _CellParser()
    parser.feed(analyst.get(f"/errors?{RANGE}").text)
    assert [
        ["/old-page", "404", "105", "0", f"{DAY} 08:00"],
        ["/pricing", "500", "35", "0", f"{DAY} 08:00"],
    ] == parser.rows


def test_default_range_is_the_last_30_days(analyst: TestClient) -> None:
    """Without start/end a page covers the 30 days up to today (UTC)."""
    today = datetime.datetime.now(datetime.UTC).date()
    start = today - datetime.timedelta(days=29)
    body = analyst.get("/").text
    assert f'name="start" value="{start}"' in body
    assert f'name="end" value="{today}"' in body


def test_bad_parameters_are_400_naming_them(analyst: TestClient) -> None:
    """A bad date, sort column or path is a 400 that names the parameter."""
    assert "start=" in analyst.get("/pages?start=yesterday").text
    assert 400 == analyst.get("/pages?start=yesterday").status_code
    assert 400 == analyst.get("/pages?start=2026-11-20&end=2026-11-01").status_code
    assert 400 == analyst.get("/pages?sort=password").status_code
    response = analyst.get("/api/pages/detail")
    assert 400 == response.status_code
    assert "path" in response.json()["error"]


def test_api_shapes(analyst: TestClient) -> None:
    """The JSON API answers each report with the range it covers."""
    overview = analyst.get(f"/api/overview?{RANGE}").json()
    assert {"start": str(FIRST), "end": str(DAY), "host": ""} == overview["range"]
    assert {"views", "visitors", "anonymous_views", "consent_rate"} <= set(overview["overview"])
    assert DAYS == len(overview["trend"])
    assert {"day", "views", "visitors"} == set(overview["trend"][0])

    pages = analyst.get(f"/api/pages?{RANGE}").json()["pages"]
    assert {"path", "views", "visitors", "usefulness", "least_useful"} <= set(pages[0])
    assert [p["views"] for p in pages] == sorted((p["views"] for p in pages), reverse=True)

    detail = analyst.get(f"/api/pages/detail?path=/docs&{RANGE}").json()
    assert "/docs" == detail["path"] == detail["page"]["path"]
    assert 7 == len(detail["engaged_time"])
    assert 5 == len(detail["scroll_depth"])
    assert detail["page"]["engaged_views"] == sum(b["views"] for b in detail["engaged_time"])
    assert {"next_path", "views"} == set(detail["next_pages"][0])
    assert {"referrer_host", "views", "visitors"} == set(detail["referrers"][0])

    consent = analyst.get(f"/api/consent?{RANGE}").json()
    assert {"day", "policy_revision", "action", "decisions", "analytics_accepted"} == set(
        consent["decisions"][0]
    )
    assert 0 < consent["gpc"]["gpc_share"] < 1

    errors = analyst.get(f"/api/errors?{RANGE}").json()["errors"]
    assert {(404, "/old-page"), (500, "/pricing")} == {(e["status"], e["path"]) for e in errors}

    countries = analyst.get(f"/api/countries?{RANGE}").json()["countries"]
    assert {"country", "name", "views", "visitors", "anonymous_views"} == set(countries[0])
    assert [c["views"] for c in countries] == sorted((c["views"] for c in countries), reverse=True)
    assert {"DE": "Germany", "": "Unknown"} == {
        c["country"]: c["name"] for c in countries if c["country"] in ("DE", "")
    }


def test_funnels_page_and_api(analyst: TestClient) -> None:
    api = analyst.get(f"/api/funnels?{RANGE}").json()["funnels"]
    assert ["buy", "read"] == [f["name"] for f in api]
    buy = api[0]["steps"]
    assert ["/", "/pricing", "goal:signup"] == [s["label"] for s in buy]
    sessions = [s["sessions"] for s in buy]
    assert sessions == sorted(sessions, reverse=True)
    assert sessions[-1] > 0
    assert buy[0]["of_previous"] is None
    assert buy[2]["of_first"] == sessions[2] / sessions[0]
    page = analyst.get(f"/funnels?{RANGE}").text
    assert page.index("Funnel: buy") < page.index("Funnel: read")
    assert "goal:signup" in page


def test_sources_page_shows_channels_sources_and_campaigns(analyst: TestClient) -> None:
    page = analyst.get(f"/sources?{RANGE}").text
    api = analyst.get(f"/api/sources?{RANGE}").json()
    assert {"direct", "search", "social", "email", "campaign", "referral"} == {
        c["channel"] for c in api["channels"]
    }  # never internal: a click inside the site is no arrival
    assert {"source", "channel", "views", "visitors", "anonymous_views"} == set(api["sources"][0])
    campaigns = {(c["campaign"], c["source"], c["medium"]): c for c in api["campaigns"]}
    assert campaigns[("spring", "newsletter", "email")]["ad_clicks"] == 0
    assert campaigns[("brand", "", "")]["ad_clicks"] == campaigns[("brand", "", "")]["views"] > 0
    assert {"status page", ""} <= {t["term"] for t in api["terms"]}
    for label in ("Direct", "Search", "Social", "Email", "Campaign", "Referral", "producthunt"):
        assert label in page
    positions = [page.index(f'<th scope="row">{label}</th>') for label in ("Direct", "Search")]
    direct, search = (next(c["views"] for c in api["channels"] if c["channel"] == name)
                      for name in ("direct", "search"))  # fmt: skip
    assert (positions[0] < positions[1]) is (direct >= search)


def test_countries_page_names_each_country_most_viewed_first(analyst: TestClient) -> None:
    page = analyst.get(f"/countries?{RANGE}").text
    api = analyst.get(f"/api/countries?{RANGE}").json()["countries"]
    positions = [page.index(f'<th scope="row">{c["name"]}</th>') for c in api]
    assert positions == sorted(positions)
    assert "Britain (UK)" in page
    assert "Unknown" in page


def test_bots_page_shows_signals_and_verified_views(analyst: TestClient) -> None:
    api = analyst.get(f"/api/bots?{RANGE}").json()
    signals = {s["signal"]: s for s in api["signals"]}
    assert {"", "agent"} == set(signals)  # people's requests and Googlebot's
    assert "" == api["signals"][0]["signal"]
    assert 0 < signals[""]["verified"] < signals[""]["requests"]
    assert {"host", "path", "views", "verified_views", "anonymous_views",
            "verified_anonymous_views"} == set(api["pages"][0])  # fmt: skip
    assert all(p["verified_views"] <= p["views"] for p in api["pages"])
    page = analyst.get(f"/bots?{RANGE}").text
    assert page.index("People (no signal)") < page.index("Says so in its user agent")
    assert "Verified browser views by page" in page
    assert 'aria-current="page">Bots<' in page


def test_mounted_under_a_prefix(store: Store, dataset: str) -> None:
    """Mounted at /analytics, links, redirects and the cookie path carry the prefix."""
    dashboard = create_dashboard(
        store, database=dataset, password=PASSWORD, secret_keys=[SECRET], prefix="/analytics"
    )
    client = TestClient(Starlette(routes=[Mount("/analytics", app=dashboard)]))
    response = client.get("/analytics/pages", follow_redirects=False)
    assert "/analytics/login?next=/analytics/pages" == response.headers["location"]
    login = client.post(
        "/analytics/login",
        data={"secret": PASSWORD, "next": "/analytics/pages"},
        follow_redirects=False,
    )
    assert "Path=/analytics" in login.headers["set-cookie"]
    for route in ("/analytics/pages", "/analytics/"):  # detail links, table and overview
        body = client.get(f"{route}?{RANGE}").text
        assert 'href="/analytics/pages/detail?' in body
        assert 'href="/analytics/static/dashboard.css' in body
        assert 'href="/pages' not in body
