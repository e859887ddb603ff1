"""The analyst's and the data subject's commands: ``report``, ``export``, ``forget``."""

from __future__ import annotations

import argparse
import datetime
import json

from consentlog.analytics.metrics import page_report
from consentlog.cli.common import print_table, settings_of, store_of
from consentlog.privacy.subject import Subject, erase, erase_statements, export
from consentlog.store.schema import migrate


def parse_date(text: str) -> datetime.date:
    """An argument as a date (YYYY-MM-DD)."""
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


def cmd_report(args: argparse.Namespace) -> int:
    """Page usefulness in the terminal (or as JSON)."""
    settings = settings_of(args)
    end = args.end or datetime.datetime.now(datetime.UTC).date()
    start = args.start or end - datetime.timedelta(days=args.days - 1)
    store = store_of(settings)
    migrate(store, settings.database, ttl_months=settings.retention_months)
    pages = page_report(store, settings.database, start, end, host=args.host or "")
    if args.json:
        print(json.dumps([p.as_dict() for p in pages]))
        return 0
    print(f"Page usefulness {start} – {end}  ({store.description})")
    header = ["path", "views", "visitors", "bounce", "exit", "engaged", "scroll", "deep", "yes/no",
              "useful"]  # fmt: skip
    rows = []
    for p in sorted(pages, key=lambda p: (p.usefulness is None, -(p.usefulness or 0))):
        engaged = "–" if p.median_engaged_ms is None else f"{p.median_engaged_ms / 1000:.1f}s"
        scroll = "–" if p.avg_scroll_pct is None else f"{p.avg_scroll_pct:.0f}%"
        rows.append([
            p.path[:48], str(p.views), str(p.visitors), _percent(p.bounce_rate),
            _percent(p.exit_rate), engaged, scroll, _percent(p.deep_read_rate),
            f"{p.votes_yes}/{p.votes_no}",
            "not enough data" if p.usefulness is None else str(p.usefulness),
        ])  # fmt: skip
    print_table(header, rows)
    return 0


def _subject(args: argparse.Namespace) -> Subject:
    return Subject(
        visitor_ids=(args.visitor,) if args.visitor else (), consent_id=args.consent or ""
    )


def cmd_export(args: argparse.Namespace) -> int:
    """Print every stored row about one visitor (a data-subject access request)."""
    settings = settings_of(args)
    store = store_of(settings)
    migrate(store, settings.database, ttl_months=settings.retention_months)
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
    migrate(store, settings.database, ttl_months=settings.retention_months)
    removed = erase(store, settings.database, _subject(args), "operator")
    print(json.dumps({"erased": removed}))
    return 0
