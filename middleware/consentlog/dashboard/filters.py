"""What a dashboard request asks for: the date range, the host, and the base URL.

Every page and API route reads the same query parameters — ``start`` and ``end`` (ISO
dates, both included; default: the last 30 days, UTC) and ``host`` (one host, default
all) — and a bad value is a 400 that names the parameter, never a silent default.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import HTTPConnection

from consentlog.dashboard.table import parse_sort
from consentlog.exceptions import BadRequest

# the query parameters a report reads: what share links and saved filters keep
REPORT_PARAMETERS = ("start", "end", "host", "path", "sort", "order")

DEFAULT_DAYS = 30
MAX_DAYS = 3 * 366  # longer ranges are a job for `consentlog sql`, not a page view

# The days a report may name: ClickHouse's DateTime64 ends in 2299, and a range must
# still fit once widened by its first and last day.
FIRST_DAY = datetime.date(1970, 1, 2)
LAST_DAY = datetime.date(2199, 12, 30)
MAX_PATH = 2048  # longer `path` parameters cannot be a page of this site


@dataclass(frozen=True, slots=True)
class Filters:
    """The date range (both days included, UTC) and host a report covers."""

    start: datetime.date
    end: datetime.date
    host: str = ""

    @property
    def days(self) -> int:
        """Days in the range."""
        return (self.end - self.start).days + 1

    def query(self, **extra: str) -> str:
        """A query string that keeps this range (and host) plus ``extra`` parameters."""
        params = {"start": self.start.isoformat(), "end": self.end.isoformat()}
        if self.host:
            params["host"] = self.host
        params.update({k: v for k, v in extra.items() if v})
        return "?" + urlencode(params)

    def as_dict(self) -> dict[str, str]:
        """The range for JSON answers."""
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "host": self.host}


def today() -> datetime.date:
    """Today in UTC, the time zone of every stored timestamp."""
    return datetime.datetime.now(datetime.UTC).date()


def last_days(days: int, end: datetime.date | None = None) -> Filters:
    """The ``days`` days up to ``end`` (default today), both included."""
    last = end or today()
    return Filters(last - datetime.timedelta(days=days - 1), last)


def parse_filters(params: Mapping[str, str]) -> Filters:
    """The filters of a query string; missing dates default to the last 30 days."""
    end = _date(params, "end") or today()
    start = _date(params, "start") or end - datetime.timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise BadRequest(400, f"start={start} is after end={end}: swap them")
    if (end - start).days >= MAX_DAYS:
        raise BadRequest(400, f"the range {start} – {end} is longer than {MAX_DAYS} days")
    host = params.get("host", "")
    if len(host) > 253:
        raise BadRequest(400, "host is longer than a host name can be")
    return Filters(start, end, host)


def _date(params: Mapping[str, str], name: str) -> datetime.date | None:
    raw = params.get(name, "").strip()
    if not raw:
        return None
    try:
        day = datetime.date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(400, f"{name}={raw!r} is not a date: use YYYY-MM-DD") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadRequest(400, f"{name}={raw!r}: use a date from {FIRST_DAY} to {LAST_DAY}")
    return day


def base_path(connection: HTTPConnection, prefix: str) -> str:
    """Where the dashboard is mounted: ``prefix``, else the mount's ``root_path``."""
    if prefix:
        return prefix
    root: str = connection.scope.get("root_path", "")
    return root.rstrip("/")


def route_path(connection: HTTPConnection) -> str:
    """The request path inside the dashboard (without the mount's ``root_path``)."""
    path: str = connection.scope["path"]
    root: str = connection.scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


def page_path(connection: HTTPConnection) -> str:
    """The ``path`` query parameter of the detail routes."""
    path = connection.query_params.get("path", "")
    if not path.startswith("/") or len(path) > MAX_PATH:
        raise BadRequest(400, "path is missing or not a URL path: use ?path=/some/page")
    return path


def report_query(page: str, params: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The report parameters of ``params`` (any other dropped), checked as ``page`` would
    read them: BadRequest for a bad date, sort or detail path."""
    kept = tuple((name, params[name]) for name in REPORT_PARAMETERS if params.get(name))
    checked = dict(kept)
    parse_filters(checked)
    parse_sort(checked)
    if page == "/pages/detail" and not checked.get("path", "").startswith("/"):
        raise BadRequest(400, "a page's detail needs its path: ?path=/some/page")
    return kept
