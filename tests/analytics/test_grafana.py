"""The Grafana dashboard: every panel's SQL, macros substituted as the ClickHouse plugin
does, runs on chDB over a generated data set and gives the built-in reports' numbers.

Panels that run a report file of the package's SQL folder
(``middleware/consentlog/analytics/sql/``) must return what the file returns with query
parameters; the time series (``*_series.sql``, bucketed per Grafana interval) must equal
the per-day reports at a one-day interval; and the committed JSON is what
``dashboards/grafana/build.py`` makes of those files. The model's shape and provisioning
are checked in ``test_grafana_model.py``.
"""

from __future__ import annotations

import ast
import datetime
import random
import re
import uuid
from collections import Counter
from typing import Any

import pytest
from dashboards.grafana.build import SOURCES, render

from consentlog.analytics.metrics import MIN_SAMPLE, PageMetrics, page_report
from consentlog.analytics.queries import query_text
from consentlog.analytics.rollup import roll_up, watermark
from consentlog.ingest.events import ConsentRecord, Engagement, Goal, PageRequest
from consentlog.ingest.writer import Writer
from consentlog.store import Store
from tests.analytics.grafana import (
    ALL_HOSTS,
    CONSTANTS,
    DASHBOARD,
    HOST,
    HOSTS,
    OTHER_HOST,
    PANELS,
    QUERIES,
    TIME_SERIES,
    AllValue,
    expand_macros,
)
from tests.helpers import DAY, generate, generate_goals

# The data set lies within DAY; Grafana's range for that day ends at its last second.
START = datetime.datetime.combine(DAY, datetime.time(), datetime.UTC)
END = START + datetime.timedelta(days=1, seconds=-1)
HOUR, ONE_DAY = 3600, 86400
PATH = "/pricing"  # a page with engagement, votes, referrers, next pages and 5xx answers

Result = tuple[list[str], list[tuple[Any, ...]]]


def _sql(title: str) -> str:
    """The SQL of the panel titled ``title``."""
    (target,) = PANELS[title]["targets"]
    sql: str = target["rawSql"]
    return sql


# -- data ---------------------------------------------------------------------------------


def _consent_records(rng: random.Random) -> list[ConsentRecord]:
    """Decisions of every kind, erasures among them, over two policy revisions within DAY."""
    kinds = [
        ("accept_all", ("analytics", "marketing"), "banner"),
        ("reject_all", (), "banner"),
        ("custom", ("analytics",), "form"),
        ("withdraw", (), "banner"),
        ("gpc", (), "gpc"),
        ("dnt", (), "dnt"),
        ("erase", (), "banner"),
    ]
    agent = "Mozilla/5.0 Firefox/128.0"
    return [
        ConsentRecord(
            START.timestamp() + 9 * HOUR + i * 97,
            uuid.uuid4().hex,
            action,
            categories,
            1 if i < 70 else 2,
            source,
            "",
            "",
            agent,
        )
        for i, (action, categories, source) in enumerate(rng.choices(kinds, k=120))
    ]


def _data_set() -> tuple[list[PageRequest], list[Engagement], list[ConsentRecord], list[Goal]]:
    """The metrics data set with referrers (it has none), anonymous views of a second host
    (for the host variable to filter), consent records and goals."""
    rng = random.Random(11)
    pages, engagements = generate()
    referrers = ["", "https://www.google.com/", "https://news.example.net/a", f"https://{HOST}/"]
    pages = [p._replace(referrer=referrers[i % len(referrers)]) for i, p in enumerate(pages)]
    pages += [
        p._replace(
            pageview_id=uuid.uuid4().hex,
            host=OTHER_HOST,
            consent_state="unknown",
            visitor_id="",
            session_id="",
            client_ip="",
        )
        for p in rng.sample(pages, 60)
    ]
    return pages, engagements, _consent_records(rng), generate_goals(pages)


@pytest.fixture(scope="module")
def databases(store: Store, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The data set loaded twice: read from the raw rows only, and with DAY rolled up."""
    events = [event for events in _data_set() for event in events]
    names = {"raw": "grafana_raw", "rolled": "grafana_rolled"}
    for database in names.values():
        spool = tmp_path_factory.mktemp("spool")
        writer = Writer(store, database=database, spool_dir=spool, batch_size=5000,
                        flush_interval=0.05)  # fmt: skip
        for event in events:
            writer.submit(event)
        assert writer.stop(60)
    roll_up(store, names["rolled"], now=START + datetime.timedelta(days=2))
    assert (None, DAY) == (watermark(store, names["raw"]), watermark(store, names["rolled"]))
    return names


@pytest.fixture
def raw(databases: dict[str, str]) -> str:
    return databases["raw"]


def _grafana(
    store: Store,
    database: str,
    sql: str,
    host: str,
    *,
    interval_s: int = HOUR,
    start: datetime.datetime = START,
    end: datetime.datetime = END,
) -> Result:
    """Expand ``sql`` as Grafana would, point it at ``database`` and run it on chDB."""
    variables = {**CONSTANTS, "host": host, "path": PATH}
    expanded = expand_macros(sql, start, end, interval_s, variables)
    return store.query(re.sub(r"\bconsentlog\.", f"{database}.", expanded))


def _report(store: Store, database: str, file: str, host: str, **literals: str) -> Result:
    """``sql/<file>.sql`` of the package run with query parameters, as the built-in reports run
    it, for DAY; ``literals`` are the SQL literals a panel fixes (``"''"``, ``"10"``)."""
    text = query_text(file)
    values = {
        "db": database,
        "host": "" if isinstance(host, AllValue) else host,
        "path": PATH,
        "start": f"{DAY} 00:00:00",
        "end": f"{DAY + datetime.timedelta(days=1)} 00:00:00",
        **{name: ast.literal_eval(literal) for name, literal in literals.items()},
    }
    wanted = set(re.findall(r"\{(\w+):", text))
    return store.query(text, {k: v for k, v in values.items() if k in wanted})


def _column(result: Result, name: str) -> list[Any]:
    columns, rows = result
    return [row[columns.index(name)] for row in rows]


def _page_metrics(result: Result) -> list[PageMetrics]:
    """Rows of pages.sql as consentlog.analytics.metrics returns them (NaN → None)."""
    columns, rows = result
    assert list(PageMetrics.__dataclass_fields__) == columns
    clean: list[list[Any]] = [
        [None if isinstance(v, float) and v != v else v for v in row] for row in rows
    ]
    return [PageMetrics(*row) for row in clean]


def _days(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Time series rows with their ``time`` bucket as a UTC day."""
    return [(row[0].astimezone(datetime.UTC).date(), *row[1:]) for row in rows]


# -- tests --------------------------------------------------------------------------------


def test_dashboard_json_is_built_from_the_report_files() -> None:
    """The committed JSON is what dashboards/grafana/build.py makes of the SQL files now."""
    assert render() == DASHBOARD.read_text("utf-8"), "run: python dashboards/grafana/build.py"


def test_every_panel_runs_a_report_file_or_is_a_time_series() -> None:
    """A panel either runs a report file or is a time series checked against the day reports."""
    assert set(PANELS) == set(SOURCES) | set(TIME_SERIES)
    assert not set(SOURCES) & set(TIME_SERIES)
    assert str(MIN_SAMPLE) == CONSTANTS["min_sample"]


@pytest.mark.parametrize("host", [ALL_HOSTS, HOST], ids=["all hosts", "one host"])
@pytest.mark.parametrize("name", QUERIES)
def test_every_query_runs_and_finds_the_data(store: Store, raw: str, name: str, host: str) -> None:
    """Every panel and variable query, macros substituted, runs on chDB and returns rows."""
    _, rows = _grafana(store, raw, QUERIES[name], host)
    assert rows, f"{name} returned no rows"


@pytest.mark.parametrize("name", QUERIES)
def test_every_query_runs_on_an_empty_range(store: Store, raw: str, name: str) -> None:
    """Over a range without data every query still runs (no division or type errors)."""
    later = END + datetime.timedelta(days=30)
    _grafana(store, raw, QUERIES[name], ALL_HOSTS, start=later, end=later)


@pytest.mark.parametrize("host", HOSTS.values(), ids=HOSTS.keys())
@pytest.mark.parametrize("source", ["raw", "rolled"])
def test_pages_panels_equal_page_report(
    store: Store, databases: dict[str, str], source: str, host: str
) -> None:
    """The Pages table and the page summary equal consentlog.analytics.metrics.page_report, every
    metric of every page, whether the day is read from the raw rows or the rollup."""
    database = databases[source]
    report = page_report(store, database, DAY, DAY, host="" if host == ALL_HOSTS else host)
    assert report
    assert report == _page_metrics(_grafana(store, database, _sql("Page usefulness"), host))
    summary = _grafana(store, database, _sql("Page summary: $path"), host)
    assert [m for m in report if m.path == PATH] == _page_metrics(summary)


@pytest.mark.parametrize("host", HOSTS.values(), ids=HOSTS.keys())
@pytest.mark.parametrize("title", [t for t, s in SOURCES.items() if s.file != "pages"])
def test_report_panels_equal_their_file(store: Store, raw: str, title: str, host: str) -> None:
    """A panel that runs a report file returns what the file returns with query parameters
    (the histograms only label their buckets)."""
    source = SOURCES[title]
    grafana = _grafana(store, raw, _sql(title), host)
    expected = _report(store, raw, source.file, host, **source.literals)
    if source.file == "engaged_histogram":
        edges = zip(_column(expected, "from_ms"), _column(expected, "to_ms"), strict=True)
        labels = [
            f"{a // 1000}-{b // 1000} s" if b is not None else f"{a // 1000}+ s" for a, b in edges
        ]
        assert list(zip(labels, _column(expected, "views"), strict=True)) == grafana[1]
    elif source.file == "scroll_histogram":
        edges = zip(_column(expected, "from_pct"), _column(expected, "to_pct"), strict=True)
        labels = [f"{a}-{b - 1} %" if b is not None else f"{a} %" for a, b in edges]
        assert list(zip(labels, _column(expected, "views"), strict=True)) == grafana[1]
    else:
        assert expected == grafana


@pytest.mark.parametrize("host", HOSTS.values(), ids=HOSTS.keys())
def test_time_series_equal_the_day_reports(store: Store, raw: str, host: str) -> None:
    """At a one-day interval the time series equal trend.sql, consent.sql and errors.sql."""

    def series(title: str) -> list[tuple[Any, ...]]:
        return _days(_grafana(store, raw, _sql(title), host, interval_s=ONE_DAY)[1])

    for title, path in [("Views and visitors", "''"), ("Trend: $path", repr(PATH))]:
        _, trend = _report(store, raw, "trend", host, path=path)
        assert [day for day in trend if day[1]] == [row[:3] for row in series(title)]

    by_action: Counter[tuple[Any, ...]] = Counter()
    by_revision: Counter[tuple[Any, ...]] = Counter()
    for day, revision, action, decisions, _ in _report(store, raw, "consent", host)[1]:
        by_action[day, action] += decisions
        by_revision[day, f"revision {revision}"] += decisions
    assert sorted((*k, n) for k, n in by_action.items()) == series("Decisions by action")
    assert sorted((*k, n) for k, n in by_revision.items()) == series("Decisions by policy revision")

    columns, errors = _report(store, raw, "errors", host, path="''")
    status, views = columns.index("status"), columns.index("views")
    not_found = sum(r[views] for r in errors if r[status] == 404)
    server_errors = sum(r[views] for r in errors if r[status] >= 500)
    assert [(DAY, not_found, server_errors)] == series("404 and 5xx")
