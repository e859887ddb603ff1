"""The ``consentlog`` command: ``demo``, ``dashboard``, ``migrate``, ``report``, ``sql``,
``status``, ``rollup``, ``export``, ``forget``, ``evidence``, ``serve``, ``users``, ``scan``.

Every command takes the store as ``--clickhouse-url`` or ``CONSENTLOG_CLICKHOUSE_URL`` and
reads every other option through ``Settings``. Errors a user can fix (a store held by
another process, a bad option) are one line on stderr and a non-zero exit, never a
traceback. The commands live in ``store`` (migrate, sql, status, rollup), ``analysis``
(report, export, forget, evidence), ``servers`` (demo, dashboard), ``serve``, ``users`` (the
dashboard's named users, which touch no store) and ``scan`` (a site's cookies, in a
browser).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO, cast

import structlog

from consentlog import __version__
from consentlog.cli.analysis import (
    BREAKDOWNS,
    cmd_evidence,
    cmd_export,
    cmd_forget,
    cmd_report,
    parse_date,
)
from consentlog.cli.scan import add_parser as add_scan_parser
from consentlog.cli.serve import cmd_serve
from consentlog.cli.servers import cmd_dashboard, cmd_demo
from consentlog.cli.store import cmd_migrate, cmd_rollup, cmd_sql, cmd_status
from consentlog.cli.users import add_parser as add_users_parser
from consentlog.exceptions import ConsentlogError, first_line
from consentlog.settings import DEFAULT_STORE_URL


def parse_port(text: str) -> int:
    """An argument as a TCP port (1–65535)."""
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= 65535):
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: use a number from 1 to 65535")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``consentlog`` command."""
    # no abbreviations: ``--pass`` must not mean ``--password-stdin``, nor any prefix an
    # option that a later version adds
    parser = argparse.ArgumentParser(
        prog="consentlog", description=__doc__.splitlines()[0], allow_abbrev=False
    )
    parser.add_argument("--version", action="version", version=f"consentlog {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, allow_abbrev=False)
        sub.set_defaults(parser=sub)  # an unknown option is reported by the command that got it
        sub.add_argument("--clickhouse-url", help=f"store URL (default: {DEFAULT_STORE_URL})")
        sub.add_argument("--database", help="ClickHouse database (default: consentlog)")
        return sub

    demo = command("demo", "serve the demo site with consentlog mounted")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=parse_port, default=8000)
    demo.add_argument(
        "--simulate", type=int, default=0, metavar="N", help="send N synthetic visitors over HTTP"
    )
    demo.add_argument("--seed", type=int, default=1, help="random seed of --simulate (default 1)")
    demo.set_defaults(handler=cmd_demo)

    dashboard = command("dashboard", "serve the analyst dashboard (login required)")
    dashboard.add_argument("--host", default="127.0.0.1")
    dashboard.add_argument("--port", type=parse_port, default=8001)
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

    pack = command("evidence", "write the evidence pack of a date range (a ZIP for a regulator)")
    pack.add_argument("--start", type=parse_date, required=True, help="first day (UTC)")
    pack.add_argument("--end", type=parse_date, required=True, help="last day, included")
    pack.add_argument("--output", help="the ZIP file (default: consentlog-evidence-START-END.zip)")
    pack.add_argument(
        "--with-identifiers",
        action="store_true",
        help="include the visitor ids and address prefixes of the consent records",
    )
    pack.set_defaults(handler=cmd_evidence)

    status = command("status", "store, schema version, row counts, queue and spool figures")
    status.add_argument("--format", choices=("table", "json"), default="table")
    status.set_defaults(handler=cmd_status)

    report = command("report", "page usefulness over a date range")
    report.add_argument("--start", type=parse_date, help="first day (default: --days before --end)")
    report.add_argument("--end", type=parse_date, help="last day, included (default: today, UTC)")
    report.add_argument(
        "--days", type=int, help="range length, ending at --end (default 30; not with --start)"
    )
    report.add_argument("--host", help="only this host")
    report.add_argument("--json", action="store_true", help="a JSON list of page objects")
    report.add_argument(
        "--by",
        choices=BREAKDOWNS,
        default="page",
        help="page usefulness (the default); goal conversions; the funnels (CONSENTLOG_FUNNELS);"
        " human views by country; arrivals by channel, source or campaign; page requests by"
        " bot signal; verified browser views per page",
    )
    report.set_defaults(handler=cmd_report)

    serve = command(
        "serve", "own the embedded store and serve it over the ClickHouse HTTP interface"
    )
    serve.add_argument(
        "--listen", metavar="HOST:PORT", help="address to serve on (default: 127.0.0.1:8123)"
    )
    serve.add_argument("--tls-cert", help="certificate file (PEM): serve https")
    serve.add_argument("--tls-key", help="private key file (PEM) of --tls-cert")
    serve.add_argument(
        "--behind-proxy",
        action="store_true",
        help="a reverse proxy terminates TLS in front of a non-loopback --listen",
    )
    serve.set_defaults(handler=cmd_serve)

    sql = command("sql", "run a SQL query on the store")
    sql.add_argument("query")
    sql.add_argument("--format", choices=("table", "json"), default="table")
    sql.set_defaults(handler=cmd_sql)

    add_users_parser(commands)
    add_scan_parser(commands)
    return parser


class _Stderr:
    """Whatever ``sys.stderr`` is when a line is written (it may be replaced after the
    command configured logging, as by a test harness or a daemoniser)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _shown(command: str, unknown: Sequence[str]) -> str:
    """The unknown arguments as an error repeats them: for ``users``, option names only
    (a stray word there may be a password)."""
    if command != "users":
        return " ".join(unknown)
    return " ".join(a.partition("=")[0] if a.startswith("-") else "…" for a in unknown)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``consentlog`` command."""
    args, unknown = build_parser().parse_known_args(argv)
    if unknown:
        args.parser.error(f"unrecognized arguments: {_shown(args.command, unknown)}")
    # log lines go to stderr: stdout is for the command's output (JSON, tables)
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(cast(TextIO, _Stderr())))
    try:
        code: int = args.handler(args)
    except ConsentlogError as exc:
        print(f"consentlog: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a query error from ClickHouse is the user's to fix
        print(f"consentlog: {first_line(exc)}", file=sys.stderr)
        return 1
    return code
