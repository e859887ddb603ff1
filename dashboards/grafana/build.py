"""Builds the Grafana dashboard ``dashboards/grafana/dashboards/consentlog.json``.

    python dashboards/grafana/build.py           write the JSON
    python dashboards/grafana/build.py --check   fail if the committed JSON is stale

Every panel runs a file of the package's SQL folder (``middleware/consentlog/analytics/
sql/``): the report the built-in dashboard runs, or for a time series the same
expressions per Grafana interval (``trend_series.sql`` …). ``grafana_sql`` rewrites the
file's query parameters as Grafana macros and variables, and the database as the one the
provisioned data source names, so Grafana and the built-in reports cannot drift apart.
The panels are data, row by row, in ``panels.toml``; ``tests/analytics/test_grafana.py``
runs every panel on chDB and compares it with the files.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import re
import sys
import tomllib
from pathlib import Path
from typing import Any, NamedTuple

from consentlog.analytics.metrics import MIN_SAMPLE
from consentlog.analytics.queries import query_text
from consentlog.store.identifiers import check_identifier

Json = dict[str, Any]

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "dashboards" / "consentlog.json"
DATASOURCE_FILE = HERE / "provisioning" / "datasources" / "consentlog.yaml"
LAYOUT_FILE = HERE / "panels.toml"
SQL_FOLDER = "middleware/consentlog/analytics/sql"
PLUGIN = "grafana-clickhouse-datasource"
DATASOURCE_UID = "consentlog-clickhouse"  # provisioning/datasources/consentlog.yaml
DATASOURCE = {"type": PLUGIN, "uid": "${datasource}"}


@functools.cache
def database() -> str:
    """The database of the provisioned data source (its ``defaultDatabase``): the one
    place the name is written, so a site with another database edits it there and rebuilds."""
    found = re.search(r"^\s*defaultDatabase:\s*(\S+)", DATASOURCE_FILE.read_text("utf-8"), re.M)
    if found is None:
        raise SystemExit(f"{DATASOURCE_FILE}: no jsonData.defaultDatabase to read the panels from")
    return check_identifier(found.group(1))


# -- SQL files as Grafana SQL --------------------------------------------------------------
# The files take an end-exclusive range; Grafana's range ends at its "to" second ($__toTime
# is whole seconds), so the end is that second plus one. ($__timeFilter would compare with
# "<= to" and drop the rows of the last second's milliseconds.)
_FIRST_DAY = "toDate($__fromTime, 'UTC')"
_LAST_DAY = "toDate($__toTime, 'UTC')"
_ROLLED_LAST = "least(toDate($__toTime, 'UTC'), (SELECT max(day) FROM {db:Identifier}.rollup_days))"
PARAMETERS = {
    "start": "$__fromTime",
    "end": "$__toTime + INTERVAL 1 SECOND",
    "host": "${host:sqlstring}",  # the variable's "All" value is '' (every host)
    "path": "${path:sqlstring}",
    "min_sample": "${min_sample}",
    "interval_s": "$__interval_s",  # the seconds of $__timeInterval(ts)
    # pages.sql: the range's UTC days, read from the page_daily rollup up to its watermark
    # and from the raw rows after it, as consentlog.analytics.metrics.day_ranges splits them
    "rolled_first": _FIRST_DAY,
    "rolled_last": _ROLLED_LAST,
    "first_day": f"greatest({_FIRST_DAY}, {_ROLLED_LAST} + 1)",
    "last_day": _LAST_DAY,
    "lookback": "-1",  # page_daily.sql in pages.sql's raw days: no gaps computed for them
}
_PARAMETER = re.compile(r"\{(\w+):[^{}]+\}")


def grafana_text(sql: str, origin: str, **literals: str) -> str:
    """``sql`` with its query parameters as Grafana macros and variables, the database as
    ``database()``, or as the SQL ``literals`` given; comments are kept as they are."""

    def substitute(match: re.Match[str]) -> str:
        parameter = match.group(1)
        if parameter == "db":
            return database()
        if parameter in literals:
            return literals[parameter]
        if parameter in PARAMETERS:
            return PARAMETERS[parameter].replace("{db:Identifier}", database())
        raise ValueError(f"{origin}: no Grafana equivalent for {match.group(0)}")

    lines = []
    for line in sql.splitlines():
        code, dashes, comment = line.partition("--")
        lines.append(_PARAMETER.sub(substitute, code) + dashes + comment)
    return "\n".join(lines)


def grafana_sql(name: str, **literals: str) -> str:
    """``sql/<name>.sql`` (splices included) as Grafana SQL: only its parameters change,
    and its leading comment, which documents them, becomes a line naming the file."""
    lines = query_text(name).splitlines()
    while lines and lines[0].startswith("--"):
        lines.pop(0)
    header = f"-- {SQL_FOLDER}/{name}.sql, parameters as Grafana macros (docs/grafana.md)"
    body = grafana_text("\n".join(lines), f"{name}.sql", **literals)
    return f"{header}\n{body}".strip()


class Source(NamedTuple):
    """The SQL file a panel runs, the parameters it fixes to SQL literals, and what the
    panel selects around it: presentation only (labels, a filter, a sum), the same numbers."""

    file: str
    literals: dict[str, str]
    select: str = ""
    where: str = ""
    group_by: str = ""
    order_by: str = ""

    def sql(self) -> str:
        """The panel's Grafana SQL."""
        text = grafana_sql(self.file, **self.literals)
        if not self.select:
            return text
        clauses = {"WHERE": self.where, "GROUP BY": self.group_by, "ORDER BY": self.order_by}
        around = [f"{keyword} {clause}" for keyword, clause in clauses.items() if clause]
        return "\n".join([self.select, "FROM (", text, ")", *around])


class Panel(NamedTuple):
    """One panel of ``panels.toml``: its kind, text, SQL, place and kind's options."""

    kind: str  # stat, timeseries, table, barchart
    title: str
    description: str
    source: Source
    size: tuple[int, int]  # width (of the grid's 24 columns), height
    overrides: list[Json]  # field properties by column (a stat shows only these columns)
    stacked: bool  # a time series as stacked bars


def _field(name: str, properties: Json) -> Json:
    """A field override: ``{"unit": "ms"}`` → ``"properties": [{"id": "unit", "value": "ms"}]``."""
    properties = copy.deepcopy(properties)
    if "thresholds" in properties:  # the base step's value is null, which TOML cannot write
        properties["thresholds"]["steps"][0].setdefault("value", None)
    items = [{"id": key, "value": value} for key, value in properties.items()]
    return {"matcher": {"id": "byName", "options": name}, "properties": items}


_WRAP = ("select", "where", "group_by", "order_by")
_KEYS = {"kind", "title", "description", "file", "literals", "size", "fields", "overrides",
         "stacked", *_WRAP}  # fmt: skip


def _panel(spec: Json, sets: dict[str, Json]) -> Panel:
    """One ``[[row.panel]]`` of ``panels.toml``; ``sets`` are its ``[fields.*]`` tables."""
    if unknown := sorted(spec.keys() - _KEYS):
        raise SystemExit(f"{LAYOUT_FILE.name}: panel {spec.get('title')!r} has no {unknown}")
    fields = dict(spec.get("fields", {}))
    for name in spec.get("overrides", []):
        fields |= sets[name]
    wrap = {key: spec[key] for key in _WRAP if key in spec}
    width, height = spec["size"]
    return Panel(
        kind=spec["kind"],
        title=spec["title"],
        description=spec["description"],
        source=Source(spec["file"], spec.get("literals", {}), **wrap),
        size=(width, height),
        overrides=[_field(column, properties) for column, properties in fields.items()],
        stacked=spec.get("stacked", False),
    )


def load_layout(path: Path = LAYOUT_FILE) -> list[tuple[str, list[Panel]]]:
    """The rows of ``panels.toml``, each with its panels."""
    data = tomllib.loads(path.read_text("utf-8"))
    return [
        (row["title"], [_panel(p, data["fields"]) for p in row["panel"]]) for row in data["row"]
    ]


LAYOUT = load_layout()
# The panels that run a report file as the built-in dashboard does (the time series run
# their own files, per interval).
SOURCES = {p.title: p.source for _, row in LAYOUT for p in row if p.kind != "timeseries"}

# Field defaults and panel options of each kind (a bar chart has no legend).
_LEGEND = {"displayMode": "list", "placement": "bottom", "showLegend": True}
KINDS: dict[str, tuple[Json, Json]] = {
    "stat": (
        {"unit": "short", "color": {"mode": "fixed", "fixedColor": "blue"}},
        {"colorMode": "value", "graphMode": "none", "justifyMode": "auto", "orientation": "auto",
         "textMode": "value_and_name", "wideLayout": True,
         "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
    ),
    "timeseries": (
        {"unit": "short", "min": 0, "color": {"mode": "palette-classic"},
         "custom": {"drawStyle": "line", "fillOpacity": 10, "lineWidth": 2, "showPoints": "auto"}},
        {"legend": _LEGEND, "tooltip": {"mode": "multi", "sort": "none"}},
    ),
    "table": (
        {"custom": {"align": "auto", "filterable": True, "cellOptions": {"type": "auto"}}},
        {"showHeader": True, "cellHeight": "sm",
         "footer": {"show": False, "reducer": ["sum"], "fields": ""}},
    ),
    "barchart": (
        {"unit": "short", "color": {"mode": "palette-classic"},
         "custom": {"fillOpacity": 80, "lineWidth": 1}},
        {"orientation": "auto", "xTickLabelRotation": 0, "showValue": "auto",
         "legend": _LEGEND | {"showLegend": False}, "tooltip": {"mode": "single", "sort": "none"}},
    ),
}  # fmt: skip
_STACKED = {"drawStyle": "bars", "fillOpacity": 80, "stacking": {"mode": "normal", "group": "A"}}


class Layout:
    """Panel ids and grid positions, row by row (a Grafana grid is 24 columns wide)."""

    def __init__(self) -> None:
        self.ids = itertools.count(1)
        self.y = self.x = self.height = 0
        self.panels: list[Json] = []

    def row(self, title: str) -> None:
        """Start a row of panels under a row header."""
        self.y += self.height
        self.panels.append(
            {"collapsed": False, "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
             "id": next(self.ids), "panels": [], "title": title, "type": "row"}
        )  # fmt: skip
        self.y, self.x, self.height = self.y + 1, 0, 0

    def add(self, panel: Json, width: int, height: int) -> None:
        """Place ``panel`` right of the previous one, or on a new line when full."""
        if self.x + width > 24:
            self.y, self.x, self.height = self.y + self.height, 0, 0
        panel["gridPos"] = {"h": height, "w": width, "x": self.x, "y": self.y}
        panel["id"] = next(self.ids)
        self.panels.append(panel)
        self.x += width
        self.height = max(self.height, height)


def build_panel(panel: Panel) -> Json:
    """The Grafana model of ``panel``; its description ends with the file it runs."""
    defaults, options = copy.deepcopy(KINDS[panel.kind])
    if panel.stacked:
        defaults["custom"] |= _STACKED
    time_series = panel.kind == "timeseries"
    built: Json = {
        "datasource": DATASOURCE,
        "description": f"{panel.description} SQL: {panel.source.file}.sql.",
        "fieldConfig": {"defaults": defaults, "overrides": panel.overrides},
        "options": options,
        "targets": [
            {
                "datasource": DATASOURCE,
                "editorType": "sql",
                "format": 0 if time_series else 1,  # sqlutil: 0 time series, 1 table
                "queryType": "timeseries" if time_series else "table",
                "rawSql": panel.source.sql(),
                "refId": "A",
            }
        ],
        "title": panel.title,
        "type": panel.kind,
    }
    if panel.kind == "stat":  # only the columns it names
        names = [field["matcher"]["options"] for field in panel.overrides]
        built["transformations"] = [
            {"id": "filterFieldsByName", "options": {"include": {"names": names}}}
        ]
    return built


def panels() -> list[Json]:
    """Every panel of ``panels.toml``, row by row, with its place on the grid."""
    grid = Layout()
    for title, row in LAYOUT:
        grid.row(title)
        for panel in row:
            grid.add(build_panel(panel), *panel.size)
    return grid.panels


HOST_VARIABLE = (
    "SELECT DISTINCT host FROM {db:Identifier}.page_requests WHERE $__timeFilter(ts) ORDER BY host"
)
PATH_VARIABLE = """
SELECT path
FROM {db:Identifier}.page_requests
WHERE $__timeFilter(ts)
  AND ({host:String} = '' OR host = {host:String})
  AND NOT is_bot AND NOT consented_copy
GROUP BY path
ORDER BY count() DESC, path
LIMIT 1000
"""


def _query_variable(name: str, label: str, sql: str, **options: Any) -> Json:
    sql = grafana_text(sql, f"the ${name} variable").strip()
    return {
        "current": {}, "datasource": DATASOURCE, "definition": sql, "hide": 0,
        "includeAll": False, "label": label, "multi": False, "name": name, "options": [],
        "query": {"editorType": "sql", "rawSql": sql},
        "refresh": 2,  # on time range change
        "regex": "", "skipUrlSync": False, "sort": 0, "type": "query", **options,
    }  # fmt: skip


def variables() -> list[Json]:
    """The data source, host (one or all), page, and the usefulness minimum sample."""
    return [
        {"current": {"text": "consentlog ClickHouse", "value": DATASOURCE_UID}, "hide": 0,
         "includeAll": False, "label": "Data source", "multi": False, "name": "datasource",
         "options": [], "query": PLUGIN, "refresh": 1, "regex": "", "skipUrlSync": False,
         "type": "datasource"},
        _query_variable(
            "host", "Host", HOST_VARIABLE, includeAll=True,
            allValue="''",  # inserted as it is: the reports' '' for "every host"
            current={"text": "All", "value": "$__all"}, sort=1,
        ),
        _query_variable("path", "Page", PATH_VARIABLE),
        {"current": {"text": str(MIN_SAMPLE), "value": str(MIN_SAMPLE)},
         "description": "Engaged page views a page needs before it gets a usefulness "
         "score (consentlog.analytics.metrics.MIN_SAMPLE).",
         "hide": 2, "label": "Minimum sample", "name": "min_sample", "options": [],
         "query": str(MIN_SAMPLE), "skipUrlSync": True, "type": "constant"},
    ]  # fmt: skip


def dashboard() -> Json:
    """The dashboard model."""
    return {
        "annotations": {"list": []},
        "description": "consentlog: which pages visitors find useful, consent decisions "
        f"and errors; the built-in dashboard's reports, on the same SQL ({SQL_FOLDER}/).",
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [],
        "panels": panels(),
        "refresh": "",
        "schemaVersion": 39,
        "tags": ["consentlog", "clickhouse"],
        "templating": {"list": variables()},
        "time": {"from": "now-7d", "to": "now"},
        "timepicker": {},
        "timezone": "utc",  # the reports count UTC days
        "title": "consentlog",
        "uid": "consentlog",
        "version": 1,
    }


def render() -> str:
    """The dashboard as the JSON file holds it."""
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    """Write the JSON, or with ``--check`` only compare it with the committed file."""
    text = render()
    if "--check" in argv:
        if OUTPUT.exists() and OUTPUT.read_text("utf-8") == text:
            return 0
        print(f"{OUTPUT} is stale: run python {Path(__file__).name}", file=sys.stderr)
        return 1
    OUTPUT.write_text(text, "utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
