"""What every command shares: its settings, its store, and printing tables."""

from __future__ import annotations

import argparse
import datetime
import re
import uuid
from collections.abc import Sequence
from typing import Any

from consentlog.exceptions import StoreError
from consentlog.settings import Settings
from consentlog.store import Store, embedded_path, store_for
from consentlog.store.schema import LATEST, schema_version

# What the commands read from the environment: the store commands sign nothing and serve
# nobody, so a bad variable for a page option does not stop them.
STORE_OPTIONS = (
    "clickhouse_url",
    "database",
    "retention_months",
    "spool_dir",
    "serve_listen",
    "serve_password",
    "serve_analyst_password",
)
DASHBOARD_OPTIONS = (
    *STORE_OPTIONS,
    "secret_keys",
    "dashboard_password",
    "dashboard_token",
    "users_file",
    "trust_forwarded_host",
    "trusted_proxy_hops",
    "funnels",
)
REPORT_OPTIONS = (*STORE_OPTIONS, "funnels")  # report --by funnel reads the site's funnels
USERS_OPTIONS = ("users_file",)  # the users commands touch no store


def given_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--clickhouse-url`` and ``--database``, where given."""
    given = {"clickhouse_url": args.clickhouse_url, "database": args.database}
    return {name: value for name, value in given.items() if value}


def settings_of(args: argparse.Namespace, only: Sequence[str] = STORE_OPTIONS) -> Settings:
    """The settings of a command: the ``only`` options from the environment, with
    ``--clickhouse-url`` and ``--database`` (when given) over them. No key needed."""
    return Settings.from_env(require_secret_keys=False, only=only, **given_options(args))


def store_of(settings: Settings, *, create: bool = False) -> Store:
    """The store ``settings`` name. Unless ``create`` (``migrate``, the servers), an
    embedded store must exist already: a mistyped path is an error, not a new store."""
    path = embedded_path(settings.clickhouse_url)
    if path is not None and not create and not (path / "metadata").is_dir():
        raise StoreError(
            f"no consentlog store at {path}: check --clickhouse-url / CONSENTLOG_CLICKHOUSE_URL,"
            " or create it with `consentlog migrate`"
        )
    return store_for(settings)


def require_schema(store: Store, database: str) -> None:
    """StoreError unless ``database`` holds the current schema (read-only commands do
    not migrate)."""
    version = schema_version(store, database)
    if version < LATEST:
        raise StoreError(
            f"database {database} is at schema version {version}, this command needs "
            f"{LATEST}: run `consentlog migrate`"
        )


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(value: object) -> str:
    """``value`` as text for a terminal: control characters (ANSI escapes, newlines) in
    stored data are shown escaped, never interpreted."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))


def jsonable(value: Any) -> Any:
    """A ClickHouse value as JSON can hold it (dates and UUIDs as text)."""
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


def print_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, rule: bool = False, left: int = 1
) -> None:
    """Aligned columns: the first ``left`` left-aligned, numbers right-aligned unless
    ``rule`` (an SQL result: every column left-aligned, a rule under the header). Control
    characters are shown escaped."""
    table = [[printable(c) for c in header], *[[printable(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for index, row in enumerate(table):
        cells = [
            c.ljust(w) if rule or i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())
        if rule and index == 0:
            print("  ".join("-" * width for width in widths))
