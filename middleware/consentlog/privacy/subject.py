"""Data-subject requests: what is stored about one visitor, and erasing it.

A visitor is named by their visitor id (``cl_vid``) or by their consent id (the signed
consent cookie's id, which links one browser's decisions). ``export`` returns every row
that holds either; ``erase`` removes those rows physically from every table and rebuilds
every rollup day that counted them. Both leave an audit row (``subject_requests``) saying
when, what, through which channel, who acted (``actor``: a dashboard user's name, ``cli``,
``self-service``), how many rows and whether it finished — never whom it was about. The
row is written whatever the result: for a request that found nothing too (except the
site's own self-service routes, which a visitor could replay without end), and with
outcome ``failed`` when the request broke part way (an erasure may then have removed some
of the rows).

These run on a worker thread or in the CLI, never on the event loop: they wait for
ClickHouse (flush, query, mutation).

A subject's rows are those holding one of its visitor ids; consent records also those of
its consent id. The queries below bind the ids (``{vids:Array(String)}``,
``{cid:String}``) and the database; only the erasure mutations, which
``consentlog forget --dry-run`` prints and which run ``ON CLUSTER`` on a cluster, have
their (checked) names spliced in.
"""

from __future__ import annotations

import contextlib
import datetime
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import structlog

from consentlog.analytics.rollup import rebuild_day
from consentlog.ingest.events import ConsentRecord
from consentlog.store import Store
from consentlog.store.identifiers import check_identifier

log = structlog.get_logger("consentlog.privacy.subject")

Channel = Literal["self-service", "operator", "dashboard"]
Outcome = Literal["done", "failed"]
ACTORS: dict[Channel, str] = {"self-service": "self-service", "operator": "cli", "dashboard": ""}

# Kept without any identifier, for every visitor: said in every export.
ANONYMOUS_STATEMENT = (
    "Besides the rows below, this site keeps page requests without any identifier: the page, "
    "time, status, referring site, browser/OS/device family and language — for visits before "
    "you decided, after you declined, or when your browser sent Global Privacy Control. They "
    "cannot be linked to you, so they are not listed here and cannot be erased on request. "
    "Daily totals per page (counts, not rows about you) are rebuilt without you on erasure."
)


@dataclass(frozen=True, slots=True)
class Subject:
    """Whom a request is about: visitor ids and/or a consent id.

    A consent id names one browser's decisions; the visitor ids it was given over time
    (a new one after each withdrawal) are found in its consent records by ``resolve``.
    """

    visitor_ids: tuple[str, ...] = ()
    consent_id: str = ""

    def __post_init__(self) -> None:
        if not (any(self.visitor_ids) or self.consent_id):
            raise ValueError("a data-subject request needs a visitor id or a consent id")

    def resolve(self, store: Store, database: str) -> Subject:
        """This subject with every visitor id its consent id's records name."""
        if not self.consent_id:
            return self
        parameters = {"db": check_identifier(database), "cid": self.consent_id}
        _, rows = store.query(_CONSENT_VISITORS, parameters)
        found = {r[0] for r in rows}
        return Subject(tuple(sorted(found | set(self.visitor_ids))), self.consent_id)

    @property
    def parameters(self) -> dict[str, Any]:
        """Query parameters of ``condition``."""
        # an empty array parameter is not sent by the client: stand in a value no visitor
        # id can have (never '', which every anonymous row holds)
        return {"vids": [v for v in self.visitor_ids if v] or [_NO_VISITOR], "cid": self.consent_id}

    def condition(self, table: str) -> str:
        """The WHERE clause selecting this subject's rows of ``table``."""
        return _CONSENT_MATCH if table == "consent_records" else _VISITOR_MATCH


TABLES = ("consent_records", "page_requests", "engagements", "goals")
_NO_VISITOR = "\x00"

_VISITOR_MATCH = "has({vids:Array(String)}, visitor_id)"
_CONSENT_MATCH = _VISITOR_MATCH + " OR consent_id = {cid:String} AND {cid:String} != ''"
_CONSENT_VISITORS = (
    "SELECT DISTINCT visitor_id FROM {db:Identifier}.consent_records"
    " WHERE consent_id = {cid:String} AND visitor_id != ''"
)
_ROLLED_DAYS = "SELECT DISTINCT day FROM {db:Identifier}.page_daily"


def _select(columns: str, subject: Subject, table: str, db: str) -> tuple[str, dict[str, Any]]:
    """``SELECT columns`` over ``subject``'s rows of ``table``, and the parameters it binds."""
    # spliced: ``columns`` and the clause of ``condition``, both constants of this module
    sql = "SELECT " + columns + " FROM {db:Identifier}.{table:Identifier} WHERE "  # noqa: S608 - constants
    return sql + subject.condition(table), {"db": db, "table": table, **subject.parameters}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _actor(channel: Channel, actor: str | None) -> str:
    """Who acted: ``actor``, else the channel's own (``cli``, ``self-service``)."""
    found = actor if actor is not None else ACTORS[channel]
    if not found:
        raise ValueError(f"a {channel} request needs an actor: who acted")
    return found


@contextlib.contextmanager
def _audited(
    store: Store, db: str, request: str, channel: Channel, actor: str, counted: list[int]
) -> Iterator[None]:
    """Write the audit row of the request the block carries out, however it ends: rows
    ``sum(counted)``, outcome ``failed`` when it raised (the error goes on)."""
    try:
        yield
    except BaseException:
        try:
            _audit(store, db, request, channel, actor, sum(counted), "failed")
        except Exception as exc:  # the store that failed the request may refuse this too
            log.error("subject_request_not_audited", request=request, error=str(exc)[:200])
        raise
    if sum(counted) or channel != "self-service":  # a visitor's replay is not recorded
        _audit(store, db, request, channel, actor, sum(counted), "done")


def export(
    store: Store, database: str, subject: Subject, channel: Channel, actor: str | None = None
) -> dict[str, Any]:
    """Every stored row about ``subject``, per table, and what is kept without identifiers.
    ``actor``: who asked (a dashboard user's name; the channel's own by default)."""
    db = check_identifier(database)
    who = _actor(channel, actor)
    data: dict[str, Any] = {"statement": ANONYMOUS_STATEMENT}
    counted: list[int] = []
    with _audited(store, db, "export", channel, who, counted):
        subject = subject.resolve(store, db)
        for table in TABLES:
            sql, parameters = _select("*", subject, table, db)
            columns, rows = store.query(sql + " ORDER BY ts", parameters)
            data[table] = [
                {c: _jsonable(v) for c, v in zip(columns, row, strict=True)} for row in rows
            ]
            counted.append(len(rows))
    return data


def erase(
    store: Store, database: str, subject: Subject, channel: Channel, actor: str | None = None
) -> dict[str, int]:
    """Remove every row about ``subject`` physically, rebuild the rollup days that counted
    it, and record the erasure (``actor``: who asked, as for ``export``); return the rows
    removed per table. When no row matches nothing is changed; the request is recorded
    all the same (but a self-service one)."""
    db = check_identifier(database)
    who = _actor(channel, actor)
    counted: list[int] = []
    with _audited(store, db, "erase", channel, who, counted):
        removed = _erase(store, db, subject, counted)
    if any(removed.values()):
        log.info("subject_erased", channel=channel, actor=who, rows=sum(removed.values()))
    return removed


def _erase(store: Store, db: str, subject: Subject, counted: list[int]) -> dict[str, int]:
    """The erasure itself; ``counted`` gets the rows matched as soon as they are known."""
    subject = subject.resolve(store, db)
    removed: dict[str, int] = {}
    for table in TABLES:
        _, [(count,)] = store.query(*_select("count()", subject, table, db))
        removed[table] = int(count)
    if not any(removed.values()):
        return removed
    counted.append(sum(removed.values()))
    _, day_rows = store.query(*_select("DISTINCT toDate(ts)", subject, "page_requests", db))
    statements = dict(zip(TABLES, erase_statements(db, subject), strict=True))
    for table in TABLES:
        if removed[table]:
            store.command(
                statements[table], settings={"mutations_sync": 2}, parameters=subject.parameters
            )
    rolled = _rolled_days(store, db)
    for (day,) in day_rows:
        if day in rolled:
            rebuild_day(store, db, day)
    return removed


def erase_statements(database: str, subject: Subject, cluster: str | None = None) -> list[str]:
    """The statements that remove ``subject``'s rows, one per table (``{vids:Array(String)}``
    and ``{cid:String}`` are query parameters; the names are checked and spliced, as
    ``ON CLUSTER`` takes no parameter). A mutation rewrites the parts that hold the rows,
    so they are gone from disk when it returns — a lightweight DELETE only masks them. On
    a cluster the mutation runs on every replica's local table."""
    db = check_identifier(database)
    if cluster is None:
        return [
            f"ALTER TABLE {db}.{table} DELETE WHERE {subject.condition(table)}" for table in TABLES
        ]
    check_identifier(cluster, "cluster name")
    return [
        f"ALTER TABLE {db}.{table}_local ON CLUSTER {cluster} "
        f"DELETE WHERE {subject.condition(table)}"
        for table in TABLES
    ]


def erasure_record(policy_revision: int) -> ConsentRecord:
    """The consent-records row that proves an erasure happened (no identifier in it)."""
    return ConsentRecord(time.time(), "", "erase", (), policy_revision, "banner", "", "", "")


def _rolled_days(store: Store, db: str) -> set[datetime.date]:
    _, rows = store.query(_ROLLED_DAYS, {"db": db})
    return {r[0] for r in rows}


def _audit(
    store: Store, db: str, request: str, channel: Channel, actor: str, rows: int, outcome: Outcome
) -> None:
    store.insert(
        f"{db}.subject_requests",
        [[int(time.time() * 1000)], [request], [channel], [actor], [rows], [outcome]],
        ["ts", "request", "channel", "actor", "rows", "outcome"],
        dedup_token=uuid.uuid4().hex,
    )
