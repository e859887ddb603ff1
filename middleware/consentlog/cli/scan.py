"""``consentlog scan URL``: what a site stores in a fresh visitor's browser before a
choice, after Decline and after Accept, as a cookie declaration; exit 1 when anything
beyond necessary is there before a choice or after Decline (for a site's CI), 2 when
the site could not be scanned."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from consentlog.scan.classify import Classifier
from consentlog.scan.crawl import ACCEPT, DECLINE, Options, ScanError, scan
from consentlog.scan.report import as_html, as_json, as_markdown, entries, printable
from consentlog.settings import Settings

# what the scan reads of the site's configuration: its categories and cookie names
SCAN_OPTIONS = ("categories", "consent_cookie", "visitor_cookie", "session_cookie",
                "host_cookie_prefix", "secure_cookies", "prefix")  # fmt: skip
DEBIAN_CHROMIUM = "/usr/bin/chromium"


def add_parser(commands: Any) -> None:
    """``consentlog scan`` and its options."""
    sub = commands.add_parser(
        "scan", help="list the cookies and storage a site sets before and after consent",
        allow_abbrev=False,
    )  # fmt: skip
    sub.set_defaults(parser=sub, handler=cmd_scan)
    sub.add_argument("url", help="the page to start from, e.g. https://example.org/")
    sub.add_argument(
        "--pages", type=_count, default=10,
        help="pages opened per visit, failed ones too (default 10)",
    )  # fmt: skip
    sub.add_argument("--format", choices=("md", "html", "json"), default="md")
    sub.add_argument("--output", help="write the declaration here instead of to stdout")
    sub.add_argument(
        "--wait", type=_count, default=1000, metavar="MS",
        help="milliseconds to wait on each page for late cookies (default 1000)",
    )  # fmt: skip
    sub.add_argument(
        "--chromium", help=f"the Chromium executable (default: {DEBIAN_CHROMIUM} if present)"
    )
    sub.add_argument(
        "--necessary", action="append", default=[], metavar="PATTERN",
        help="a cookie name pattern the site declares necessary (repeatable): 'sessionid'",
    )  # fmt: skip
    sub.add_argument("--decline-selector", default=DECLINE, help=f"default: {DECLINE}")
    sub.add_argument("--accept-selector", default=ACCEPT, help=f"default: {ACCEPT}")


def cmd_scan(args: argparse.Namespace) -> int:
    """``_scan``; any failure that is not a verdict is exit 2, never 1 ("breaks
    consent", which a site's CI reads as a finding): a configuration error, a page's
    scripts answering what no page would, an --output that cannot be written."""
    try:
        return _scan(args)
    except Exception as exc:
        text = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        print(f"consentlog scan: the scan failed: {printable(text)}", file=sys.stderr)
        return 2


def _scan(args: argparse.Namespace) -> int:
    """Scan, write the declaration, say on stderr what breaks consent."""
    settings = Settings.from_env(require_secret_keys=False, only=SCAN_OPTIONS)
    chromium = args.chromium or (DEBIAN_CHROMIUM if os.path.exists(DEBIAN_CHROMIUM) else None)
    options = Options(
        pages=args.pages,
        wait_ms=args.wait,
        chromium=chromium,
        decline=args.decline_selector,
        accept=args.accept_selector,
        skip_prefix=settings.prefix,
    )
    try:
        result = scan(args.url, options)
    except ScanError as exc:  # its text may quote the site's own: printable only
        print(f"consentlog scan: {printable(str(exc))}", file=sys.stderr)
        return 2
    found = entries(result, Classifier(settings, args.necessary))
    render = {"md": as_markdown, "html": as_html, "json": as_json}[args.format]
    text = render(result, found)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    broken = [e for e in found if e.breaks_consent]
    print(
        f"consentlog scan: {len(found)} cookies and storage keys; "
        + (f"{len(broken)} beyond necessary before a choice or after Decline: "
           + ", ".join(printable(e.name) for e in broken) if broken else "none beyond necessary "
           "before a choice or after Decline"),
        file=sys.stderr,
    )  # fmt: skip
    return 1 if broken else 0


def _count(text: str) -> int:
    if not (text.isascii() and text.isdigit() and 0 < int(text) <= 100_000):
        raise argparse.ArgumentTypeError(f"{text!r}: use a whole number from 1 to 100000")
    return int(text)
