"""What every command shares: its settings, its store, and printing tables."""

from __future__ import annotations

import argparse
import datetime
import uuid
from collections.abc import Sequence
from typing import Any

from consentlog.settings import Settings
from consentlog.store import Store, open_store

# What the commands read from the environment: the store commands sign nothing and serve
# nobody, so a bad variable for a page option does not stop them.
STORE_OPTIONS = ("clickhouse_url", "database", "retention_months", "spool_dir")
DASHBOARD_OPTIONS = (
    *STORE_OPTIONS,
    "secret_keys",
    "dashboard_password",
    "dashboard_token",
    "trusted_proxy_hops",
)


def given_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--clickhouse-url`` and ``--database``, where given."""
    given = {"clickhouse_url": args.clickhouse_url, "database": args.database}
    return {name: value for name, value in given.items() if value}


def settings_of(args: argparse.Namespace, only: Sequence[str] = STORE_OPTIONS) -> Settings:
    """The settings of a command: the ``only`` options from the environment, with
    ``--clickhouse-url`` and ``--database`` (when given) over them. No key needed."""
    return Settings.from_env(require_secret_keys=False, only=only, **given_options(args))


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
