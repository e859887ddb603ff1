"""The package's SQL files (``consentlog/analytics/sql/``): loaded by name, run with bound
parameters.

Each query lives once, as a ``.sql`` file with ClickHouse query parameters
(``{db:Identifier}``, ``{start:DateTime64(3)}`` …). clickhouse-connect sends their values
beside the text — as ``param_<name>`` on HTTP, as chDB's ``params`` in process — so no
value is ever formatted into SQL. ``statement`` checks that a caller binds exactly the
parameters a file uses; ``run`` also turns the rows into a dataclass whose fields are the
file's columns. The Grafana dashboard is built from the same files
(``dashboards/grafana/build.py``).
"""

from __future__ import annotations

import datetime
import functools
import re
from dataclasses import fields
from importlib import resources
from typing import TYPE_CHECKING, Any, TypeVar

from consentlog.store import Store
from consentlog.store.identifiers import check_identifier

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Row = TypeVar("Row", bound="DataclassInstance")

_PARAMETER = re.compile(r"\{(\w+):[^{}]+\}")  # {name:Type}


def names() -> list[str]:
    """Every file of the SQL folder, by name (without ``.sql``)."""
    folder = resources.files("consentlog.analytics").joinpath("sql")
    return sorted(f.name.removesuffix(".sql") for f in folder.iterdir() if f.name.endswith(".sql"))


@functools.cache
def query_text(name: str, leave_out: str = "") -> str:
    """The SQL of ``sql/<name>.sql``, with the files it splices in (a line
    ``/* other.sql */`` stands for the text of ``other.sql``); ``leave_out`` names a
    section of the file to drop, the lines from ``-- <section>: begin`` to
    ``-- <section>: end``."""
    text = resources.files("consentlog.analytics").joinpath("sql", f"{name}.sql").read_text("utf-8")
    if leave_out:
        section = re.compile(
            rf"^[ \t]*-- {re.escape(leave_out)}: begin\b.*?^[ \t]*-- {re.escape(leave_out)}: end"
            r"[^\n]*\n",
            re.S | re.M,
        )
        text, found = section.subn("", text)
        if found != 1:
            raise ValueError(f"{name}.sql has no section {leave_out!r}")
    for line in text.splitlines():
        marker = line.strip()
        if marker.startswith("/* ") and marker.endswith(".sql */"):
            text = text.replace(marker, query_text(marker[3:-7]))
    return text


@functools.cache
def parameters_of(name: str, leave_out: str = "") -> frozenset[str]:
    """The query parameters ``sql/<name>.sql`` uses, splices included (comments aside)."""
    text = query_text(name, leave_out)
    code = "\n".join(line.partition("--")[0] for line in text.splitlines())
    return frozenset(_PARAMETER.findall(code))


def statement(
    name: str, database: str, *, leave_out: str = "", **parameters: Any
) -> tuple[str, dict[str, Any]]:
    """The SQL of ``sql/<name>.sql`` (without the section ``leave_out``, if given) and its
    parameters, ``database`` bound as ``db``.

    ``ValueError`` when ``database`` is not a plain identifier, or when the parameters are
    not exactly those the file uses: a missing one would fail in ClickHouse, an extra one
    means the caller and the file disagree.
    """
    bound = {"db": check_identifier(database), **parameters}
    wanted = parameters_of(name, leave_out)
    if missing := sorted(wanted - bound.keys()):
        raise ValueError(f"{name}.sql needs the parameters {missing}: pass them")
    if extra := sorted(bound.keys() - wanted):
        raise ValueError(f"{name}.sql has no parameters {extra}: do not pass them")
    return query_text(name, leave_out), bound


def run(
    store: Store,
    name: str,
    row: type[Row],
    database: str,
    *,
    leave_out: str = "",
    **parameters: Any,
) -> list[Row]:
    """The rows of ``sql/<name>.sql`` as ``row`` instances, whose fields are the file's
    columns in order; ClickHouse's NaN (an average of nothing) becomes None, so JSON
    stays JSON."""
    columns, rows = store.query(*statement(name, database, leave_out=leave_out, **parameters))
    expected = [f.name for f in fields(row)]
    if rows and columns != expected:
        raise RuntimeError(f"{name}.sql columns {columns} do not match {row.__name__}")
    return [row(*[None if isinstance(v, float) and v != v else v for v in r]) for r in rows]


def days(start: datetime.date, end: datetime.date) -> dict[str, str]:
    """The ``{start:DateTime64(3)}`` and ``{end:DateTime64(3)}`` parameters of the days
    ``start`` to ``end``, both included (the files' ranges end exclusive)."""
    return {
        "start": f"{start.isoformat()} 00:00:00",
        "end": f"{(end + datetime.timedelta(days=1)).isoformat()} 00:00:00",
    }
