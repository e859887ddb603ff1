"""The analyst dashboard: login, throttling, every page and API route over a generated
data set, CSV equal to the table, and the pages in Chromium at laptop and phone widths."""

from __future__ import annotations

import csv
import datetime
import io
import random
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from consentlog.analytics.metrics import PageMetrics
from consentlog.dashboard import create_dashboard
from consentlog.dashboard.auth import FAILURE_LIMIT, SESSION_COOKIE
from consentlog.dashboard.charts import Series, figure, nice_scale
from consentlog.dashboard.table import least_useful
from consentlog.ingest.events import ConsentRecord, Engagement, PageRequest
from consentlog.ingest.writer import Writer
from consentlog.store import Store
from tests.helpers import DAY, ROOT, cli_env, generate

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from tests.browser.live import NewContext

pytest_plugins = ["tests.browser.live"]

PASSWORD = "correct horse battery staple"
TOKEN = "dashboard-token-7f3a"
SECRET = "dashboard-test-secret"
DAYS = 7
FIRST = DAY - datetime.timedelta(days=DAYS - 1)
RANGE = f"start={FIRST}&end={DAY}"
ARTIFACTS = ROOT / "test-artifacts"
AXE_SCRIPT = ROOT / "js/node_modules/axe-core/axe.min.js"

PAGES = {  # route → a heading it must show
    "/": "Views and visitors per day",
    "/pages": "Page usefulness",
    "/pages/detail?path=/docs": "Engaged time per view",
    "/consent": "Decisions per day by action",
    "/errors": "Pages answered 404 or 5xx",
}
CHARTED = {"/", "/pages", "/pages/detail?path=/docs", "/consent"}  # /errors is a table only


def events() -> list[PageRequest | Engagement | ConsentRecord]:
    """A week of traffic: test_metrics' day repeated with other seeds, one page made
    clearly useless, and consent decisions of two policy revisions."""
    out: list[PageRequest | Engagement | ConsentRecord] = []
    rng = random.Random(3)
    for back in range(DAYS):
        pages, engagements = generate(seed=back)
        ids = {p.pageview_id: str(uuid.uuid4()) for p in pages}
        shift = back * 86400
        out += [p._replace(ts=p.ts - shift, pageview_id=ids[p.pageview_id]) for p in pages]
        for e in engagements:
            short = e.path == "/blog/thin"  # the page nobody reads
            out.append(
                e._replace(
                    ts=e.ts - shift,
                    pageview_id=ids[e.pageview_id],
                    engaged_ms=min(e.engaged_ms, 3000) if short else e.engaged_ms,
                    scroll_pct=min(e.scroll_pct, 20) if short else e.scroll_pct,
                    useful=False if short and e.useful is not None else e.useful,
                )
            )
        start = pages[0].ts - shift
        for i in range(40 + 5 * back):
            revision = 1 if back >= 3 else 2
            action, categories, source = rng.choice(
                [
                    ("accept_all", ("analytics", "marketing"), "banner"),
                    ("accept_all", ("analytics", "marketing"), "banner"),
                    ("reject_all", (), "banner"),
                    ("custom", ("analytics",), "banner"),
                    ("reject_all", (), "form"),
                    ("gpc", (), "gpc"),
                    ("withdraw", (), "banner"),
                ]
            )
            out.append(
                ConsentRecord(
                    ts=start + i * 30,
                    consent_id=uuid.uuid4().hex,
                    action=action,
                    categories=categories,
                    policy_revision=revision,
                    source=source,
                    visitor_id="",
                    client_ip="",
                    user_agent="Mozilla/5.0",
                )
            )
    return out


@pytest.fixture(scope="module")
def dataset(store: Store, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database with the week of traffic, loaded once for the module."""
    database = f"dashboard_{uuid.uuid4().hex[:8]}"
    writer = Writer(
        store,
        database=database,
        spool_dir=tmp_path_factory.mktemp("spool"),
        batch_size=50_000,
        flush_interval=0.05,
    )
    for event in events():
        writer.submit(event)
    assert writer.stop(120)
    return database


@pytest.fixture
def app(store: Store, dataset: str) -> Starlette:
    return create_dashboard(
        store, database=dataset, password=PASSWORD, token=TOKEN, secret_keys=[SECRET]
    )


@pytest.fixture
def anonymous(app: Starlette) -> TestClient:
    return TestClient(app, base_url="http://testserver")


@pytest.fixture
def analyst(anonymous: TestClient) -> TestClient:
    """A client logged in with the password."""
    response = anonymous.post("/login", data={"secret": PASSWORD}, follow_redirects=False)
    assert 303 == response.status_code
    return anonymous


# -- login -----------------------------------------------------------------------------


@pytest.mark.parametrize("route", [*PAGES, "/pages.csv"])
def test_pages_redirect_to_login_without_a_session(anonymous: TestClient, route: str) -> None:
    """Every page answers an unauthenticated request with 303 to the login form."""
    response = anonymous.get(route, follow_redirects=False)
    assert 303 == response.status_code
    assert response.headers["location"].startswith("/login?next=/")


@pytest.mark.parametrize(
    "route", ["/api/overview", "/api/pages", "/api/pages/detail?path=/", "/api/consent",
              "/api/errors"],
)  # fmt: skip
def test_api_answers_401_json_without_a_session(anonymous: TestClient, route: str) -> None:
    """The JSON API answers 401 with a JSON error, not a redirect."""
    response = anonymous.get(route, follow_redirects=False)
    assert 401 == response.status_code
    assert "login required" in response.json()["error"]


def test_login_sets_a_strict_session_cookie_and_returns_to_next(anonymous: TestClient) -> None:
    """The password logs in: an HttpOnly, SameSite=Strict cookie, then 303 to `next`."""
    response = anonymous.post(
        "/login", data={"secret": PASSWORD, "next": "/consent"}, follow_redirects=False
    )
    assert 303 == response.status_code
    assert "/consent" == response.headers["location"]
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    for flag in ("HttpOnly", "SameSite=strict", "Path=/", "Max-Age="):
        assert flag in cookie
    assert 200 == anonymous.get("/consent").status_code


def test_login_refuses_a_foreign_next(anonymous: TestClient) -> None:
    """`next` outside the dashboard sends the analyst to the overview instead."""
    for target in ("https://evil.example/", "//evil.example/", "/\\evil"):
        response = anonymous.post(
            "/login", data={"secret": PASSWORD, "next": target}, follow_redirects=False
        )
        assert "/" == response.headers["location"]


def test_token_logs_in_and_works_as_bearer(anonymous: TestClient) -> None:
    """The access token logs in through the form and authorizes the API as a bearer."""
    assert (
        200
        == anonymous.get("/api/overview", headers={"Authorization": f"Bearer {TOKEN}"}).status_code
    )
    assert (
        401 == anonymous.get("/api/overview", headers={"Authorization": "Bearer wrong"}).status_code
    )
    response = anonymous.post("/login", data={"secret": TOKEN}, follow_redirects=False)
    assert 303 == response.status_code
    assert 200 == anonymous.get("/pages").status_code


def test_wrong_password_is_refused_then_throttled(anonymous: TestClient) -> None:
    """Wrong passwords get 401; after five within five minutes the address gets 429 with
    Retry-After — even for the right password — while other addresses are unaffected."""
    for _ in range(FAILURE_LIMIT):
        response = anonymous.post("/login", data={"secret": "guess"}, follow_redirects=False)
        assert 401 == response.status_code
        assert "Wrong password or token." in response.text
        assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    blocked = anonymous.post("/login", data={"secret": PASSWORD}, follow_redirects=False)
    assert 429 == blocked.status_code
    assert 0 < int(blocked.headers["retry-after"]) <= 300
    assert "Too many failed attempts" in blocked.text
    assert (
        429 == anonymous.get("/api/pages", headers={"Authorization": f"Bearer {TOKEN}"}).status_code
    )
    elsewhere = TestClient(anonymous.app, client=("198.51.100.9", 4000))
    assert (
        303
        == elsewhere.post("/login", data={"secret": PASSWORD}, follow_redirects=False).status_code
    )


def test_cross_site_login_is_refused(anonymous: TestClient) -> None:
    """A login posted from another site (login CSRF) is refused with 403."""
    response = anonymous.post(
        "/login",
        data={"secret": PASSWORD},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        follow_redirects=False,
    )
    assert 403 == response.status_code


def test_tampered_or_foreign_session_is_not_a_session(
    store: Store, dataset: str, analyst: TestClient
) -> None:
    """A modified cookie, or one signed for other credentials, reads as logged out."""
    value = analyst.cookies[SESSION_COOKIE]
    analyst.cookies.set(SESSION_COOKIE, value[:-2] + "xx")
    assert 303 == analyst.get("/", follow_redirects=False).status_code
    other = create_dashboard(store, database=dataset, password="another", secret_keys=[SECRET])
    foreign = TestClient(other)
    foreign.cookies.set(SESSION_COOKIE, value)
    assert 303 == foreign.get("/", follow_redirects=False).status_code


def test_logout_ends_the_session(analyst: TestClient) -> None:
    """Log out expires the cookie and leads to the login form."""
    response = analyst.post("/logout", follow_redirects=False)
    assert 303 == response.status_code
    assert "/login" == response.headers["location"]
    assert 303 == analyst.get("/", follow_redirects=False).status_code


def test_missing_tables_are_a_503_naming_the_fix(store: Store) -> None:
    """Before any table exists the pages say how to create them, instead of failing."""
    empty = create_dashboard(store, database="nothing_here", password=PASSWORD, secret_keys=["k"])
    client = TestClient(empty)
    client.post("/login", data={"secret": PASSWORD})
    response = client.get("/pages")
    assert 503 == response.status_code
    assert "consentlog migrate" in response.text
    assert "consentlog migrate" in client.get("/api/pages").json()["error"]


def test_needs_a_password_or_token(store: Store, dataset: str) -> None:
    """Without a secret the dashboard refuses to be built, naming the setting."""
    with pytest.raises(ValueError, match="CONSENTLOG_DASHBOARD_PASSWORD"):
        create_dashboard(store, database=dataset, secret_keys=[SECRET])


# -- pages -----------------------------------------------------------------------------


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


class _TableParser(HTMLParser):
    """The `data-column` headings and `data-value` cells of the Pages table."""

    def __init__(self) -> None:
        super().__init__()
        self.columns: list[str] = []
        self.rows: list[list[str]] = []
        self.flagged: list[bool] = []
        self._in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table" and "pages" in (found.get("class") or ""):
            self._in_body = False
        if tag == "tbody":
            self._in_body = True
        if tag == "th" and "data-column" in found:
            self.columns.append(found["data-column"] or "")
        if tag == "tr" and self._in_body:
            self.rows.append([])
            self.flagged.append(found.get("class") == "flagged")
        if tag in {"th", "td"} and self._in_body and "data-value" in found:
            self.rows[-1].append(found["data-value"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False


def _table(html: str) -> _TableParser:
    parser = _TableParser()
    parser.feed(html)
    return parser


@pytest.mark.parametrize("sort", ["", "&sort=usefulness&order=asc", "&sort=path",
                                  "&sort=median_engaged_ms&order=desc"])  # fmt: skip
def test_csv_equals_the_table(analyst: TestClient, sort: str) -> None:
    """/pages.csv holds the table's columns and rows, in the table's order."""
    table = _table(analyst.get(f"/pages?{RANGE}{sort}").text)
    response = analyst.get(f"/pages.csv?{RANGE}{sort}")
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(response.text)))
    assert table.columns == lines[0]
    assert table.rows == lines[1:]
    assert 7 == len(table.rows)


def test_table_sorts_by_any_column(analyst: TestClient) -> None:
    """Sorting puts values in order, with no-data cells last either way."""
    for column in ("views", "bounce_rate", "usefulness", "path"):
        for order in ("asc", "desc"):
            table = _table(analyst.get(f"/pages?{RANGE}&sort={column}&order={order}").text)
            index = table.columns.index(column)
            cells = [row[index] for row in table.rows]
            present = [c for c in cells if c != ""]
            assert cells == present + [""] * (len(cells) - len(present))
            values: list[Any] = present if column == "path" else [float(c) for c in present]
            assert sorted(values, reverse=order == "desc") == values


def test_least_useful_page_is_flagged(analyst: TestClient) -> None:
    """The page nobody reads has the lowest score and is flagged; "not enough data"
    is shown for pages without a score."""
    body = analyst.get(f"/pages?{RANGE}&sort=usefulness&order=asc").text
    table = _table(body)
    first = table.rows[0]
    assert "/blog/thin" == first[table.columns.index("path")]
    assert table.flagged[0]
    assert "true" == first[table.columns.index("least_useful")]
    assert "least useful" in body
    assert "not enough data" in body  # /old-page has no engagement
    overview = analyst.get(f"/?{RANGE}").text
    assert "/blog/thin" in overview.split("Least useful pages")[1]


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


# -- building blocks -------------------------------------------------------------------


def _metrics(path: str, usefulness: int | None) -> PageMetrics:
    return PageMetrics(
        "example.org", path, 100, 0, 10, 0, 5, 0.1, 0.2, 0.3, 20, 9000.0, 50.0, 0.4, 1, 1, 0, 0,
        usefulness,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("scores", "flagged"),
    [
        ([16, 46, 46, 53, 53, 55], {"/0"}),  # one clearly worst page
        ([10, 12, 14, 80, 85], {"/0", "/1"}),  # two close to the worst, below the median
        ([50, 50, 50], set()),  # nothing stands out
        ([40, None], set()),  # one score is no comparison
        ([30, 90], {"/0"}),
    ],
)
def test_least_useful_rule(scores: list[int | None], flagged: set[str]) -> None:
    """Flagged: below the median score and within 10 points of the lowest."""
    pages = [_metrics(f"/{i}", score) for i, score in enumerate(scores)]
    assert flagged == {path for _, path in least_useful(pages)}


def test_axis_steps_are_round_whole_numbers() -> None:
    """The y axis covers the largest value in round, whole-number steps."""
    assert (4.0, 1.0) == nice_scale(0)
    assert (8, 2) == nice_scale(7)
    assert (30, 10) == nice_scale(26)
    assert (1500, 500) == nice_scale(1079)


def test_chart_is_accessible_and_escaped() -> None:
    """A figure has a titled SVG per width, a legend, its numbers, and escapes labels."""
    html = figure(
        "line",
        chart_id="t",
        title="Views <per> day",
        description="d",
        label_name="Day",
        labels=[f"<d{i}>" for i in range(30)],
        series=[Series("Views", tuple(range(30))), Series("Visitors", tuple(range(30)))],
    )
    assert 2 == html.count('role="img"')
    assert "Views &lt;per&gt; day" in html
    assert "<d0>" not in html
    assert 'class="legend"' in html
    assert 30 == html.count('<th scope="row">')
    assert ">&lt;d29&gt;</text>" in html  # the latest label is always drawn


# -- in a real browser -----------------------------------------------------------------

VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}


@pytest.fixture
def served(app: Starlette) -> Iterator[str]:
    from tests.browser.live import serve  # after pytest_plugins loaded it, so asserts are rewritten

    live = serve(app)  # type: ignore[arg-type]  # any ASGI app serves
    yield live.url
    live.stop()


def _log_in(page: Page, url: str) -> None:
    page.goto(f"{url}/?{RANGE}")
    page.get_by_label("Password or token").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/\?start="))


@pytest.mark.browser
@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_screenshots_at_laptop_and_phone_widths(
    served: str, new_context: NewContext, viewport: str
) -> None:
    """Every page renders in Chromium without horizontal page overflow; screenshots
    are kept in test-artifacts/dashboard-<page>-<width>x<height>.png."""
    width, height = VIEWPORTS[viewport]
    context = new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(f"{served}/login")
    page.screenshot(path=str(ARTIFACTS / f"dashboard-login-{width}x{height}.png"))
    _log_in(page, served)
    for route in PAGES:
        joiner = "&" if "?" in route else "?"
        page.goto(served + route + joiner + RANGE)
        assert 1 == page.locator("h1").count()
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert 0 == overflow, f"{route} overflows by {overflow}px at {width}px"
        name = route.strip("/").split("?")[0].replace("/", "-") or "overview"
        page.screenshot(
            path=str(ARTIFACTS / f"dashboard-{name}-{width}x{height}.png"), full_page=True
        )
    assert [] == errors  # e.g. a Content-Security-Policy violation


@pytest.mark.browser
def test_pages_have_no_axe_violations(served: str, new_context: NewContext) -> None:
    """axe-core finds no accessibility violation on any page, light or dark."""
    context = new_context(bypass_csp=True)  # axe is injected as a script
    page = context.new_page()
    _log_in(page, served)
    found: dict[str, list[str]] = {}
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for route in PAGES:
            joiner = "&" if "?" in route else "?"
            page.goto(served + route + joiner + RANGE)
            page.add_script_tag(path=str(AXE_SCRIPT))
            violations = page.evaluate("async () => (await axe.run(document)).violations")
            found[f"{scheme} {route}"] = [
                f"{v['id']}: {v['nodes'][0]['html'][:100]}" for v in violations
            ]
    assert {k: [] for k in found} == found


# -- the demo and the command ----------------------------------------------------------


def test_demo_mounts_the_dashboard_beside_the_site(
    store_url: str, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo serves the dashboard at /analytics: behind its login, without the banner,
    and not logged as page requests; the site keeps its banner and logging."""
    from consentlog.demo.app import create_demo_app

    monkeypatch.setenv("CONSENTLOG_DASHBOARD_PASSWORD", PASSWORD)
    demo = create_demo_app(
        clickhouse_url=store_url, database=database, secret_keys=[SECRET], flush_interval=0.05
    )
    try:
        client = TestClient(demo)
        assert 'id="cl-banner"' in client.get("/docs").text
        assert demo.writer.flush()  # the writer creates the tables
        response = client.get("/analytics/", follow_redirects=False)
        assert "/analytics/login?next=/analytics/" == response.headers["location"]
        client.post("/analytics/login", data={"secret": PASSWORD})
        page = client.get("/analytics/pages")
        assert 200 == page.status_code
        assert "Page usefulness" in page.text
        assert "cl-banner" not in page.text
        assert demo.writer.flush()
        _, rows = demo.writer.store.query(
            f"SELECT path FROM {demo.settings.database}.page_requests"
        )
        assert [("/docs",)] == rows
    finally:
        demo.writer.stop()


def _cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "consentlog.cli", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_dashboard_command_refuses_to_start_without_a_password(tmp_path: Path) -> None:
    """`consentlog dashboard` without a password or token: one line on stderr, exit 2."""
    process = _cli("dashboard", env=cli_env(), cwd=tmp_path)
    _, err = process.communicate(timeout=60)
    assert 2 == process.returncode
    assert 1 == len(err.strip().splitlines()), err
    assert "CONSENTLOG_DASHBOARD_PASSWORD" in err


def test_dashboard_command_serves_the_dashboard(tmp_path: Path) -> None:
    """`consentlog dashboard --port N` serves the login form, and the password logs in."""
    url = f"chdb://{tmp_path / 'store'}"
    assert 0 == _cli("migrate", "--clickhouse-url", url, env=cli_env(), cwd=tmp_path).wait(60)
    (tmp_path / "password").write_text(PASSWORD + "\n", encoding="utf-8")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = _cli(
        "dashboard", "--clickhouse-url", url, "--port", str(port),
        "--password-file", str(tmp_path / "password"), env=cli_env(), cwd=tmp_path,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/login", timeout=2) as response:
                    assert "Password or token" in response.read().decode()
                    break
            except OSError:
                assert process.poll() is None, process.communicate()[1]
                assert time.monotonic() < deadline
                time.sleep(0.2)
        with httpx.Client(base_url=base) as client:
            client.post("/login", data={"secret": PASSWORD})
            assert 200 == client.get("/api/overview").status_code
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=60)
    assert f"consentlog dashboard: http://127.0.0.1:{port}/" in out
