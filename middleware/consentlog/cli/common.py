"""What every command shares: its settings, its store, and printing tables."""

from __future__ import annotations

import argparse
import datetime
import uuid
from collections.abc import Sequence
from typing import Any

from consentlog.settings import Settings
from consentlog.store import Store, open_store


def settings_of(args: argparse.Namespace, **overrides: Any) -> Settings:
    """The settings of a command: the environment, with ``--clickhouse-url`` and
    ``--database`` (when given) over it. Store commands sign nothing: no key needed."""
    given = {"clickhouse_url": args.clickhouse_url, "database": args.database}
    given = {name: value for name, value in given.items() if value}
    return Settings.from_env(require_secret_keys=False, **given, **overrides)


def store_of(settings: Settings) -> Store:
    """The store ``settings`` name."""
    return open_store(settings.clickhouse_url)


def jsonable(value: Any) -> Any:
    """A ClickHouse value as JSON can hold it (dates and UUIDs as text)."""
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


def print_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, rule: bool = False
) -> None:
    """Aligned columns: the first left-aligned, numbers right-aligned unless ``rule``
    (an SQL result: every column left-aligned, a rule under the header)."""
    table = [list(header), *[list(r) for r in rows]]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for index, row in enumerate(table):
        cells = [
            c.ljust(w) if rule or i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())
        if rule and index == 0:
            print("  ".join("-" * width for width in widths))
