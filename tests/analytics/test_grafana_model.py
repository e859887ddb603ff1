"""The Grafana dashboard's JSON model and its provisioning, checked for shape (no Grafana
server runs here), and the plugin's macro expansion as ``grafana.py`` mirrors it."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
from dashboards.grafana import build
from dashboards.grafana.build import DATASOURCE_UID, PLUGIN, render

from tests.analytics.grafana import (
    GRAFANA,
    PANELS,
    VARIABLES,
    AllValue,
    expand_macros,
    load_dashboard,
    panels,
)


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


def test_dashboard_model_fits_the_plugin() -> None:
    """Panels query through the datasource variable with SQL targets the plugin accepts."""
    datasource = {"type": PLUGIN, "uid": "${datasource}"}
    ids = [p["id"] for p in panels(load_dashboard())]
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
    sql = [t["rawSql"] for p in panels(model) for t in p.get("targets", [])]
    sql += [v["query"]["rawSql"] for v in model["templating"]["list"] if v["type"] == "query"]
    assert all("shop." in s and "consentlog." not in s for s in sql)
