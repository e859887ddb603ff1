"""Builds the Grafana dashboard ``dashboards/grafana/dashboards/consentlog.json``.

    python dashboards/grafana/build.py           write the JSON
    python dashboards/grafana/build.py --check   fail if the committed JSON is stale

Most panels run a report query of ``dashboards/sql/`` itself, the one the built-in
dashboard runs, with its query parameters rewritten as Grafana macros and variables by
``grafana_sql``, so Grafana and the built-in reports cannot drift apart. The time series,
which Grafana buckets per interval, have their own SQL with the same expressions. The
JSON is generated so that a change to a report file reaches Grafana by running this
script; ``tests/test_grafana.py`` runs every panel on chDB and compares it with the files.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
from pathlib import Path
from typing import Any, NamedTuple

from consentlog.analytics.metrics import MIN_SAMPLE
from consentlog.analytics.queries import query_text

Json = dict[str, Any]

OUTPUT = Path(__file__).resolve().parent / "dashboards" / "consentlog.json"
PLUGIN = "grafana-clickhouse-datasource"
DATASOURCE_UID = "consentlog-clickhouse"  # provisioning/datasources/consentlog.yaml
DATASOURCE = {"type": PLUGIN, "uid": "${datasource}"}
TOP = 10  # rows of the "top N" tables, as the built-in dashboard (consentlog.analytics.reports.TOP)

# -- report files as Grafana SQL -----------------------------------------------------------
# The files take an end-exclusive range; Grafana's range ends at its "to" second ($__toTime
# is whole seconds), so the end is that second plus one. ($__timeFilter would compare with
# "<= to" and drop the rows of the last second's milliseconds.)
_FIRST_DAY = "toDate($__fromTime, 'UTC')"
_LAST_DAY = "toDate($__toTime, 'UTC')"
_ROLLED_LAST = f"least({_LAST_DAY}, (SELECT max(day) FROM consentlog.rollup_days))"
PARAMETERS = {
    "db": "consentlog",
    "start": "$__fromTime",
    "end": "$__toTime + INTERVAL 1 SECOND",
    "host": "${host:sqlstring}",  # the variable's "All" value is '' (every host)
    "path": "${path:sqlstring}",
    "min_sample": "${min_sample}",
    # pages.sql: the range's UTC days, read from the page_daily rollup up to its watermark
    # and from the raw rows after it, as consentlog.analytics.metrics.day_ranges splits them
    "rolled_first": _FIRST_DAY,
    "rolled_last": _ROLLED_LAST,
    "first_day": f"greatest({_FIRST_DAY}, {_ROLLED_LAST} + 1)",
    "last_day": _LAST_DAY,
}
_PARAMETER = re.compile(r"\{(\w+):[^{}]+\}")


def grafana_sql(name: str, **literals: str) -> str:
    """``dashboards/sql/<name>.sql`` (splices included) with its query parameters as
    Grafana macros and variables, or as the SQL ``literals`` given for this panel.

    Only parameters change; the leading comment, which documents them, is replaced by a
    line naming the file, and other comments are kept as they are.
    """
    lines = query_text(name).splitlines()
    while lines and lines[0].startswith("--"):
        lines.pop(0)

    def substitute(match: re.Match[str]) -> str:
        parameter = match.group(1)
        if parameter in literals:
            return literals[parameter]
        if parameter in PARAMETERS:
            return PARAMETERS[parameter]
        raise ValueError(f"{name}.sql: no Grafana equivalent for {match.group(0)}")

    body = []
    for line in lines:
        code, dashes, comment = line.partition("--")
        body.append(_PARAMETER.sub(substitute, code) + dashes + comment)
    header = f"-- dashboards/sql/{name}.sql, parameters as Grafana macros (docs/grafana.md)"
    return "\n".join([header, *body]).strip()


class Source(NamedTuple):
    """The report file a panel runs, and the parameters that panel fixes to SQL literals."""

    file: str
    literals: dict[str, str]


SOURCES: dict[str, Source] = {
    "Traffic": Source("overview", {}),
    "Consent": Source("overview", {}),
    "Page usefulness": Source("pages", {}),
    "Page summary: $path": Source("pages", {}),
    "Engaged time: $path": Source("engaged_histogram", {}),
    "Scroll depth: $path": Source("scroll_histogram", {}),
    "Referrers: $path": Source("referrers", {"limit": str(TOP)}),
    "Next pages: $path": Source("next_pages", {"limit": str(TOP)}),
    "Errors: $path": Source("errors", {}),
    "GPC share": Source("gpc", {}),
    "Decisions per day": Source("consent", {}),
    "Errors by page": Source("errors", {"path": "''"}),
}


def report_sql(title: str) -> str:
    """The Grafana SQL of the report file behind the panel ``title``."""
    source = SOURCES[title]
    return grafana_sql(source.file, **source.literals)


# -- Grafana-only SQL: time series per interval, with the report files' expressions --------
WINDOW = "ts >= $__fromTime AND ts < $__toTime + INTERVAL 1 SECOND"
HOST = "(${host:sqlstring} = '' OR host = ${host:sqlstring})"

VIEWS_SERIES = f"""
-- the expressions of dashboards/sql/trend.sql, per Grafana interval instead of per day
SELECT $__timeInterval(ts) AS time,
       countIf(NOT is_bot) AS views,
       uniqExactIf(visitor_id, NOT is_bot AND visitor_id != '') AS visitors,
       countIf(NOT is_bot AND consent_state != 'granted') AS anonymous_views
FROM consentlog.page_requests
WHERE {WINDOW}
  AND {HOST}
GROUP BY time
ORDER BY time
"""
PAGE_SERIES = f"""
-- the expressions of dashboards/sql/trend.sql, per Grafana interval instead of per day
SELECT $__timeInterval(ts) AS time,
       countIf(NOT is_bot) AS views,
       uniqExactIf(visitor_id, NOT is_bot AND visitor_id != '') AS visitors
FROM consentlog.page_requests
WHERE {WINDOW}
  AND {HOST}
  AND path = ${{path:sqlstring}}
GROUP BY time
ORDER BY time
"""
ACTION_SERIES = f"""
-- dashboards/sql/consent.sql summed over revisions, per Grafana interval instead of per day
SELECT $__timeInterval(ts) AS time, toString(action) AS action, count() AS decisions
FROM consentlog.consent_records
WHERE {WINDOW}
  AND action != 'erase'
GROUP BY time, action
ORDER BY time, action
"""
REVISION_SERIES = f"""
-- dashboards/sql/consent.sql summed over actions, per Grafana interval instead of per day
SELECT $__timeInterval(ts) AS time,
       concat('revision ', toString(policy_revision)) AS revision,
       count() AS decisions
FROM consentlog.consent_records
WHERE {WINDOW}
  AND action != 'erase'
GROUP BY time, revision
ORDER BY time, revision
"""
ERROR_SERIES = f"""
-- the counts of dashboards/sql/errors.sql, per Grafana interval
SELECT $__timeInterval(ts) AS time,
       countIf(NOT is_bot AND status = 404) AS not_found,
       countIf(NOT is_bot AND status >= 500) AS server_errors
FROM consentlog.page_requests
WHERE {WINDOW}
  AND {HOST}
  AND (status = 404 OR status >= 500)
GROUP BY time
ORDER BY time
"""
HOST_VARIABLE = (
    "SELECT DISTINCT host FROM consentlog.page_requests WHERE $__timeFilter(ts) ORDER BY host"
)
PATH_VARIABLE = f"""
SELECT path
FROM consentlog.page_requests
WHERE $__timeFilter(ts)
  AND {HOST}
  AND NOT is_bot
GROUP BY path
ORDER BY count() DESC, path
LIMIT 1000
"""


# -- panels --------------------------------------------------------------------------------
class Layout:
    """Panel ids and grid positions, row by row (a Grafana grid is 24 columns wide)."""

    def __init__(self) -> None:
        self.ids = itertools.count(1)
        self.y = 0
        self.x = 0
        self.height = 0
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


def _panel(
    kind: str, title: str, description: str, sql: str, defaults: Json, options: Json,
    overrides: list[Json] | None = None,
) -> Json:  # fmt: skip
    time_series = kind == "timeseries"
    return {
        "datasource": DATASOURCE,
        "description": description,
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": options,
        "targets": [
            {
                "datasource": DATASOURCE,
                "editorType": "sql",
                "format": 0 if time_series else 1,  # sqlutil: 0 time series, 1 table
                "queryType": "timeseries" if time_series else "table",
                "rawSql": sql.strip(),
                "refId": "A",
            }
        ],
        "title": title,
        "type": kind,
    }


def _stat(title: str, description: str, sql: str, fields: dict[str, Json]) -> Json:
    """A stat panel of some columns of a one-row report: ``fields`` maps each column to
    its display name and other field properties (the rest of the columns are dropped)."""
    panel = _panel(
        "stat", title, description, sql,
        {"unit": "short", "color": {"mode": "fixed", "fixedColor": "blue"}},
        {"colorMode": "value", "graphMode": "none", "justifyMode": "auto", "orientation": "auto",
         "textMode": "value_and_name", "wideLayout": True,
         "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
        [_field(name, **properties) for name, properties in fields.items()],
    )  # fmt: skip
    panel["transformations"] = [
        {"id": "filterFieldsByName", "options": {"include": {"names": list(fields)}}}
    ]
    return panel


def _time_series(title: str, description: str, sql: str, *, stacked: bool = False) -> Json:
    custom: Json = {"drawStyle": "line", "fillOpacity": 10, "lineWidth": 2, "showPoints": "auto"}
    if stacked:
        custom |= {"drawStyle": "bars", "fillOpacity": 80,
                   "stacking": {"mode": "normal", "group": "A"}}  # fmt: skip
    return _panel(
        "timeseries", title, description, sql,
        {"unit": "short", "min": 0, "color": {"mode": "palette-classic"}, "custom": custom},
        {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
         "tooltip": {"mode": "multi", "sort": "none"}},
    )  # fmt: skip


def _table(title: str, description: str, sql: str, overrides: list[Json] | None = None) -> Json:
    return _panel(
        "table", title, description, sql,
        {"custom": {"align": "auto", "filterable": True, "cellOptions": {"type": "auto"}}},
        {"showHeader": True, "cellHeight": "sm",
         "footer": {"show": False, "reducer": ["sum"], "fields": ""}},
        overrides,
    )  # fmt: skip


def _bar_chart(title: str, description: str, sql: str) -> Json:
    return _panel(
        "barchart", title, description, sql,
        {"unit": "short", "color": {"mode": "palette-classic"},
         "custom": {"fillOpacity": 80, "lineWidth": 1}},
        {"orientation": "auto", "xTickLabelRotation": 0, "showValue": "auto",
         "legend": {"displayMode": "list", "placement": "bottom", "showLegend": False},
         "tooltip": {"mode": "single", "sort": "none"}},
    )  # fmt: skip


def _field(name: str, **properties: Any) -> Json:
    """A field override: ``unit="ms"`` → ``{"id": "unit", "value": "ms"}``."""
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [
            {"id": key.replace("__", "."), "value": value} for key, value in properties.items()
        ],
    }


def _empty_as(name: str, text: str) -> Json:
    mapping = {"type": "special", "options": {"match": "empty", "result": {"text": text}}}
    return _field(name, mappings=[mapping])


PERCENT: Json = {"unit": "percentunit", "decimals": 1}
PAGE_FIELDS = [
    *(
        _field(name, **PERCENT)
        for name in ("bounce_rate", "exit_rate", "click_through_rate", "deep_read_rate")
    ),
    _field("median_engaged_ms", unit="ms"),
    _field("avg_scroll_pct", unit="percent", decimals=0),
    _field(
        "usefulness",
        min=0,
        max=100,
        custom__cellOptions={"type": "color-background", "mode": "basic"},
        thresholds={
            "mode": "absolute",
            "steps": [
                {"color": "red", "value": None},
                {"color": "orange", "value": 40},
                {"color": "green", "value": 70},
            ],
        },
        mappings=[
            {
                "type": "special",
                "options": {"match": "null", "result": {"text": "not enough data"}},
            }
        ],
    ),
]
DETAIL_LINK = _field(
    "path",
    links=[
        {
            "title": "Page detail for ${__value.raw}",
            "url": "/d/consentlog/consentlog?${__url_time_range}&${datasource:queryparam}"
            "&${host:queryparam}&var-path=${__value.raw:percentencode}",
        }
    ],
)


def _wrap(select: str, title: str, order_by: str, where: str = "") -> str:
    """``select`` over the report behind ``title``: presentation only, the same numbers."""
    where = f"\nWHERE {where}" if where else ""
    return f"{select}\nFROM (\n{report_sql(title)}\n){where}\nORDER BY {order_by}"


def panels() -> list[Json]:
    """Every panel: Overview, Pages, Page detail, Consent, Errors."""
    grid = Layout()
    grid.row("Overview")
    grid.add(_stat(
        "Traffic",
        "Human page views (with or without consent), distinct consented visitors, views "
        "without analytics consent, bot requests (counted apart). dashboards/sql/overview.sql.",
        report_sql("Traffic"),
        {"views": {"displayName": "Views"}, "visitors": {"displayName": "Visitors"},
         "anonymous_views": {"displayName": "Anonymous views"},
         "bot_views": {"displayName": "Bot requests"}},
    ), 14, 4)  # fmt: skip
    grid.add(_stat(
        "Consent",
        "Consent granted: share of human page views made with analytics consent. Analytics "
        "accepted: share of consent decisions (erasures not counted) that accept analytics. "
        "dashboards/sql/overview.sql.",
        report_sql("Consent"),
        {"granted_view_share": {"displayName": "Consent granted (views)", **PERCENT},
         "consent_rate": {"displayName": "Analytics accepted (decisions)", **PERCENT}},
    ), 10, 4)  # fmt: skip
    grid.add(_time_series(
        "Views and visitors",
        "Per Grafana interval: human page views, distinct consented visitors, anonymous "
        "views (the expressions of dashboards/sql/trend.sql, which counts per day).",
        VIEWS_SERIES,
    ), 24, 8)  # fmt: skip

    grid.row("Pages")
    grid.add(_table(
        "Page usefulness",
        "dashboards/sql/pages.sql: one row per page over the UTC days of the range (days "
        "rolled up read from page_daily, later days from the raw rows). Definitions: "
        'docs/metrics.md. Usefulness 0-100 is "not enough data" below $min_sample engaged '
        "page views. Click a path for its detail, a header to sort.",
        report_sql("Page usefulness"), [*PAGE_FIELDS, DETAIL_LINK],
    ), 24, 12)  # fmt: skip

    grid.row("Page detail: $path")
    grid.add(_table(
        "Page summary: $path",
        "The page's row of the Pages table (dashboards/sql/pages.sql), votes included; one "
        "row per host when several hosts have this path.",
        _wrap("SELECT *", "Page summary: $path", "views DESC, host",
              "path = ${path:sqlstring}"),
        PAGE_FIELDS,
    ), 24, 4)  # fmt: skip
    grid.add(_time_series(
        "Trend: $path",
        "Per Grafana interval: human views and consented visitors of the page (the "
        "expressions of dashboards/sql/trend.sql).",
        PAGE_SERIES,
    ), 12, 8)  # fmt: skip
    grid.add(_bar_chart(
        "Engaged time: $path",
        "Consented views of the page by engaged time (visible and focused); under 10 s on a "
        "one-page session is a bounce. dashboards/sql/engaged_histogram.sql.",
        _wrap(
            "SELECT concat(toString(intDiv(from_ms, 1000)),\n"
            "              if(isNull(to_ms), '+ s', concat('-', toString(intDiv(to_ms, 1000)),"
            " ' s')))\n           AS engaged_time,\n       views",
            "Engaged time: $path", "from_ms",
        ),
    ), 6, 8)  # fmt: skip
    grid.add(_bar_chart(
        "Scroll depth: $path",
        "Consented views of the page by deepest scroll; 75 % and more is a deep read. "
        "dashboards/sql/scroll_histogram.sql.",
        _wrap(
            "SELECT if(isNull(to_pct), concat(toString(from_pct), ' %'),\n"
            "          concat(toString(from_pct), '-', toString(to_pct - 1), ' %'))"
            " AS max_scroll,\n       views",
            "Scroll depth: $path", "from_pct",
        ),
    ), 6, 8)  # fmt: skip
    grid.add(_table(
        "Referrers: $path",
        "Where the page's human views came from (referrer host; visitors: consented ones). "
        "dashboards/sql/referrers.sql.",
        report_sql("Referrers: $path"), [_empty_as("referrer_host", "(none)")],
    ), 8, 8)  # fmt: skip
    grid.add(_table(
        "Next pages: $path",
        "The page viewed next in the same consented session; empty: the session ended "
        "here (an exit). dashboards/sql/next_pages.sql.",
        report_sql("Next pages: $path"), [_empty_as("next_path", "(left the site)")],
    ), 8, 8)  # fmt: skip
    grid.add(_table(
        "Errors: $path",
        "The page's requests answered 404 or 5xx (views: human; bots apart). "
        "dashboards/sql/errors.sql.",
        report_sql("Errors: $path"),
    ), 8, 8)  # fmt: skip

    grid.row("Consent")
    grid.add(_stat(
        "GPC share",
        "Consent decisions (erasures not counted) and the share taken from a Global "
        "Privacy Control signal, a refusal without the banner. Consent records carry no "
        "host: all hosts. dashboards/sql/gpc.sql.",
        report_sql("GPC share"),
        {"decisions": {"displayName": "Decisions"},
         "gpc_share": {"displayName": "GPC share", **PERCENT}},
    ), 6, 8)  # fmt: skip
    grid.add(_time_series(
        "Decisions by action",
        "Consent decisions per Grafana interval by action (erasures not counted); all hosts.",
        ACTION_SERIES, stacked=True,
    ), 9, 8)  # fmt: skip
    grid.add(_time_series(
        "Decisions by policy revision",
        "Consent decisions per Grafana interval by the policy revision decided on; all hosts.",
        REVISION_SERIES, stacked=True,
    ), 9, 8)  # fmt: skip
    grid.add(_table(
        "Decisions per day",
        "Consent decisions per UTC day, policy revision and action, with those that accept "
        "analytics. dashboards/sql/consent.sql.",
        report_sql("Decisions per day"),
    ), 24, 7)  # fmt: skip

    grid.row("Errors")
    grid.add(_time_series(
        "404 and 5xx",
        "Human page requests answered 404 or 5xx per Grafana interval (the counts of "
        "dashboards/sql/errors.sql).",
        ERROR_SERIES,
    ), 10, 8)  # fmt: skip
    grid.add(_table(
        "Errors by page",
        "Pages answered 404 or 5xx, by status, most human requests first (bots apart). "
        "dashboards/sql/errors.sql.",
        report_sql("Errors by page"), [DETAIL_LINK],
    ), 14, 8)  # fmt: skip
    return grid.panels


def _query_variable(name: str, label: str, sql: str, **options: Any) -> Json:
    return {
        "current": {},
        "datasource": DATASOURCE,
        "definition": sql.strip(),
        "hide": 0,
        "includeAll": False,
        "label": label,
        "multi": False,
        "name": name,
        "options": [],
        "query": {"editorType": "sql", "rawSql": sql.strip()},
        "refresh": 2,  # on time range change
        "regex": "",
        "skipUrlSync": False,
        "sort": 0,
        "type": "query",
        **options,
    }


def variables() -> list[Json]:
    """The data source, host (one or all), page, and the usefulness minimum sample."""
    return [
        {
            "current": {"text": "consentlog ClickHouse", "value": DATASOURCE_UID},
            "hide": 0,
            "includeAll": False,
            "label": "Data source",
            "multi": False,
            "name": "datasource",
            "options": [],
            "query": PLUGIN,
            "refresh": 1,
            "regex": "",
            "skipUrlSync": False,
            "type": "datasource",
        },
        _query_variable(
            "host",
            "Host",
            HOST_VARIABLE,
            includeAll=True,
            allValue="''",  # inserted as it is: the reports' '' for "every host"
            current={"text": "All", "value": "$__all"},
            sort=1,
        ),
        _query_variable("path", "Page", PATH_VARIABLE),
        {
            "current": {"text": str(MIN_SAMPLE), "value": str(MIN_SAMPLE)},
            "description": "Engaged page views a page needs before it gets a usefulness "
            "score (consentlog.analytics.metrics.MIN_SAMPLE).",
            "hide": 2,
            "label": "Minimum sample",
            "name": "min_sample",
            "options": [],
            "query": str(MIN_SAMPLE),
            "skipUrlSync": True,
            "type": "constant",
        },
    ]


def dashboard() -> Json:
    """The dashboard model."""
    return {
        "annotations": {"list": []},
        "description": "consentlog: which pages visitors find useful, consent decisions "
        "and errors; the built-in dashboard's reports, on the same SQL (dashboards/sql/).",
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
