"""The package's SQL folder and its runner: every file used, every parameter documented
and bound by its caller, rows typed (no chDB: these read no stored rows)."""

from __future__ import annotations

import dataclasses
import datetime
import math
import re
from typing import Any

import pytest

from consentlog.analytics import queries
from tests.helpers import ROOT

PACKAGE = ROOT / "middleware" / "consentlog"
GRAFANA = ROOT / "dashboards" / "grafana"


def _callers() -> str:
    """The text of every file that may name a SQL file: the package's Python, Grafana's."""
    paths = [*PACKAGE.rglob("*.py"), GRAFANA / "build.py", GRAFANA / "panels.toml"]
    return "\n".join(path.read_text("utf-8") for path in paths)


@pytest.mark.parametrize("name", queries.names())
def test_every_sql_file_is_used(name: str) -> None:
    """A file of the SQL folder is loaded by name somewhere, or spliced into another file."""
    spliced = any(
        f"/* {name}.sql */" in (PACKAGE / "analytics" / "sql" / f"{other}.sql").read_text()
        for other in queries.names()
    )
    assert spliced or f'"{name}"' in _callers(), f"{name}.sql is used nowhere: delete it"


@pytest.mark.parametrize("name", queries.names())
def test_every_parameter_is_documented(name: str) -> None:
    """A file's leading comment names every query parameter its SQL uses."""
    text = (PACKAGE / "analytics" / "sql" / f"{name}.sql").read_text("utf-8")
    header = "\n".join(line for line in text.splitlines() if line.startswith("--"))
    documented = set(re.findall(r"\{(\w+)[:}]", header))
    assert queries.parameters_of(name) <= documented


def test_statement_binds_exactly_the_file_parameters() -> None:
    """statement() binds the database and refuses a missing or an unknown parameter."""
    since = datetime.date(2026, 3, 1)
    sql, bound = queries.statement("changed_days", "site", since=since)
    assert ({"db": "site", "since": since}, queries.query_text("changed_days")) == (bound, sql)
    with pytest.raises(ValueError, match=r"needs the parameters \['since'\]"):
        queries.statement("changed_days", "site")
    with pytest.raises(ValueError, match=r"has no parameters \['host'\]"):
        queries.statement("changed_days", "site", since=since, host="")
    with pytest.raises(ValueError, match="plain identifier"):
        queries.statement("changed_days", "site; DROP TABLE x", since=since)


def test_splices_are_resolved_and_comments_ignored() -> None:
    """pages.sql carries page_daily.sql's parameters, and none from comments."""
    assert "/* page_daily.sql */" not in queries.query_text("pages")
    assert queries.parameters_of("page_daily") < queries.parameters_of("pages")
    assert "path" not in queries.parameters_of("pages")


def test_a_section_can_be_left_out() -> None:
    """pages.sql without its "raw days" section (every day rolled up) reads no raw table
    and binds no raw range; a section a file does not have is an error."""
    rolled_only = queries.query_text("pages", "raw days")
    assert "page_requests" in queries.query_text("pages")
    assert "page_requests" not in rolled_only
    assert "page_daily" in rolled_only
    assert {"first_day", "last_day", "lookback"} == (
        queries.parameters_of("pages") - queries.parameters_of("pages", "raw days")
    )
    with pytest.raises(ValueError, match="no section"):
        queries.query_text("pages", "no such days")


@dataclasses.dataclass(frozen=True)
class _Share:
    decisions: int
    gpc_decisions: int
    gpc_share: float | None


class _Answers:
    """A store that answers every query with the same columns and rows."""

    def __init__(self, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        self.answer = columns, rows

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        return self.answer


DAYS = queries.days(datetime.date(2026, 3, 1), datetime.date(2026, 3, 7))


def test_days_are_an_end_exclusive_range() -> None:
    """The days 1 to 7 March are [1 March 00:00, 8 March 00:00)."""
    assert {"start": "2026-03-01 00:00:00", "end": "2026-03-08 00:00:00"} == DAYS


def test_run_makes_rows_and_turns_nan_into_none() -> None:
    """run() gives one dataclass per row, ClickHouse's NaN (an average of nothing) as None."""
    store = _Answers(["decisions", "gpc_decisions", "gpc_share"], [(4, 1, 0.25), (0, 0, math.nan)])
    expected = [_Share(4, 1, 0.25), _Share(0, 0, None)]
    assert expected == queries.run(store, "gpc", _Share, "site", **DAYS)


def test_run_refuses_a_row_type_that_is_not_the_file() -> None:
    """Columns that are not the row type's fields, in order, are an error, not a wrong row."""
    store = _Answers(["decisions", "gpc_share", "gpc_decisions"], [(4, 0.25, 1)])
    with pytest.raises(RuntimeError, match=r"gpc.sql columns .* do not match _Share"):
        queries.run(store, "gpc", _Share, "site", **DAYS)
