"""Benchmark: ``my-data`` (the export of one visitor's rows) over 10 M page requests, with
and without the ``subject_ids`` data-skipping index of migration 4.

ClickHouse generates the data twice, identically (``INSERT … SELECT … FROM numbers(N)``):
page requests over 30 days, 60 % of them from 400,000 consented visitors whose ids look
like the server's (22 url-safe characters, as ``secrets.token_urlsafe(16)``), and one
consent record per visitor. One database has every migration, the other stops before
migration 4. The export of one random visitor (``privacy.subject.export``, what
``GET /_consent/my-data`` runs) is then timed alternately on both; the figure is p50.

    python -m benchmarks.mydata [--rows 10000000] [--runs 7]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time

from consentlog.privacy.subject import Subject, export
from consentlog.store import Store, open_store
from consentlog.store.schema import MIGRATIONS, bootstrap, migrate, render

VISITORS = 400_000
# a visitor id as the server mints it: 22 url-safe characters from 16 random bytes
VISITOR_ID = (
    "left(replaceAll(replaceAll(base64Encode(reinterpretAsString(sipHash128({n}))),"
    " '+', '-'), '/', '_'), 22)"
)

PAGES_SQL = """
INSERT INTO {db}.page_requests (ts, pageview_id, host, path, route, method, status,
    consent_state, visitor_id, session_id, ip_prefix)
SELECT
    toDateTime64('2026-10-01', 3, 'UTC') + toIntervalMillisecond(number * {step_ms}) AS ts,
    generateUUIDv4(number), 'example.org',
    concat('/docs/page-', toString(number % 300)), '/docs/{{slug}}', 'GET', 200,
    if(number % 10 < 6, 'granted', 'unknown') AS consent_state,
    if(consent_state = 'granted', {vid}, ''),
    if(consent_state = 'granted', concat('s', toString(intDiv(number, 5))), ''),
    if(consent_state = 'granted', '203.0.113.0/24', '')
FROM numbers({rows})
"""

CONSENTS_SQL = """
INSERT INTO {db}.consent_records (ts, consent_id, action, policy_revision, source,
    visitor_id)
SELECT toDateTime64('2026-10-01', 3, 'UTC'), concat('c', toString(number)), 'accept_all',
       1, 'banner', {vid}
FROM numbers({visitors})
"""


def populate(store: Store, db: str, rows: int, *, indexed: bool) -> None:
    """Create ``db`` (with or without migration 4) and fill it."""
    if indexed:
        migrate(store, db)
    else:
        for statement in bootstrap(db):
            store.command(statement)
        for migration in MIGRATIONS:
            if migration.version < 4:
                for statement in render(migration, db):
                    store.command(statement)
    step_ms = 30 * 86_400_000 // rows
    # sessions of 5 page views, each by a random one of the visitors (~15 rows per
    # visitor, spread over the month and so over many granules)
    vid = VISITOR_ID.format(n=f"intHash32(intDiv(number, 5)) % {VISITORS}")
    store.command(PAGES_SQL.format(db=db, vid=vid, rows=rows, step_ms=max(step_ms, 1)))
    store.command(CONSENTS_SQL.format(db=db, vid=VISITOR_ID.format(n="number"), visitors=VISITORS))
    store.command(f"OPTIMIZE TABLE {db}.page_requests FINAL")


def timed_export(store: Store, db: str, visitor: int) -> tuple[float, int]:
    """Seconds for one visitor's export, and the rows it returned."""
    _, [(visitor_id,)] = store.query("SELECT " + VISITOR_ID.format(n=str(visitor)))
    subject = Subject((visitor_id,), f"c{visitor}")
    start = time.perf_counter()
    data = export(store, db, subject, "operator")
    elapsed = time.perf_counter() - start
    return elapsed, len(data["page_requests"]) + len(data["consent_records"])


def main(rows: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"chdb://{tmp}/store")
        started = time.perf_counter()
        populate(store, "plain", rows, indexed=False)
        populate(store, "indexed", rows, indexed=True)
        print(f"generated 2 × {rows:,} page requests in {time.perf_counter() - started:.0f} s")
        picker = random.Random(9)
        times: dict[str, list[float]] = {"plain": [], "indexed": []}
        for _ in range(runs):
            visitor = picker.randrange(VISITORS)
            for db in ("plain", "indexed"):
                elapsed, found = timed_export(store, db, visitor)
                times[db].append(elapsed)
            print(f"visitor {visitor}: {found} rows; " + ", ".join(
                f"{db} {t[-1] * 1000:.0f} ms" for db, t in times.items()
            ))  # fmt: skip
        plain, indexed = (statistics.median(times[db]) for db in ("plain", "indexed"))
        print(
            f"my-data export p50 over {runs} runs: without index {plain * 1000:.0f} ms, "
            f"with index {indexed * 1000:.0f} ms ({plain / indexed:.1f}× faster)"
        )
        store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=7)
    arguments = parser.parse_args()
    main(arguments.rows, arguments.runs)
