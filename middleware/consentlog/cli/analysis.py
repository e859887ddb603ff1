"""The analyst's and the data subject's commands: ``report``, ``export``, ``forget``, and
the regulator's: ``evidence``."""

from __future__ import annotations

import argparse
import datetime
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from consentlog.analytics import reports
from consentlog.analytics.countries import country_name
from consentlog.analytics.metrics import page_report
from consentlog.cli.common import (
    REPORT_OPTIONS,
    given_options,
    print_table,
    printable,
    require_schema,
    settings_of,
    store_of,
)
from consentlog.dashboard.filters import FIRST_DAY, LAST_DAY
from consentlog.exceptions import ConfigError
from consentlog.ingest.bots import LABELS
from consentlog.ingest.spool import Spool, default_spool_dir
from consentlog.privacy.evidence import evidence, file_name
from consentlog.privacy.subject import Subject, erase, erase_statements, export
from consentlog.settings import Settings
from consentlog.store import Store


def parse_date(text: str) -> datetime.date:
    """An argument as a date (YYYY-MM-DD)."""
    try:
        day = datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise argparse.ArgumentTypeError(f"{text!r}: use a date from {FIRST_DAY} to {LAST_DAY}")
    return day


MAX_DAYS = 3 * 366  # as the dashboard: longer ranges are a job for `consentlog sql`


def report_range(
    start: datetime.date | None, end: datetime.date | None, days: int | None
) -> tuple[datetime.date, datetime.date]:
    """The first and last day of a report, checked as the dashboard checks its range;
    ConfigError naming the fix otherwise."""
    if start is not None and days is not None:
        raise ConfigError("give --start (with --end) or --days, not both")
    if days is not None and not 1 <= days <= MAX_DAYS:
        raise ConfigError(f"--days {days}: use a number of days from 1 to {MAX_DAYS}")
    end = end or datetime.datetime.now(datetime.UTC).date()
    start = start or end - datetime.timedelta(days=(days or 30) - 1)
    if start > end:
        raise ConfigError(f"--start {start} is after --end {end}: swap them")
    if (end - start).days >= MAX_DAYS:
        raise ConfigError(f"the range {start} – {end} is longer than {MAX_DAYS} days")
    return start, end


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


BREAKDOWNS = (
    "page", "goal", "funnel", "country", "channel", "source", "campaign", "bot", "verified",
)  # fmt: skip


def cmd_report(args: argparse.Namespace) -> int:
    """Page usefulness in the terminal (or as JSON); ``--by country`` views by country."""
    settings = settings_of(args, REPORT_OPTIONS)
    start, end = report_range(args.start, args.end, args.days)
    store = store_of(settings)
    require_schema(store, settings.database)
    if args.by == "funnel":
        return _funnels_report(store, settings.database, start, end, args, settings)
    if args.by != "page":
        return _breakdown_report(store, settings.database, start, end, args, _BREAKDOWNS[args.by])
    pages = page_report(store, settings.database, start, end, host=args.host or "")
    if args.json:
        print(json.dumps([p.as_dict() for p in pages]))
        return 0
    print(printable(f"Page usefulness {start} – {end}  ({store.description})"))
    hosts = {display_host(p.host) for p in pages}
    several = len(hosts) > 1  # then every row says which site it is about
    header = ["path", "views", "visitors", "bounce", "exit", "engaged", "scroll", "deep", "yes/no",
              "useful"]  # fmt: skip
    rows = []
    for p in sorted(
        pages,
        key=lambda p: (display_host(p.host), p.usefulness is None, -(p.usefulness or 0)),
    ):
        engaged = "–" if p.median_engaged_ms is None else f"{p.median_engaged_ms / 1000:.1f}s"
        scroll = "–" if p.avg_scroll_pct is None else f"{p.avg_scroll_pct:.0f}%"
        rows.append([
            *([display_host(p.host)] if several else []),
            p.path[:48], str(p.views), str(p.visitors), _percent(p.bounce_rate),
            _percent(p.exit_rate), engaged, scroll, _percent(p.deep_read_rate),
            f"{p.votes_yes}/{p.votes_no}",
            "not enough data" if p.usefulness is None else str(p.usefulness),
        ])  # fmt: skip
    print_table(["host", *header] if several else header, rows, left=2 if several else 1)
    return 0


@dataclass(frozen=True, slots=True)
class _Breakdown:
    """One ``report --by`` table: its query, title, header and how a row is shown."""

    fetch: Callable[..., Sequence[Any]]  # a ``reports`` function (store, db, start, end, host=)
    title: str
    header: tuple[str, ...]
    cells: Callable[[Any, int], list[str]]  # a row and the views of all rows → its cells
    left: int = 1  # leading text columns
    as_json: Callable[[Any], dict[str, Any]] = lambda row: dict(row.as_dict())
    size: Callable[[Any], int] = lambda row: int(getattr(row, "views", 0))  # what shares share


def _share(views: int, total: int) -> str:
    return _percent(views / total if total else None)


_BREAKDOWNS = {
    "goal": _Breakdown(
        reports.goals, "Goals",
        ("goal", "conversions", "sessions", "rate", "visitors", "anonymous", "server", "client"),
        lambda g, _: [g.name[:40], str(g.conversions), str(g.sessions),
                      _percent(g.conversion_rate), str(g.visitors), str(g.anonymous_conversions),
                      str(g.server_conversions), str(g.client_conversions)],
    ),
    "country": _Breakdown(
        reports.countries, "Human views by country",
        ("country", "code", "views", "share", "visitors", "anonymous"),
        lambda c, total: [country_name(c.country)[:32], c.country or "–", str(c.views),
                          _share(c.views, total), str(c.visitors), str(c.anonymous_views)],
        left=2,
        as_json=lambda c: {**c.as_dict(), "name": country_name(c.country)},
    ),
    "channel": _Breakdown(
        reports.channels, "Arrivals by channel",
        ("channel", "arrivals", "share", "visitors", "sessions", "anonymous"),
        lambda c, total: [c.channel or "(not classified)", str(c.views), _share(c.views, total),
                          str(c.visitors), str(c.sessions), str(c.anonymous_views)],
    ),
    "source": _Breakdown(
        reports.sources, "Arrivals by source",
        ("source", "channel", "arrivals", "visitors", "anonymous"),
        lambda s, _: [(s.source or "(direct)")[:48], s.channel, str(s.views), str(s.visitors),
                      str(s.anonymous_views)],
        left=2,
    ),
    "campaign": _Breakdown(
        reports.campaigns, "Campaigns",
        ("campaign", "source", "medium", "arrivals", "visitors", "ad clicks"),
        lambda c, _: [(c.campaign or "–")[:32], (c.source or "–")[:24], (c.medium or "–")[:16],
                      str(c.views), str(c.visitors), str(c.ad_clicks)],
        left=3,
    ),
    "bot": _Breakdown(
        reports.bots, "Page requests by bot signal",
        ("signal", "requests", "share", "verified", "pages"),
        lambda b, total: [LABELS.get(b.signal, b.signal)[:32], str(b.requests),
                          _share(b.requests, total), _share(b.verified, b.requests),
                          str(b.pages)],
        as_json=lambda b: {**b.as_dict(), "label": LABELS.get(b.signal, b.signal)},
        size=lambda b: int(b.requests),
    ),
    "verified": _Breakdown(
        reports.verified, "Verified browser views",
        ("host", "path", "views", "verified", "share", "anonymous", "verified anonymous"),
        lambda v, _: [display_host(v.host)[:32], v.path[:48], str(v.views),
                      str(v.verified_views), _share(v.verified_views, v.views),
                      str(v.anonymous_views), str(v.verified_anonymous_views)],
        left=2,
    ),
}  # fmt: skip


def _breakdown_report(
    store: Store,
    database: str,
    start: datetime.date,
    end: datetime.date,
    args: argparse.Namespace,
    breakdown: _Breakdown,
) -> int:
    found = breakdown.fetch(store, database, start, end, host=args.host or "")
    if args.json:
        print(json.dumps([breakdown.as_json(row) for row in found]))
        return 0
    print(printable(f"{breakdown.title} {start} – {end}  ({store.description})"))
    total = sum(map(breakdown.size, found))
    rows = [breakdown.cells(row, total) for row in found]
    print_table(list(breakdown.header), rows, left=breakdown.left)
    return 0


def _funnels_report(
    store: Store,
    database: str,
    start: datetime.date,
    end: datetime.date,
    args: argparse.Namespace,
    settings: Settings,
) -> int:
    rules = settings.funnel_rules
    if not rules:
        raise ConfigError(
            "no funnels are configured: set CONSENTLOG_FUNNELS, e.g. "
            "'trial=/pricing > goal:trial' (docs/goals.md)"
        )
    found = [reports.funnel(store, database, start, end, r, host=args.host or "") for r in rules]
    if args.json:
        print(json.dumps([f.as_dict() for f in found]))
        return 0
    for funnel in found:
        print(printable(f"Funnel {funnel.name} {start} – {end}  ({store.description})"))
        rows = [
            [str(s.step), s.label[:48], str(s.sessions), _percent(s.of_first),
             _percent(s.of_previous)]
            for s in funnel.steps
        ]  # fmt: skip
        print_table(["step", "page or goal", "sessions", "of first", "of previous"], rows, left=2)
    return 0


def display_host(host: str) -> str:
    """A host as a reader names it: without the default port of http or https."""
    return host.removesuffix(":80").removesuffix(":443")


def _subject(args: argparse.Namespace) -> Subject:
    return Subject(
        visitor_ids=(args.visitor,) if args.visitor else (), consent_id=args.consent or ""
    )


def cmd_export(args: argparse.Namespace) -> int:
    """Print every stored row about one visitor (a data-subject access request)."""
    settings = settings_of(args)
    store = store_of(settings)
    require_schema(store, settings.database)
    print(json.dumps(export(store, settings.database, _subject(args), "operator"), indent=2))
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    """Erase everything stored about one visitor (a data-subject erasure request)."""
    settings = settings_of(args)
    if args.dry_run:
        statements = erase_statements(settings.database, _subject(args), args.cluster)
        print(";\n".join(statements) + ";")
        print(
            f"-- parameters: vids = [{args.visitor or ''!r}] plus the visitor ids in the"
            f" consent records of cid = {args.consent or ''!r}"
        )
        return 0
    store = store_of(settings)
    require_schema(store, settings.database)  # a mistyped database is an error, not a new one
    subject = _subject(args)
    spool = Spool(
        Path(settings.spool_dir)
        if settings.spool_dir
        else default_spool_dir(store, settings.database)
    )
    spooled = spool.forget(subject.visitor_ids, subject.consent_id)  # before the tables
    removed = erase(store, settings.database, subject, "operator")
    print(json.dumps({"erased": removed, "spooled_events_erased": spooled}))
    return 0


def cmd_evidence(args: argparse.Namespace) -> int:
    """Write the evidence pack of a date range (``privacy.evidence``) to a ZIP file."""
    settings = Settings.from_env(require_secret_keys=False, **given_options(args))
    if args.end < args.start:
        raise ConfigError(f"--end {args.end} is before --start {args.start}")
    store = store_of(settings)
    require_schema(store, settings.database)
    pack = evidence(store, settings, args.start, args.end, identifiers=args.with_identifiers)
    target = Path(args.output or file_name(args.start, args.end))
    target.write_bytes(pack)
    print(f"{target}: evidence of {args.start} – {args.end}, {len(pack)} bytes")
    return 0
