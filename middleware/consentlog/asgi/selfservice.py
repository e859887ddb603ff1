"""``GET /_consent/my-data`` and ``POST /_consent/forget``: the visitor's own data.

The visitor is identified only by their own cookies — the HttpOnly visitor id and the
signed consent cookie's id — never by an id in a parameter. Cross-site requests are
refused before these run, and no CORS header is ever sent, so another site can neither
trigger them nor read the answer. The work waits on ClickHouse, so it runs on a worker
thread, after the writer has flushed what is still queued.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from consentlog.asgi.core import ConsentCore
from consentlog.consent.visit import Visit
from consentlog.privacy.subject import TABLES, Subject, erase, erasure_record, export

PRIVATE = {"cache-control": "no-store", "x-content-type-options": "nosniff"}


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
    """Every stored row about this browser's visitor, as JSON."""
    subject = subject_of(visit, core)
    store, database = core.store, core.settings.database

    def collect() -> dict[str, object]:
        if subject is None:
            empty: dict[str, object] = {"statement": _nothing_linked()}
            return empty | {table: [] for table in TABLES}
        core.sink.flush(10)
        return export(store, database, subject, "self-service")

    return JSONResponse(await run_in_threadpool(collect), headers=PRIVATE)


def _nothing_linked() -> str:
    return "This browser carries no identifier, so nothing stored is linked to it."


async def forget(visit: Visit, core: ConsentCore) -> dict[str, int]:
    """Erase this browser's visitor; return rows removed per table. The caller expires the
    cookies and answers."""
    subject = subject_of(visit, core)
    removed: dict[str, int] = {}
    if subject is not None:
        store, database = core.store, core.settings.database

        def run() -> dict[str, int]:
            core.sink.flush(10)
            return erase(store, database, subject, "self-service")

        removed = await run_in_threadpool(run)
    core.sink.submit(erasure_record(core.settings.policy_revision))
    return removed
