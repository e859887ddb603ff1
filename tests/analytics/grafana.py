"""The Grafana side, for the dashboard tests: the ClickHouse plugin's substitutions
mirrored (template variables, then the backend's ``$__`` macros), and the committed
dashboard model read into its panels, queries and variables."""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterator
from typing import Any

from tests.helpers import ROOT

GRAFANA = ROOT / "dashboards" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "consentlog.json"
HOST = "example.org"
OTHER_HOST = "shop.example.org"


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


def load_dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text("utf-8"))
    return data


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, the ones inside collapsed rows included."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


PANELS = {p["title"]: p for p in panels(load_dashboard()) if p["type"] != "row"}
VARIABLES = {v["name"]: v for v in load_dashboard()["templating"]["list"]}
QUERIES = {
    **{f"{t}/{q['refId']}": q["rawSql"] for t, p in PANELS.items() for q in p["targets"]},
    **{f"${n}": v["query"]["rawSql"] for n, v in VARIABLES.items() if v["type"] == "query"},
}
TIME_SERIES = [title for title, p in PANELS.items() if p["type"] == "timeseries"]
CONSTANTS = {name: v["query"] for name, v in VARIABLES.items() if v["type"] == "constant"}
ALL_HOSTS = AllValue(VARIABLES["host"]["allValue"])
HOSTS = {"all hosts": ALL_HOSTS, "one host": HOST, "other host": OTHER_HOST}
