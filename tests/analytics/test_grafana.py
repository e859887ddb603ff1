"""The Grafana dashboard: every panel's SQL, macros substituted as the ClickHouse plugin
does, runs on chDB over a generated data set and gives the built-in reports' numbers.

Panels that run a report file of the package's SQL folder
(``middleware/consentlog/analytics/sql/``) must return what the file returns with query
parameters; the time series (``*_series.sql``, bucketed per Grafana interval) must equal
the per-day reports at a one-day interval. No Grafana server runs here: the JSON
model is checked for shape, not loaded into Grafana.
"""

from __future__ import annotations

import ast
import datetime
import json
import random
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboards.grafana import build
from dashboards.grafana.build import DATASOURCE_UID, PLUGIN, SOURCES, render

from consentlog.analytics.metrics import MIN_SAMPLE, PageMetrics, page_report
from consentlog.analytics.queries import query_text
from consentlog.analytics.rollup import roll_up, watermark
from consentlog.ingest.events import ConsentRecord, Engagement, PageRequest
from consentlog.ingest.writer import Writer
from consentlog.store import Store
from tests.helpers import DAY, ROOT, generate

GRAFANA = ROOT / "dashboards" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "consentlog.json"

# The data set lies within DAY; Grafana's range for that day ends at its last second.
START = datetime.datetime.combine(DAY, datetime.time(), datetime.UTC)
END = START + datetime.timedelta(days=1, seconds=-1)
HOUR, ONE_DAY = 3600, 86400
PATH = "/pricing"  # a page with engagement, votes, referrers, next pages and 5xx answers
HOST = "example.org"
OTHER_HOST = "shop.example.org"

Result = tuple[list[str], list[tuple[Any, ...]]]


# -- the plugin's substitutions, mirrored --------------------------------------------------
# Frontend: Grafana's template variables, in the format asked for, else the datasource's
# (src/data/CHDatasource.ts format(): a single value as it is). Backend, after it
# (pkg/macros/macros.go): the $__ macros, times as toDateTime(<epoch seconds>).


class AllValue(str):
    """A variable's custom "All" value: Grafana inserts it as it is, whatever the format."""

    __slots__ = ()


_VARIABLE = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}"
)
_MACRO = re.compile(r"\$__(\w+)(?:\(([^)]*)\))?")


def _format(value: str, fmt: str | None) -> str:
    """One variable value as Grafana writes it into a query."""
    if isinstance(value, AllValue) or fmt is None:
        return str(value)
    if fmt == "sqlstring":
        return "'" + value.replace("'", "''") + "'"
    raise ValueError(f"variable format {fmt!r} is not mirrored here")


def _template_variables(sql: str, variables: dict[str, str]) -> str:
    """templateSrv.replace: known variables substituted, anything else left as it is."""

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        if name not in variables:
            return match.group(0)
        return _format(variables[name], match.group(3) or match.group(6))

    return _VARIABLE.sub(substitute, sql)


def _macros(sql: str, start: datetime.datetime, end: datetime.datetime, interval_s: int) -> str:
    """The plugin's backend macros; the interval is at least one second."""
    start_s, end_s, interval = int(start.timestamp()), int(end.timestamp()), max(interval_s, 1)

    def substitute(match: re.Match[str]) -> str:
        name, raw = match.group(1), match.group(2)
        arguments = [a.strip() for a in raw.split(",")] if raw is not None else []
        if name == "timeFilter" and len(arguments) == 1:
            column = arguments[0]
            return f"{column} >= toDateTime({start_s}) AND {column} <= toDateTime({end_s})"
        if name == "timeInterval" and len(arguments) == 1:
            return f"toStartOfInterval(toDateTime({arguments[0]}), INTERVAL {interval} second)"
        plain = {
            "fromTime": f"toDateTime({start_s})",
            "toTime": f"toDateTime({end_s})",
            "interval_s": str(interval),
        }
        if name in plain and raw is None:
            return plain[name]
        raise ValueError(f"macro {match.group(0)} is not mirrored here")

    return _MACRO.sub(substitute, sql)


def expand_macros(
    sql: str,
    start: datetime.datetime,
    end: datetime.datetime,
    interval_s: int,
    variables: dict[str, str],
) -> str:
    """The SQL the ClickHouse plugin runs for ``sql`` over [start, end] and ``variables``."""
    return _macros(_template_variables(sql, variables), start, end, interval_s)


# -- the dashboard model ------------------------------------------------------------------


def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text("utf-8"))
    return data


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, the ones inside collapsed rows included."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


PANELS = {p["title"]: p for p in _panels(_dashboard()) if p["type"] != "row"}
VARIABLES = {v["name"]: v for v in _dashboard()["templating"]["list"]}
QUERIES = {
    **{f"{t}/{q['refId']}": q["rawSql"] for t, p in PANELS.items() for q in p["targets"]},
    **{f"${n}": v["query"]["rawSql"] for n, v in VARIABLES.items() if v["type"] == "query"},
}
TIME_SERIES = [title for title, p in PANELS.items() if p["type"] == "timeseries"]
CONSTANTS = {name: v["query"] for name, v in VARIABLES.items() if v["type"] == "constant"}
ALL_HOSTS = AllValue(VARIABLES["host"]["allValue"])
HOSTS = {"all hosts": ALL_HOSTS, "one host": HOST, "other host": OTHER_HOST}


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


def _data_set() -> tuple[list[PageRequest], list[Engagement], list[ConsentRecord]]:
    """The metrics data set with referrers (it has none), anonymous views of a second host
    (for the host variable to filter) and consent records."""
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
    return pages, engagements, _consent_records(rng)


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


def test_expand_macros_mirrors_the_plugin() -> None:
    """Macros and variables expand to the text the plugin's frontend and backend produce."""
    start = datetime.datetime(2026, 11, 20, tzinfo=datetime.UTC)
    sql = (
        "SELECT $__timeInterval(ts) AS t, $__interval_s AS s FROM x WHERE $__timeFilter(ts) "
        "AND ts < $__toTime AND ts >= $__fromTime AND h = ${host:sqlstring} "
        "AND p = ${path:sqlstring} AND q = '$path' AND n > ${min_sample}"
    )
    variables = {"host": AllValue("''"), "path": "it's", "min_sample": "10"}
    assert (
        "SELECT toStartOfInterval(toDateTime(ts), INTERVAL 1 second) AS t, 1 AS s FROM x "
        "WHERE ts >= toDateTime(1795132800) AND ts <= toDateTime(1795136400) "
        "AND ts < toDateTime(1795136400) AND ts >= toDateTime(1795132800) AND h = '' "
        "AND p = 'it''s' AND q = 'it's' AND n > 10"
    ) == expand_macros(sql, start, start + datetime.timedelta(hours=1), 0, variables)


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


def test_dashboard_model_fits_the_plugin() -> None:
    """Panels query through the datasource variable with SQL targets the plugin accepts."""
    datasource = {"type": PLUGIN, "uid": "${datasource}"}
    ids = [p["id"] for p in _panels(_dashboard())]
    assert len(ids) == len(set(ids))
    for panel in PANELS.values():
        assert datasource == panel["datasource"]
        for target in panel["targets"]:
            assert datasource == target["datasource"]
            assert "sql" == target["editorType"]
            # sqlutil.FormatQueryOption: 0 time series, 1 table
            assert (0 if panel["type"] == "timeseries" else 1) == target["format"]
            assert "consentlog." in target["rawSql"]
    assert {"datasource", "host", "path", "min_sample"} == set(VARIABLES)
    assert (PLUGIN, DATASOURCE_UID) == (
        VARIABLES["datasource"]["query"],
        VARIABLES["datasource"]["current"]["value"],
    )
    host = VARIABLES["host"]
    assert (False, True, "''") == (host["multi"], host["includeAll"], host["allValue"])


def test_provisioning_matches_the_dashboard() -> None:
    """The provisioned datasource is the dashboard's default, its password from the env."""
    yaml = pytest.importorskip("yaml")
    provisioning = GRAFANA / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "consentlog.yaml").read_text())
    (source,) = datasources["datasources"]
    assert (PLUGIN, DATASOURCE_UID) == (source["type"], source["uid"])
    assert "http" == source["jsonData"]["protocol"]
    assert "consentlog" == source["jsonData"]["defaultDatabase"]
    assert "${CLICKHOUSE_PASSWORD}" == source["secureJsonData"]["password"]
    providers = yaml.safe_load((provisioning / "dashboards" / "consentlog.yaml").read_text())
    (provider,) = providers["providers"]
    assert ("file", "/var/lib/grafana/dashboards/consentlog") == (
        provider["type"],
        provider["options"]["path"],
    )


def test_panels_read_the_provisioned_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every panel and variable reads the database the provisioned data source names."""
    provisioning = tmp_path / "consentlog.yaml"
    text = (GRAFANA / "provisioning" / "datasources" / "consentlog.yaml").read_text()
    provisioning.write_text(text.replace("defaultDatabase: consentlog", "defaultDatabase: shop"))
    monkeypatch.setattr(build, "DATASOURCE_FILE", provisioning)
    build.database.cache_clear()
    try:
        model = json.loads(render())
    finally:
        build.database.cache_clear()
    sql = [t["rawSql"] for p in _panels(model) for t in p.get("targets", [])]
    sql += [v["query"]["rawSql"] for v in model["templating"]["list"] if v["type"] == "query"]
    assert all("shop." in s and "consentlog." not in s for s in sql)
