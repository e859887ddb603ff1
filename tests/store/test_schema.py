"""Schema migrations: applied on chDB, idempotent; cluster DDL parsed by ClickHouse itself."""

from __future__ import annotations

import time

import pytest

from consentlog.store import Store
from consentlog.store.schema import (
    LATEST,
    MIGRATIONS,
    bootstrap,
    migrate,
    render,
    row_counts,
    schema_version,
)


def test_migrate_creates_tables_once(store: Store, database: str) -> None:
    """The first run applies every version; the second applies nothing."""
    assert 0 == schema_version(store, database)
    assert [m.version for m in MIGRATIONS] == migrate(store, database, ttl_months=13)
    assert [] == migrate(store, database, ttl_months=13)
    assert LATEST == schema_version(store, database)
    _, tables = store.query(
        "SELECT name FROM system.tables WHERE database = {db:String} ORDER BY name",
        {"db": database},
    )
    assert [
        "banner_revisions",
        "browser_checks",
        "consent_records",
        "engagements",
        "goals",
        "page_daily",
        "page_requests",
        "rollup_days",
        "schema_migrations",
        "subject_requests",
    ] == [t[0] for t in tables]


def test_raw_tables_have_partitions_ttl_and_dedup_window(store: Store, database: str) -> None:
    """page_requests: monthly partitions, the configured TTL, a deduplication window."""
    migrate(store, database, ttl_months=13)
    _, [(ddl,)] = store.query(f"SHOW CREATE TABLE {database}.page_requests")
    assert "PARTITION BY toYYYYMM(ts)" in ddl
    assert "ORDER BY (host, path, ts)" in ddl
    assert "toIntervalMonth(13)" in ddl
    assert "non_replicated_deduplication_window = 10000" in ddl
    _, [(consent_ddl,)] = store.query(f"SHOW CREATE TABLE {database}.consent_records")
    assert "TTL" not in consent_ddl, "the proof of consent has no TTL"


def test_cluster_ddl_is_valid_clickhouse(store: Store) -> None:
    """`--cluster` DDL parses in ClickHouse (EXPLAIN AST) and has the cluster's shape."""
    statements = bootstrap("consentlog", "prod") + render(
        MIGRATIONS[0], "consentlog", cluster="prod"
    )
    for statement in statements:
        _, ast = store.query("EXPLAIN AST " + statement)
        assert ast[0][0].startswith("CreateQuery"), statement
        assert "ON CLUSTER prod" in statement
    local = [s for s in statements if "_local ON CLUSTER" in s]
    distributed = [s for s in statements if "ENGINE = Distributed(" in s]
    assert 3 == len(local) == len(distributed)
    assert all("ReplicatedMergeTree('/clickhouse/tables/{shard}" in s for s in local)
    assert "Distributed(prod, consentlog, page_requests_local, rand())" in "".join(distributed)


@pytest.mark.parametrize("bad", ["prod; DROP TABLE x", "a-b", ""])
def test_identifiers_are_validated(bad: str) -> None:
    """Database and cluster names are spliced into DDL, so only identifiers pass."""
    with pytest.raises(ValueError, match="plain identifier"):
        render(MIGRATIONS[0], "consentlog", cluster=bad)
    with pytest.raises(ValueError, match="plain identifier"):
        render(MIGRATIONS[0], bad or "1x")


def test_row_counts_count_each_raw_table(store: Store, database: str) -> None:
    """row_counts gives the rows of each table ingest writes."""
    migrate(store, database)
    store.command(
        "INSERT INTO {db:Identifier}.page_requests (ts, host, path) "
        "VALUES (now64(3), 'example.org', '/a'), (now64(3), 'example.org', '/b')",
        parameters={"db": database},
    )
    expected = {"page_requests": 2, "engagements": 0, "consent_records": 0, "goals": 0,
                "browser_checks": 0}  # fmt: skip
    assert expected == row_counts(store, database)


def _explain_skip_index(store: Store, database: str, table: str, condition: str) -> str:
    _, plan = store.query(
        f"EXPLAIN indexes = 1 SELECT * FROM {database}.{table} WHERE {condition}",
        {"vids": ["v-nobody"], "cid": "c-nobody"},
    )
    return "\n".join(r[0] for r in plan)


def test_subject_lookups_skip_granules_by_index(store: Store, database: str) -> None:
    """A visitor-id (or consent-id) lookup reads only the granules the bloom filter allows."""
    from consentlog.privacy.subject import Subject

    migrate(store, database)
    store.command(
        f"INSERT INTO {database}.page_requests (ts, visitor_id, path) SELECT "
        "now64(3) - number, hex(sipHash64(number)), '/' FROM numbers(100000)"
    )
    store.command(
        f"INSERT INTO {database}.consent_records (ts, consent_id, visitor_id) SELECT "
        "now64(3) - number, hex(sipHash64(number + 1)), hex(sipHash64(number)) "
        "FROM numbers(100000)"
    )
    subject = Subject(("v-nobody",), "c-nobody")
    for table in ("page_requests", "consent_records"):
        plan = _explain_skip_index(store, database, table, subject.condition(table))
        assert "Name: subject_ids" in plan, plan
        granules = plan.split("Name: subject_ids", 1)[1].split("Granules: ", 1)[1].split()[0]
        kept, total = (int(n) for n in granules.split("/"))
        assert kept < total / 10, plan


def _wait_for_mutations(store: Store, database: str) -> None:
    """MATERIALIZE INDEX is a background mutation: wait until it is done."""
    for _ in range(200):
        _, [(running,)] = store.query(
            "SELECT count() FROM system.mutations WHERE database = {db:String} AND NOT is_done",
            {"db": database},
        )
        if not running:
            return
        time.sleep(0.05)
    raise AssertionError("the index mutation did not finish")


def test_index_migration_reaches_existing_tables(store: Store, database: str) -> None:
    """Tables created before version 4 get the index, and their stored rows are indexed."""
    for migration in MIGRATIONS[:3]:
        for statement in bootstrap(database) + render(migration, database):
            store.command(statement)
    store.command(
        f"INSERT INTO {database}.page_requests (ts, visitor_id) SELECT "
        "now64(3), hex(sipHash64(number)) FROM numbers(50000)"
    )
    store.command(f"INSERT INTO {database}.schema_migrations (version) VALUES (1), (2), (3)")
    assert [m.version for m in MIGRATIONS if m.version >= 4] == migrate(store, database)
    _wait_for_mutations(store, database)
    _, [(indexed,)] = store.query(
        "SELECT sum(secondary_indices_uncompressed_bytes) FROM system.parts "
        "WHERE database = {db:String} AND table = 'page_requests' AND active",
        {"db": database},
    )
    assert 0 < indexed


def test_cluster_index_ddl_reaches_local_tables(store: Store) -> None:
    """On a cluster the index statements alter the replicated local tables ON CLUSTER."""
    [migration] = [m for m in MIGRATIONS if m.version == 4]
    statements = render(migration, "consentlog", cluster="prod")
    assert 6 == len(statements)
    for statement in statements:
        assert "_local ON CLUSTER prod" in statement
        _, ast = store.query("EXPLAIN AST " + statement)
        assert ast[0][0].startswith("AlterQuery"), statement


def test_the_copy_column_reaches_existing_rows(store: Store, database: str) -> None:
    """Rows stored before version 5 read as no consented copy."""
    for migration in MIGRATIONS[:4]:
        for statement in bootstrap(database) + render(migration, database):
            store.command(statement)
    store.command(f"INSERT INTO {database}.page_requests (ts, path) VALUES (now64(3), '/a')")
    store.command(f"INSERT INTO {database}.schema_migrations (version) VALUES (1), (2), (3), (4)")
    assert 5 in migrate(store, database)
    _, found = store.query(f"SELECT path, consented_copy FROM {database}.page_requests")
    assert [("/a", False)] == [tuple(row) for row in found]


def test_cluster_copy_column_ddl_reaches_every_table(store: Store) -> None:
    """On a cluster the new column goes to the replicated local tables and to the
    Distributed table in front of them, ON CLUSTER."""
    [migration] = [m for m in MIGRATIONS if m.version == 5]
    local, distributed = render(migration, "consentlog", cluster="prod")
    assert "consentlog.page_requests_local ON CLUSTER prod ADD COLUMN" in local
    assert "consentlog.page_requests ON CLUSTER prod ADD COLUMN" in distributed
    for statement in (local, distributed):
        _, ast = store.query("EXPLAIN AST " + statement)
        assert ast[0][0].startswith("AlterQuery"), statement
