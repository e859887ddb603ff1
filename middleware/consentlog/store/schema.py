"""The ClickHouse schema as versioned migrations.

A migration is a list of steps: a ``Table`` (rendered as a ``MergeTree`` table on one
node, or as ``ReplicatedMergeTree`` local tables plus a ``Distributed`` table ``ON
CLUSTER``) or a raw statement with ``{db}``, ``{on_cluster}`` and ``{local}`` (``_local``
on a cluster) placeholders.
``migrate`` applies the versions not yet recorded in ``{db}.schema_migrations``; it is
idempotent, so it runs every time the writer first reaches a store. Column meanings are
in ``docs/schema.md``.

DDL is text with its names spliced in (``ON CLUSTER`` and ``Distributed(…)`` take no
query parameters, and ``consentlog migrate --dry-run`` prints it), every name checked by
``identifiers.check_identifier``; the queries bind the database as ``{db:Identifier}``.
"""

from __future__ import annotations

import textwrap
import time
from dataclasses import dataclass

from consentlog.store import Store
from consentlog.store.identifiers import check_identifier as check_identifier  # re-exported

DEDUP_WINDOW = 10_000  # recent insert tokens a table remembers, so a retried batch is written once


@dataclass(frozen=True, slots=True)
class Table:
    """A raw-event table: monthly partitions, TTL retention, insert deduplication."""

    name: str
    columns: str
    order_by: str
    ttl_column: str | None = "ts"
    engine: str = "MergeTree"  # or AggregatingMergeTree, ReplacingMergeTree…
    partition_by: str = "toYYYYMM(ts)"


Step = Table | str


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema version."""

    version: int
    description: str
    steps: tuple[Step, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "page requests, engagements, consent records",
        (
            Table(
                "page_requests",
                """
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
                """,
                order_by="(host, path, ts)",
            ),
            Table(
                "engagements",
                """
                ts DateTime64(3, 'UTC'),
                pageview_id UUID,
                visitor_id String,
                session_id String,
                host LowCardinality(String),
                path String,
                engaged_ms UInt32,
                scroll_pct UInt8,
                useful Nullable(Bool)
                """,
                order_by="(host, path, ts)",
            ),
            Table(
                "consent_records",
                """
                ts DateTime64(3, 'UTC'),
                consent_id String,
                action LowCardinality(String),
                categories Array(LowCardinality(String)),
                policy_revision UInt32,
                source LowCardinality(String),
                visitor_id String,
                ip_prefix String,
                browser LowCardinality(String)
                """,
                order_by="(consent_id, ts)",
                ttl_column=None,  # the proof of consent is kept as long as the site needs it
            ),
        ),
    ),
)

_SUM = "SimpleAggregateFunction(sum, UInt64)"

MIGRATIONS += (
    Migration(
        2,
        "page_daily rollup of page metrics, rollup_days",
        (
            Table(
                "page_daily",
                f"""
                day Date,
                host LowCardinality(String),
                path String,
                views {_SUM},
                bot_views {_SUM},
                anonymous_views {_SUM},
                not_found {_SUM},
                server_errors {_SUM},
                visitors AggregateFunction(uniqCombined64If(12), String, UInt8),
                consented_views {_SUM},
                sessions {_SUM},
                entries {_SUM},
                bounces {_SUM},
                exits {_SUM},
                onward_views {_SUM},
                engaged_views {_SUM},
                engaged_ms AggregateFunction(quantileExactWeightedIf(0.5), UInt32, UInt8, UInt8),
                scroll_sum {_SUM},
                deep_reads {_SUM},
                votes_yes {_SUM},
                votes_no {_SUM}
                """,
                order_by="(host, path, day)",
                ttl_column=None,
                engine="AggregatingMergeTree",
                partition_by="toYYYYMM(day)",
            ),
            Table(
                "rollup_days",
                "day Date, rolled_at DateTime64(3, 'UTC')",
                order_by="day",
                ttl_column=None,
                engine="ReplacingMergeTree(rolled_at)",
                partition_by="tuple()",
            ),
        ),
    ),
)

MIGRATIONS += (
    Migration(
        3,
        "subject_requests: an audit row per data-subject request",
        (
            Table(
                "subject_requests",
                """
                ts DateTime64(3, 'UTC'),
                request LowCardinality(String),
                channel LowCardinality(String),
                rows UInt64
                """,
                order_by="ts",
                ttl_column=None,
            ),
        ),
    ),
)

# Data-subject requests look rows up by visitor id (and consent records by consent id too,
# in one OR), which no ORDER BY holds: a bloom filter per granule lets the lookup skip the
# granules that cannot hold the id instead of reading whole tables. One index over both
# columns of consent_records, as an index only skips a granule when it can rule out every
# branch of the OR. MATERIALIZE builds it for the rows already stored (a background mutation).
_ID_INDEXES = (
    ("page_requests", "visitor_id"),
    ("engagements", "visitor_id"),
    ("consent_records", "(visitor_id, consent_id)"),
)
MIGRATIONS += (
    Migration(
        4,
        "data-skipping indexes on visitor_id (and consent_id) for data-subject requests",
        tuple(
            statement
            for table, columns in _ID_INDEXES
            for statement in (
                f"ALTER TABLE {{db}}.{table}{{local}}{{on_cluster}} ADD INDEX IF NOT EXISTS"
                f" subject_ids {columns} TYPE bloom_filter(0.01) GRANULARITY 1",
                f"ALTER TABLE {{db}}.{table}{{local}}{{on_cluster}} MATERIALIZE INDEX subject_ids",
            )
        ),
    ),
)

MIGRATIONS += (
    Migration(
        5,
        "page_requests.consented_copy: the page on which a visitor accepted, now consented",
        (
            # the local tables (or the one table), then on a cluster the Distributed one
            "ALTER TABLE {db}.page_requests{local}{on_cluster}"
            " ADD COLUMN IF NOT EXISTS consented_copy Bool DEFAULT false",
            "ALTER TABLE {db}.page_requests{on_cluster}"
            " ADD COLUMN IF NOT EXISTS consented_copy Bool DEFAULT false",
        ),
    ),
)

MIGRATIONS += (
    Migration(
        6,
        "page_requests.country: the ISO 3166 country of every request",
        (
            "ALTER TABLE {db}.page_requests{local}{on_cluster}"
            " ADD COLUMN IF NOT EXISTS country LowCardinality(String) DEFAULT ''",
            "ALTER TABLE {db}.page_requests{on_cluster}"
            " ADD COLUMN IF NOT EXISTS country LowCardinality(String) DEFAULT ''",
        ),
    ),
)

_CAMPAIGN_COLUMNS = ("utm_term", "utm_content", "ref", "click_id", "channel")
MIGRATIONS += (
    Migration(
        7,
        "page_requests: utm_term, utm_content, ref, click_id (which ad click id came), channel",
        tuple(
            f"ALTER TABLE {{db}}.page_requests{table}{{on_cluster}}"
            f" ADD COLUMN IF NOT EXISTS {column} LowCardinality(String) DEFAULT ''"
            for table in ("{local}", "")
            for column in _CAMPAIGN_COLUMNS
        ),
    ),
)

MIGRATIONS += (
    Migration(
        8,
        "goals: server goals, client goals and custom events",
        (
            Table(
                "goals",
                """
                ts DateTime64(3, 'UTC'),
                name LowCardinality(String),
                kind LowCardinality(String),
                host LowCardinality(String),
                path String,
                pageview_id String,
                method LowCardinality(String),
                status UInt16,
                consent_state LowCardinality(String),
                visitor_id String,
                session_id String,
                browser LowCardinality(String),
                is_bot Bool,
                props Map(LowCardinality(String), String)
                """,
                order_by="(name, ts)",
            ),
            "ALTER TABLE {db}.goals{local}{on_cluster} ADD INDEX IF NOT EXISTS"
            " subject_ids visitor_id TYPE bloom_filter(0.01) GRANULARITY 1",
        ),
    ),
)

MIGRATIONS += (
    Migration(
        9,
        "page_daily.goal_sessions (led to a goal), rollup_days.goals (late goals rebuild a day)",
        tuple(
            f"ALTER TABLE {{db}}.{table}{where}{{on_cluster}} ADD COLUMN IF NOT EXISTS {column}"
            for table, column in (
                ("page_daily", f"goal_sessions {_SUM}"),
                ("rollup_days", "goals UInt64 DEFAULT 0"),
            )
            for where in ("{local}", "")
        ),
    ),
)

MIGRATIONS += (
    Migration(
        10,
        "page_requests.bot_signal (why a request counts as a bot); browser_checks (the"
        " banner script ran on a page view: verified browser views)",
        (
            *(
                f"ALTER TABLE {{db}}.page_requests{table}{{on_cluster}} ADD COLUMN IF NOT EXISTS"
                " bot_signal LowCardinality(String) DEFAULT if(is_bot, 'agent', '')"
                for table in ("{local}", "")
            ),
            Table(
                "browser_checks",
                """
                ts DateTime64(3, 'UTC'),
                pageview_id UUID
                """,
                order_by="ts",
            ),
        ),
    ),
)

_VISITOR_COLUMNS = (
    # 0: a day rolled up before this version (the rollup job rebuilds it); 1: every hash
    # kept; 2: over 10,000 visitors, only the sample kept
    "visitor_kept UInt8 DEFAULT 0",
    # sipHash64 of the day's distinct visitor ids, ascending: from 2^61 up (none when
    # visitor_kept is 2), and below 2^61 (the sample)
    "visitor_hashes Array(UInt64)",
    "visitor_sample Array(UInt64)",
    "engaged_hist Array(UInt64)",  # engaged page views per whole second < 600
    "engaged_long Array(UInt32)",  # the seconds of each longer one, ascending
)
MIGRATIONS += (
    Migration(
        11,
        "page_daily: visitor hashes (exact visitors below 10,000), engaged-time histogram",
        tuple(
            # one ALTER per table: each costs ~50 ms on chDB, however many columns it adds
            f"ALTER TABLE {{db}}.page_daily{where}{{on_cluster}} "
            + ", ".join(f"ADD COLUMN IF NOT EXISTS {column}" for column in _VISITOR_COLUMNS)
            for where in ("{local}", "")
        ),
    ),
)

MIGRATIONS += (
    Migration(
        12,
        "subject_requests.actor (who acted: a dashboard user, 'cli', 'self-service') and"
        " .outcome ('done', or 'failed' part way)",
        tuple(
            f"ALTER TABLE {{db}}.subject_requests{table}{{on_cluster}} ADD COLUMN IF NOT EXISTS"
            f" {column}"
            for table in ("{local}", "")
            for column in (
                "actor LowCardinality(String) DEFAULT ''",
                "outcome LowCardinality(String) DEFAULT 'done'",
            )
        ),
    ),
)

_GAP_COLUMNS = (
    # the day's consented visitors by the days since their previous view of the page
    # (visitor_gaps, ascending; 0: none within visitor_lookback days) and how many had
    # each (visitor_gap_counts): a range's exact visitors without their hashes
    "visitor_gaps Array(UInt16)",
    "visitor_gap_counts Array(UInt64)",
    # the days the rollup looked back for previous views (-1: rolled up before this
    # version, no gaps; the rollup job rebuilds such a day while its raw rows last)
    "visitor_lookback Int16 DEFAULT -1",
)
MIGRATIONS += (
    Migration(
        13,
        "page_daily: visitors by the days since their previous view (a range's visitors"
        " counted exactly from the rollup alone)",
        tuple(
            f"ALTER TABLE {{db}}.page_daily{where}{{on_cluster}} "
            + ", ".join(f"ADD COLUMN IF NOT EXISTS {column}" for column in _GAP_COLUMNS)
            for where in ("{local}", "")
        ),
    ),
)

MIGRATIONS += (
    Migration(
        14,
        "banner_revisions: the exact texts and settings of each banner shown, by content"
        " hash; consent_records.banner_revision: the one each decision was made on",
        (
            Table(
                "banner_revisions",
                """
                revision String,
                first_seen DateTime64(3, 'UTC'),
                policy_revision UInt32,
                language LowCardinality(String),
                content String
                """,
                order_by="revision",
                ttl_column=None,  # the proof of what was shown is kept with the records
                engine="ReplacingMergeTree",
                partition_by="tuple()",
            ),
            *(
                f"ALTER TABLE {{db}}.consent_records{where}{{on_cluster}} "
                "ADD COLUMN IF NOT EXISTS banner_revision String DEFAULT ''"
                for where in ("{local}", "")
            ),
        ),
    ),
)

LATEST = MIGRATIONS[-1].version
# what ingest writes
RAW_TABLES = ("page_requests", "engagements", "consent_records", "goals", "browser_checks")

_APPLIED = "SELECT version FROM {db:Identifier}.schema_migrations"
_HAS_MIGRATIONS = (
    "SELECT count() FROM system.tables WHERE database = {db:String} AND name = 'schema_migrations'"
)
_NEWEST = "SELECT max(version) FROM {db:Identifier}.schema_migrations"
_ROW_COUNT = "SELECT count() FROM {db:Identifier}.{table:Identifier}"


def render_table(table: Table, db: str, *, ttl_months: int, cluster: str | None) -> list[str]:
    """The DDL of ``table``: one MergeTree table, or replicated local tables plus a
    Distributed table on ``cluster``."""
    check_identifier(table.name, "table name")
    ttl = (
        f"TTL toDateTime({table.ttl_column}) + INTERVAL {ttl_months} MONTH DELETE\n"
        if table.ttl_column
        else ""
    )
    body = "(\n" + textwrap.indent(textwrap.dedent(table.columns).strip(), "    ") + "\n)"
    layout = f"PARTITION BY {table.partition_by}\nORDER BY {table.order_by}\n{ttl}"
    if cluster is None:
        return [
            f"CREATE TABLE IF NOT EXISTS {db}.{table.name} {body}\n"
            f"ENGINE = {table.engine}\n{layout}"
            f"SETTINGS non_replicated_deduplication_window = {DEDUP_WINDOW}"
        ]
    local = f"{table.name}_local"
    engine, _, engine_args = table.engine.partition("(")
    replication = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"
    extra = f", {engine_args.rstrip(')')}" if engine_args.rstrip(")") else ""
    return [
        f"CREATE TABLE IF NOT EXISTS {db}.{local} ON CLUSTER {cluster} {body}\n"
        f"ENGINE = Replicated{engine}({replication}{extra})\n"
        f"{layout}SETTINGS replicated_deduplication_window = {DEDUP_WINDOW}",
        f"CREATE TABLE IF NOT EXISTS {db}.{table.name} ON CLUSTER {cluster} "
        f"AS {db}.{local}\nENGINE = Distributed({cluster}, {db}, {local}, rand())",
    ]


def render(
    migration: Migration, database: str, *, ttl_months: int = 25, cluster: str | None = None
) -> list[str]:
    """Every statement of ``migration``, ready to run."""
    db = check_identifier(database)
    if cluster is not None:
        check_identifier(cluster, "cluster name")
    on_cluster = f" ON CLUSTER {cluster}" if cluster else ""
    statements: list[str] = []
    for step in migration.steps:
        if isinstance(step, Table):
            statements += render_table(step, db, ttl_months=ttl_months, cluster=cluster)
        else:
            # on a cluster, ALTERs reach the replicated local tables (a Distributed table
            # has no parts to index)
            local = "_local" if cluster else ""
            statements.append(step.format(db=db, on_cluster=on_cluster, local=local))
    return statements


def bootstrap(database: str, cluster: str | None = None) -> list[str]:
    """The database and the table that records applied versions."""
    db = check_identifier(database)
    on_cluster = f" ON CLUSTER {check_identifier(cluster, 'cluster name')}" if cluster else ""
    engine = (
        "ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')"
        if cluster
        else "MergeTree"
    )
    return [
        f"CREATE DATABASE IF NOT EXISTS {db}{on_cluster}",
        f"CREATE TABLE IF NOT EXISTS {db}.schema_migrations{on_cluster} "
        "(version UInt32, description String, applied_at DateTime64(3, 'UTC')) "
        f"ENGINE = {engine} ORDER BY version",
    ]


def migrate(
    store: Store, database: str, *, ttl_months: int = 25, cluster: str | None = None
) -> list[int]:
    """Apply pending migrations; return the versions applied now."""
    for statement in bootstrap(database, cluster):
        store.command(statement)
    db = check_identifier(database)
    _, rows = store.query(_APPLIED, {"db": db})
    done = {int(r[0]) for r in rows}
    applied: list[int] = []
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        for statement in render(migration, db, ttl_months=ttl_months, cluster=cluster):
            store.command(statement)
        store.insert(
            f"{db}.schema_migrations",
            [[migration.version], [migration.description], [int(time.time() * 1000)]],
            ["version", "description", "applied_at"],
            dedup_token=f"migration-{migration.version}",
        )
        applied.append(migration.version)
    return applied


def schema_version(store: Store, database: str) -> int:
    """The newest applied migration, 0 when none."""
    db = check_identifier(database)
    _, rows = store.query(_HAS_MIGRATIONS, {"db": db})
    if not rows[0][0]:
        return 0
    _, rows = store.query(_NEWEST, {"db": db})
    return int(rows[0][0])


def row_counts(store: Store, database: str) -> dict[str, int]:
    """The rows in each raw table (``RAW_TABLES``), for ``consentlog status``."""
    db = check_identifier(database)
    counts: dict[str, int] = {}
    for table in RAW_TABLES:
        _, [(count,)] = store.query(_ROW_COUNT, {"db": db, "table": table})
        counts[table] = int(count)
    return counts
