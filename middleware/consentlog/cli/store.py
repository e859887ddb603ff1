"""The store commands: ``migrate``, ``sql``, ``status``, ``rollup``."""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path
from typing import Any

from consentlog.analytics.rollup import roll_up
from consentlog.cli.common import (
    jsonable,
    print_table,
    printable,
    require_schema,
    settings_of,
    store_of,
)
from consentlog.ingest.spool import Spool, default_spool_dir
from consentlog.ingest.status import read_status
from consentlog.store.schema import (
    LATEST,
    MIGRATIONS,
    bootstrap,
    migrate,
    render,
    row_counts,
    schema_version,
)


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply pending schema migrations (or print their SQL with ``--dry-run``)."""
    settings = settings_of(args)
    ttl, database = settings.retention_months, settings.database
    if args.dry_run:
        statements = bootstrap(database, args.cluster)
        for migration in MIGRATIONS:
            statements += render(migration, database, ttl_months=ttl, cluster=args.cluster)
        print(";\n\n".join(statements) + ";")
        return 0
    store = store_of(settings, create=True)
    applied = migrate(store, database, ttl_months=ttl, cluster=args.cluster)
    print(f"{store.description}: applied {applied}" if applied else "schema is up to date")
    return 0


def cmd_rollup(args: argparse.Namespace) -> int:
    """Roll up the complete days not rolled up yet (the writer does this every 10 min)."""
    settings = settings_of(args)
    store = store_of(settings)
    require_schema(store, settings.database)
    days = roll_up(store, settings.database)
    print(f"rolled up {len(days)} day(s): {', '.join(map(str, days))}" if days else "up to date")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Store, schema version, row counts, and the writer's queue and spool figures."""
    settings = settings_of(args)
    store, database = store_of(settings), settings.database
    version = schema_version(store, database)
    report: dict[str, Any] = {"store": store.description, "database": database}
    report["schema_version"] = f"{version} (latest {LATEST})"
    if version:
        report.update({f"rows.{t}": n for t, n in row_counts(store, database).items()})
    spool = Spool(
        Path(settings.spool_dir) if settings.spool_dir else default_spool_dir(store, database)
    )
    figures = spool.stats()
    report["spool"] = (
        f"{figures.files} files, {figures.bytes} bytes, {figures.quarantined} quarantined"
    )
    now = datetime.datetime.now(datetime.UTC)
    writers = read_status(spool.directory)
    report["writers"] = len(writers)
    for last in writers:
        pid = last.pop("pid")
        seen = now - datetime.datetime.fromtimestamp(last.pop("at"), datetime.UTC)
        running = last.pop("running")
        state = {True: "running", False: "gone", None: f"on {last.get('host')}"}[running]
        report[f"writer {pid}"] = (
            f"{state}, {last.pop('store_role', '')}, last seen {int(seen.total_seconds())} s ago"
        )
        last.pop("host", None)
        last.pop("started", None)
        report.update({f"writer {pid}.{k}": v for k, v in last.items()})
    if args.format == "json":
        print(json.dumps(report))
    else:
        width = max(len(k) for k in report)
        for key, value in report.items():
            print(f"{key.ljust(width)}  {printable(value)}")
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    """Run one SQL statement and print its rows."""
    settings = settings_of(args)
    store = store_of(settings, create=True)  # the console may be where a store begins
    migrate(store, settings.database, ttl_months=settings.retention_months)
    columns, rows = store.query(args.query)
    if args.format == "json":
        print(json.dumps([dict(zip(columns, r, strict=True)) for r in rows], default=jsonable))
        return 0
    print_table(columns, [[_cell(v) for v in r] for r in rows], rule=True)
    return 0


def _cell(value: Any) -> str:
    return value.isoformat(sep=" ") if isinstance(value, datetime.datetime) else str(value)
