"""The report queries of ``dashboards/sql/``, read from the package (``consentlog/sql`` is
that folder)."""

from __future__ import annotations

import functools
from importlib import resources


@functools.cache
def query_text(name: str) -> str:
    """The SQL of ``dashboards/sql/<name>.sql``, with the files it splices in (a line
    ``/* other.sql */`` stands for the text of ``other.sql``)."""
    text = resources.files("consentlog.analytics").joinpath("sql", f"{name}.sql").read_text("utf-8")
    for line in text.splitlines():
        marker = line.strip()
        if marker.startswith("/* ") and marker.endswith(".sql */"):
            text = text.replace(marker, query_text(marker[3:-7]))
    return text
