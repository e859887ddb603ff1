"""The ClickHouse schema as versioned migrations.

Each migration is a list of statements with ``{db}`` and ``{ttl_months}`` placeholders.
``migrate`` applies the ones not yet recorded in ``{db}.schema_migrations``; it is
idempotent, so it runs every time a store opens. Column meanings: ``docs/schema.md``.
"""

from __future__ import annotations

import re
import time

from consentlog.store import Store

_RAW_SETTINGS = "SETTINGS non_replicated_deduplication_window = 10000"

MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (
        1,
        "page requests, engagements, consent records",
        (
            """
            CREATE TABLE IF NOT EXISTS {db}.page_requests (
                ts DateTime64(3, 'UTC'),
                pageview_id UUID,
                host LowCardinality(String),
                path String,
                route LowCardinality(String),
                method LowCardinality(String),
                status UInt16,
                response_bytes UInt64,
                duration_ms Float32,
                referrer_host LowCardinality(String),
                referrer_path String,
                utm_source LowCardinality(String),
                utm_medium LowCardinality(String),
                utm_campaign LowCardinality(String),
                browser LowCardinality(String),
                os LowCardinality(String),
                device LowCardinality(String),
                is_bot Bool,
                language LowCardinality(String),
                consent_state LowCardinality(String),
                visitor_id String,
                session_id String,
                ip_prefix String
            ) ENGINE = MergeTree
            PARTITION BY toYYYYMM(ts)
            ORDER BY (host, path, ts)
            TTL toDateTime(ts) + INTERVAL {ttl_months} MONTH DELETE
            """
            + _RAW_SETTINGS,
            """
            CREATE TABLE IF NOT EXISTS {db}.engagements (
                ts DateTime64(3, 'UTC'),
                pageview_id UUID,
                visitor_id String,
                session_id String,
                host LowCardinality(String),
                path String,
                engaged_ms UInt32,
                scroll_pct UInt8,
                useful Nullable(Bool)
            ) ENGINE = MergeTree
            PARTITION BY toYYYYMM(ts)
            ORDER BY (host, path, ts)
            TTL toDateTime(ts) + INTERVAL {ttl_months} MONTH DELETE
            """
            + _RAW_SETTINGS,
            """
            CREATE TABLE IF NOT EXISTS {db}.consent_records (
                ts DateTime64(3, 'UTC'),
                consent_id String,
                action LowCardinality(String),
                categories Array(LowCardinality(String)),
                policy_revision UInt32,
                source LowCardinality(String),
                visitor_id String,
                ip_prefix String,
                browser LowCardinality(String)
            ) ENGINE = MergeTree
            PARTITION BY toYYYYMM(ts)
            ORDER BY (consent_id, ts)
            """
            + _RAW_SETTINGS,
        ),
    ),
)

LATEST = MIGRATIONS[-1][0]
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_database_name(database: str) -> str:
    """``database`` if it is a plain identifier (it is spliced into DDL), else ValueError."""
    if not _IDENTIFIER.match(database):
        raise ValueError(f"database name {database!r} must be a plain identifier")
    return database


def migrate(store: Store, database: str, *, ttl_months: int = 25) -> list[int]:
    """Apply pending migrations; return the versions applied now."""
    db = check_database_name(database)
    store.command(f"CREATE DATABASE IF NOT EXISTS {db}")
    store.command(
        f"CREATE TABLE IF NOT EXISTS {db}.schema_migrations "
        "(version UInt32, description String, applied_at DateTime64(3, 'UTC')) "
        "ENGINE = MergeTree ORDER BY version"
    )
    _, rows = store.query(f"SELECT version FROM {db}.schema_migrations")
    done = {int(r[0]) for r in rows}
    applied: list[int] = []
    for version, description, statements in MIGRATIONS:
        if version in done:
            continue
        for statement in statements:
            store.command(statement.format(db=db, ttl_months=ttl_months))
        store.insert(
            f"{db}.schema_migrations",
            [[version], [description], [int(time.time() * 1000)]],
            ["version", "description", "applied_at"],
            dedup_token=f"migration-{version}",
        )
        applied.append(version)
    return applied


def schema_version(store: Store, database: str) -> int:
    """The newest applied migration, 0 when none."""
    db = check_database_name(database)
    _, rows = store.query(
        f"SELECT max(version) FROM {db}.schema_migrations"
        if _has_table(store, db, "schema_migrations")
        else "SELECT 0"
    )
    return int(rows[0][0]) if rows else 0


def _has_table(store: Store, db: str, table: str) -> bool:
    _, rows = store.query(
        "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {t:String}",
        {"db": db, "t": table},
    )
    return bool(rows[0][0])
