"""The ``consentlog`` command: ``demo``, ``dashboard``, ``migrate``, ``report``, ``sql``,
``status``.

Every command takes the store as ``--clickhouse-url`` or ``CONSENTLOG_CLICKHOUSE_URL``.
Errors a user can fix (a store held by another process, a bad option) are one line on
stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog

from consentlog.exceptions import ConfigError, StoreError
from consentlog.ingest.spool import Spool
from consentlog.ingest.writer import default_spool_dir
from consentlog.privacy.subject import Subject, erase, erase_statements, export
from consentlog.store import open_store
from consentlog.store.schema import (
    LATEST,
    MIGRATIONS,
    bootstrap,
    check_identifier,
    migrate,
    render,
    schema_version,
)


def _store_url(args: argparse.Namespace) -> str:
    url: str = args.clickhouse_url or os.environ.get(
        "CONSENTLOG_CLICKHOUSE_URL", "chdb:.consentlog"
    )
    return url


def _database(args: argparse.Namespace) -> str:
    database: str = args.database or os.environ.get("CONSENTLOG_DATABASE", "consentlog")
    return database


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply pending schema migrations (or print their SQL with ``--dry-run``)."""
    ttl = int(os.environ.get("CONSENTLOG_RETENTION_MONTHS", "25"))
    if args.dry_run:
        statements = bootstrap(_database(args), args.cluster)
        for migration in MIGRATIONS:
            statements += render(migration, _database(args), ttl_months=ttl, cluster=args.cluster)
        print(";\n\n".join(statements) + ";")
        return 0
    store = open_store(_store_url(args))
    applied = migrate(store, _database(args), ttl_months=ttl, cluster=args.cluster)
    print(f"{store.description}: applied {applied}" if applied else "schema is up to date")
    return 0


def _subject(args: argparse.Namespace) -> Subject:
    return Subject(
        visitor_ids=(args.visitor,) if args.visitor else (), consent_id=args.consent or ""
    )


def cmd_export(args: argparse.Namespace) -> int:
    """Print every stored row about one visitor (a data-subject access request)."""
    store = open_store(_store_url(args))
    migrate(store, _database(args))
    print(json.dumps(export(store, _database(args), _subject(args), "operator"), indent=2))
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    """Erase everything stored about one visitor (a data-subject erasure request)."""
    if args.dry_run:
        statements = erase_statements(_database(args), _subject(args), args.cluster)
        print(";\n".join(statements) + ";")
        print(
            f"-- parameters: vids = [{args.visitor or ''!r}] plus the visitor ids in the"
            f" consent records of cid = {args.consent or ''!r}"
        )
        return 0
    store = open_store(_store_url(args))
    migrate(store, _database(args))
    removed = erase(store, _database(args), _subject(args), "operator")
    print(json.dumps({"erased": removed}))
    return 0


def cmd_rollup(args: argparse.Namespace) -> int:
    """Roll up the complete days not rolled up yet (the writer does this every 10 min)."""
    from consentlog.analytics.rollup import roll_up

    store = open_store(_store_url(args))
    migrate(store, _database(args))
    days = roll_up(store, _database(args))
    print(f"rolled up {len(days)} day(s): {', '.join(map(str, days))}" if days else "up to date")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Store, schema version, row counts, and the writer's queue and spool figures."""
    url, database = _store_url(args), _database(args)
    store = open_store(url)
    version = schema_version(store, database)
    report: dict[str, Any] = {"store": store.description, "database": database}
    report["schema_version"] = f"{version} (latest {LATEST})"
    if version:
        for table in ("page_requests", "engagements", "consent_records"):
            _, rows = store.query(f"SELECT count() FROM {check_identifier(database)}.{table}")
            report[f"rows.{table}"] = int(rows[0][0])
    spool = Spool(
        Path(os.environ["CONSENTLOG_SPOOL_DIR"])
        if os.environ.get("CONSENTLOG_SPOOL_DIR")
        else default_spool_dir(store, database)
    )
    figures = spool.stats()
    report["spool"] = (
        f"{figures.files} files, {figures.bytes} bytes, {figures.quarantined} quarantined"
    )
    status_file = spool.directory / "status.json"
    if status_file.exists():
        last = json.loads(status_file.read_text(encoding="utf-8"))
        age = datetime.datetime.now(datetime.UTC) - datetime.datetime.fromtimestamp(
            last.pop("at"), datetime.UTC
        )
        report["writer (last seen)"] = f"{int(age.total_seconds())} s ago"
        report.update({f"writer.{k}": v for k, v in last.items()})
    if args.format == "json":
        print(json.dumps(report))
    else:
        width = max(len(k) for k in report)
        for key, value in report.items():
            print(f"{key.ljust(width)}  {value}")
    return 0


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


def cmd_sql(args: argparse.Namespace) -> int:
    """Run one SQL statement and print its rows."""
    store = open_store(_store_url(args))
    migrate(store, _database(args))
    columns, rows = store.query(args.query)
    if args.format == "json":
        print(json.dumps([dict(zip(columns, r, strict=True)) for r in rows], default=_jsonable))
        return 0
    table = [columns, *[[_cell(v) for v in r] for r in rows]]
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    for index, row in enumerate(table):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))
    return 0


def _cell(value: Any) -> str:
    return value.isoformat(sep=" ") if isinstance(value, datetime.datetime) else str(value)


def _date(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def cmd_report(args: argparse.Namespace) -> int:
    """Page usefulness in the terminal (or as JSON)."""
    from consentlog.analytics.metrics import page_report

    end = args.end or datetime.datetime.now(datetime.UTC).date()
    start = args.start or end - datetime.timedelta(days=args.days - 1)
    store = open_store(_store_url(args))
    migrate(store, _database(args))
    pages = page_report(store, _database(args), start, end, host=args.host or "")
    if args.json:
        print(json.dumps([p.as_dict() for p in pages]))
        return 0
    print(f"Page usefulness {start} – {end}  ({store.description})")
    header = ["path", "views", "visitors", "bounce", "exit", "engaged", "scroll", "deep", "yes/no",
              "useful"]  # fmt: skip
    table = [header]
    for p in sorted(pages, key=lambda p: (p.usefulness is None, -(p.usefulness or 0))):
        engaged = "–" if p.median_engaged_ms is None else f"{p.median_engaged_ms / 1000:.1f}s"
        scroll = "–" if p.avg_scroll_pct is None else f"{p.avg_scroll_pct:.0f}%"
        table.append([
            p.path[:48], str(p.views), str(p.visitors), _percent(p.bounce_rate),
            _percent(p.exit_rate), engaged, scroll, _percent(p.deep_read_rate),
            f"{p.votes_yes}/{p.votes_no}",
            "not enough data" if p.usefulness is None else str(p.usefulness),
        ])  # fmt: skip
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        cells = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Serve the demo site with consentlog mounted."""
    import uvicorn

    from consentlog.demo.app import DASHBOARD_PATH, create_demo_app, dashboard_password

    if args.clickhouse_url:
        os.environ["CONSENTLOG_CLICKHOUSE_URL"] = args.clickhouse_url
    app = create_demo_app()
    store = app.store
    if store.path is not None:
        migrate(store, app.settings.database)  # fail now, in one line, if the store is held
    url = f"http://{args.host}:{args.port}/"
    print(f"consentlog demo: {url}  (store: {store.description})", flush=True)
    password = (
        "from CONSENTLOG_DASHBOARD_PASSWORD"  # the operator's own: not echoed
        if os.environ.get("CONSENTLOG_DASHBOARD_PASSWORD")
        else dashboard_password(app.settings.clickhouse_url)
    )
    print(f"dashboard: {url.rstrip('/')}{DASHBOARD_PATH}/  password: {password}", flush=True)
    if args.simulate:  # synthetic visitors over HTTP, once the server answers
        from consentlog.demo.simulate import simulate_in_background

        simulate_in_background(args.host, args.port, args.simulate, seed=args.seed)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Serve the analyst dashboard on its own."""
    import secrets

    import uvicorn

    from consentlog.dashboard import create_dashboard

    password = os.environ.get("CONSENTLOG_DASHBOARD_PASSWORD") or None
    if args.password_file:
        password = Path(args.password_file).read_text(encoding="utf-8").strip() or None
    token = os.environ.get("CONSENTLOG_DASHBOARD_TOKEN") or None
    if not password and not token:
        print(
            "consentlog: the dashboard needs a password: set CONSENTLOG_DASHBOARD_PASSWORD "
            "(or CONSENTLOG_DASHBOARD_TOKEN), or pass --password-file",
            file=sys.stderr,
        )
        return 2
    raw_keys = os.environ.get("CONSENTLOG_SECRET_KEY") or os.environ.get(
        "CONSENTLOG_SECRET_KEYS", ""
    )
    keys = [key.strip() for key in raw_keys.split(",") if key.strip()]
    store, database = open_store(_store_url(args)), _database(args)
    version = schema_version(store, database)  # read-only: the dashboard never migrates
    if version < LATEST:
        raise StoreError(
            f"database {database} is at schema version {version}, the dashboard needs "
            f"{LATEST}: run `consentlog migrate`"
        )
    app = create_dashboard(
        store,
        database=database,
        password=password,
        token=token,
        # without a configured key, sessions are signed with one made now: they end
        # when the process does
        secret_keys=keys or [secrets.token_urlsafe(32)],
    )
    url = f"http://{args.host}:{args.port}/"
    print(f"consentlog dashboard: {url}  (store: {store.description})", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``consentlog`` command."""
    parser = argparse.ArgumentParser(prog="consentlog", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--clickhouse-url", help="store URL (default: chdb:.consentlog)")
        sub.add_argument("--database", help="ClickHouse database (default: consentlog)")
        return sub

    demo = command("demo", "serve the demo site with consentlog mounted")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument(
        "--simulate", type=int, default=0, metavar="N", help="send N synthetic visitors over HTTP"
    )
    demo.add_argument("--seed", type=int, default=1, help="random seed of --simulate (default 1)")
    demo.set_defaults(handler=cmd_demo)

    dashboard = command("dashboard", "serve the analyst dashboard (login required)")
    dashboard.add_argument("--host", default="127.0.0.1")
    dashboard.add_argument("--port", type=int, default=8001)
    dashboard.add_argument(
        "--password-file", help="file holding the password (default: CONSENTLOG_DASHBOARD_PASSWORD)"
    )
    dashboard.set_defaults(handler=cmd_dashboard)

    migrate_command = command("migrate", "apply pending schema migrations")
    migrate_command.add_argument(
        "--cluster", help="render ReplicatedMergeTree + Distributed tables ON CLUSTER NAME"
    )
    migrate_command.add_argument(
        "--dry-run", action="store_true", help="print the SQL instead of running it"
    )
    migrate_command.set_defaults(handler=cmd_migrate)

    command("rollup", "roll up complete days into page_daily").set_defaults(handler=cmd_rollup)

    for name, handler, help_text in (
        ("export", cmd_export, "every stored row about one visitor, as JSON"),
        ("forget", cmd_forget, "erase everything stored about one visitor"),
    ):
        sub = command(name, help_text)
        who = sub.add_mutually_exclusive_group(required=True)
        who.add_argument("--visitor", help="visitor id (the cl_vid cookie)")
        who.add_argument("--consent", help="consent id (from the consent cookie or a record)")
        if name == "forget":
            sub.add_argument("--dry-run", action="store_true", help="print the SQL only")
            sub.add_argument("--cluster", help="with --dry-run: the SQL for a cluster")
        sub.set_defaults(handler=handler)

    status = command("status", "store, schema version, row counts, queue and spool figures")
    status.add_argument("--format", choices=("table", "json"), default="table")
    status.set_defaults(handler=cmd_status)

    report = command("report", "page usefulness over a date range")
    report.add_argument("--start", type=_date, help="first day (default: --days before --end)")
    report.add_argument("--end", type=_date, help="last day, included (default: today, UTC)")
    report.add_argument("--days", type=int, default=30, help="range length without --start")
    report.add_argument("--host", help="only this host")
    report.add_argument("--json", action="store_true", help="a JSON list of page objects")
    report.set_defaults(handler=cmd_report)

    sql = command("sql", "run a SQL query on the store")
    sql.add_argument("query")
    sql.add_argument("--format", choices=("table", "json"), default="table")
    sql.set_defaults(handler=cmd_sql)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``consentlog`` command."""
    args = build_parser().parse_args(argv)
    # log lines go to stderr: stdout is for the command's output (JSON, tables)
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    try:
        code: int = args.handler(args)
    except (StoreError, ConfigError) as exc:
        print(f"consentlog: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a query error from ClickHouse is the user's to fix
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"consentlog: {first_line}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
