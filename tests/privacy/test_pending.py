"""Kept erasures: durable files of identifiers only, carried out by the writer, then gone."""

from __future__ import annotations

import json
from pathlib import Path

from consentlog.ingest.writer import Writer
from consentlog.privacy.pending import ErasureHook, PendingErasures, pending_for
from consentlog.privacy.subject import Subject
from consentlog.store import Store
from consentlog.store.schema import migrate


def test_a_kept_request_holds_only_the_identifiers(tmp_path: Path) -> None:
    """The file names the ids to erase and when, nothing else, and reads back the same."""
    pending = PendingErasures(tmp_path / "erasures")
    path = pending.keep(Subject(("v1", "v2"), "c1"))
    assert [path] == pending.files()
    assert {"visitor_ids", "consent_id", "requested_at"} == set(json.loads(path.read_text()))
    subject, _ = pending.read(path)
    assert Subject(("v1", "v2"), "c1") == subject
    assert [] == list(path.parent.glob("*.tmp"))


def test_the_hook_carries_out_requests_and_drops_unreadable_ones(
    store: Store, database: str, tmp_path: Path
) -> None:
    """Run on an idle writer, the hook erases each kept subject and deletes every file,
    an unreadable one included; with nothing found it stores no erase record."""
    migrate(store, database)
    writer = Writer(store, database=database, spool_dir=tmp_path / "spool")
    pending = pending_for(writer)
    pending.keep(Subject(("nobody",), ""))
    (pending.directory / "00000000000000000000-broken.erasure").write_text("{not json")
    ErasureHook(policy_revision=1)(writer)
    assert [] == pending.files()
    assert 0 == writer.status()["queue_length"]
    writer.stop()
