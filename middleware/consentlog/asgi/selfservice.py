"""``GET /_consent/my-data`` and ``POST /_consent/forget``: the visitor's own data.

The visitor is identified only by their own cookies — the HttpOnly visitor id and the
signed consent cookie's id — never by an id in a parameter. Cross-site requests are
refused before these run, and no CORS header is ever sent, so another site can neither
trigger them nor read the answer. The work waits on ClickHouse, so it runs on a worker
thread, after the writer has flushed what is still queued — for ``STORE_WAIT`` seconds at
most. When the store does not answer in time, my-data is a JSON 503 naming the problem,
and an erasure is kept on disk (``privacy.pending``) and carried out by the writer when
the store is back; the visitor is told so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

import anyio
import anyio.to_thread
import structlog
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from consentlog.asgi.core import ConsentCore
from consentlog.consent.visit import Visit
from consentlog.exceptions import first_line
from consentlog.ingest.redact import store_error
from consentlog.ingest.spool import default_spool_dir
from consentlog.ingest.writer import Writer
from consentlog.privacy.pending import ErasureHook, PendingErasures, pending_for
from consentlog.privacy.subject import TABLES, Subject, erase, erasure_record, export

log = structlog.get_logger("consentlog.asgi.selfservice")
T = TypeVar("T")

PRIVATE = {"cache-control": "no-store", "x-content-type-options": "nosniff"}
FLUSH_WAIT = 2.0  # s for the visitor's queued events to reach the tables first
STORE_WAIT = 4.0  # s a visitor waits on the store at most, flush included
RETRY_AFTER = 60  # s, said to a visitor when the store does not answer


@dataclass(frozen=True, slots=True)
class Erasure:
    """What came of an erasure request: carried out (rows removed per table), kept on
    disk until the store is back, or neither."""

    state: Literal["done", "pending", "failed"]
    removed: dict[str, int] = field(default_factory=dict)


def subject_of(visit: Visit, core: ConsentCore) -> Subject | None:
    """The data subject this browser proves to be, or None unless it carries both a
    consent cookie that verified and the HttpOnly visitor id issued together with it: a
    copied consent cookie alone, or a visitor id alone, opens nothing."""
    visitor_id = visit.proven_ids(core.settings).visitor_id
    consent_id = visit.cookie.previous_id
    if not (visitor_id and consent_id):
        return None
    return Subject(visitor_ids=(visitor_id,), consent_id=consent_id)


async def my_data(visit: Visit, core: ConsentCore) -> Response:
    """Every stored row about this browser's visitor, as JSON; a JSON 503 naming the
    problem when the store does not answer within ``STORE_WAIT``."""
    subject = subject_of(visit, core)
    if subject is None:  # nothing can be linked: answered without asking the store
        empty: dict[str, object] = {"statement": core.texts_for(visit).nothing_linked}
        return JSONResponse(empty | {table: [] for table in TABLES}, headers=PRIVATE)
    store, database = core.store, core.settings.database

    def collect() -> dict[str, object] | None:
        if store_down(core):
            return None
        # rows still queued after FLUSH_WAIT are not stored yet: the export is of what is
        core.sink.flush(FLUSH_WAIT)
        return export(store, database, subject, "self-service")

    data = await _bounded(collect)
    if data is None:
        return JSONResponse(
            {"error": core.texts_for(visit).store_unavailable},
            status_code=503,
            headers={**PRIVATE, "retry-after": str(RETRY_AFTER)},
        )
    return JSONResponse(data, headers=PRIVATE)


async def forget(visit: Visit, core: ConsentCore) -> Erasure:
    """Erase this browser's visitor now, or keep the request for when the store is back.
    The caller expires the cookies and answers."""
    subject = subject_of(visit, core)
    if subject is None:
        return Erasure("done", {})  # nothing linked to this browser: nothing to record
    return await erase_or_keep(subject, core)


async def erase_or_keep(subject: Subject, core: ConsentCore) -> Erasure:
    """Erase ``subject`` within ``STORE_WAIT``, or else keep the request on disk, where
    the writer's ``ErasureHook`` carries it out when the store is back."""
    store, database = core.store, core.settings.database

    def run() -> dict[str, int] | None:
        if not _written(core):
            return None  # the visitor's last events are not in the tables yet
        if isinstance(core.sink, Writer):  # events still on disk go too, before the tables
            core.sink.spool.forget(subject.visitor_ids, subject.consent_id)
        removed = erase(store, database, subject, "self-service")
        if any(removed.values()):
            core.sink.submit(erasure_record(core.settings.policy_revision))
        return removed

    removed = await _bounded(run)
    if removed is not None:
        return Erasure("done", removed)
    return await keep(subject, core)


async def keep(subject: Subject, core: ConsentCore) -> Erasure:
    """Keep ``subject``'s erasure on disk for the writer to carry out."""
    try:
        await run_in_threadpool(pending_erasures(core).keep, subject)
    except OSError as exc:  # no store and no disk: the visitor is told to try again
        log.error("erasure_not_kept", error=first_line(exc))
        return Erasure("failed", {})
    if isinstance(core.sink, Writer):  # once only: attach skips a hook type it has
        core.sink.attach(ErasureHook(core.settings.policy_revision))
    log.info("erasure_pending")
    return Erasure("pending", {})


def pending_erasures(core: ConsentCore) -> PendingErasures:
    """Where this site keeps erasures the store could not carry out yet."""
    if isinstance(core.sink, Writer):
        return pending_for(core.sink)
    s = core.settings
    spool = (
        Path(s.spool_dir).resolve() if s.spool_dir else default_spool_dir(core.store, s.database)
    )
    return PendingErasures(spool / "erasures")


def store_down(core: ConsentCore) -> bool:
    """Whether the writer's last attempt failed and it is leaving the store alone."""
    return isinstance(core.sink, Writer) and core.sink.store_down


def _written(core: ConsentCore) -> bool:
    """Whether what is queued reached the tables within ``FLUSH_WAIT``. A store known to
    be down is not asked (a flush would cut the writer's backoff short)."""
    return not store_down(core) and core.sink.flush(FLUSH_WAIT)


async def _bounded(work: Callable[[], T]) -> T | None:
    """``work``'s result on a worker thread, or None if it fails or takes longer than
    ``STORE_WAIT`` (the thread is left to finish; what it does is safe to repeat)."""
    with anyio.move_on_after(STORE_WAIT):
        try:
            return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
        except Exception as exc:  # a visitor's request never fails because of storage
            log.warning("store_not_answering", error=store_error(exc))
            return None
    log.warning("store_not_answering", error=f"no answer within {STORE_WAIT} s")
    return None
