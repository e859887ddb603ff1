"""``demo --simulate``'s visits spread over the last 30 days, so the charts show shapes.

The simulated visitors are played now, over real HTTP: the server stamps every row when
it arrives, and no client may choose its own time. Once they are played (and written),
the demo moves each visit's rows back by a whole number of days: 0 to 29, the same for
every row of a session (its page views, engagement and goals), picked by a hash of the
session. Rows without a session (anonymous views, their goals) and consent records are
moved by a hash of their own id; a page view's check (``browser_checks``) with its view.
The rows are copied back in time and the originals deleted; the daily rollup of the days
touched is dropped, so the next rollup run builds it from the moved rows.

This is for the demo's synthetic data only: nothing else in consentlog ever rewrites a
stored time, and nothing here runs on a site's own traffic.
"""

from __future__ import annotations

import datetime

from consentlog.store import Store
from consentlog.store.identifiers import check_identifier

SPREAD_DAYS = 30

# table → what keeps a visit's rows together on one day (constants: spliced, not bound)
_KEYS = {
    "page_requests": "if(session_id != '', session_id, toString(pageview_id))",
    "engagements": "session_id",
    "goals": "if(session_id != '', session_id, concat(pageview_id, toString(ts)))",
    "consent_records": "consent_id",
    "browser_checks": "toString(pageview_id)",  # a check: with its anonymous page view
}
_SHIFT = "toUInt32(cityHash64({key}) % {days})"
_SINCE = "ts >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')"


def _copy_back(table: str) -> str:
    shift = _SHIFT.format(key=_KEYS[table], days=SPREAD_DAYS)
    # the rows picked in a subquery: in ClickHouse the outer WHERE would read the moved ts
    return (
        f"INSERT INTO {{db:Identifier}}.{table}"  # noqa: S608 - table and key: constants
        f" SELECT * REPLACE (ts - toIntervalDay({shift}) AS ts) FROM ("
        f"SELECT * FROM {{db:Identifier}}.{table} WHERE {_SINCE} AND {shift} > 0)"
    )


def _delete_moved(table: str) -> str:
    shift = _SHIFT.format(key=_KEYS[table], days=SPREAD_DAYS)
    return f"ALTER TABLE {{db:Identifier}}.{table} DELETE WHERE {_SINCE} AND {shift} > 0"


_FORGET_ROLLUPS = (
    "ALTER TABLE {db:Identifier}.page_daily DELETE WHERE day >= {first:Date}",
    "ALTER TABLE {db:Identifier}.rollup_days DELETE WHERE day >= {first:Date}",
)


def spread(store: Store, database: str, since: datetime.datetime) -> int:
    """Move the rows written since ``since`` (the simulation's start) back over the last
    ``SPREAD_DAYS`` days, a visit at a time; return how many page requests moved."""
    db = check_identifier(database)
    millis = int(since.timestamp() * 1000)
    shift = _SHIFT.format(key=_KEYS["page_requests"], days=SPREAD_DAYS)
    _, [(moved,)] = store.query(
        f"SELECT count() FROM {{db:Identifier}}.page_requests"  # noqa: S608 - constants
        f" WHERE {_SINCE} AND {shift} > 0",
        {"db": db, "since": millis},
    )
    for table in _KEYS:
        store.command(_copy_back(table), parameters={"db": db, "since": millis})
        store.command(
            _delete_moved(table),
            parameters={"db": db, "since": millis},
            settings={"mutations_sync": 2},
        )
    first = (since - datetime.timedelta(days=SPREAD_DAYS)).date()
    for statement in _FORGET_ROLLUPS:
        store.command(
            statement, parameters={"db": db, "first": first}, settings={"mutations_sync": 2}
        )
    return int(moved)
