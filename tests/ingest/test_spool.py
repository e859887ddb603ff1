"""The spool: batches survive on disk, replay in order, bad files are quarantined."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import structlog
from starlette.testclient import TestClient

from consentlog.ingest.events import ConsentRecord, PageRequest
from consentlog.ingest.spool import Batch, Spool, decode, encode
from consentlog.ingest.writer import Writer
from consentlog.store import Store
from tests.helpers import MakeApp, rows


def _page(path: str) -> PageRequest:
    return PageRequest(
        time.time(), uuid.uuid4().hex, "h", path, "", "GET", 200, 10, 1.0, "", "", "", "",
        "unknown", "", "", "",
    )  # fmt: skip


def _batch(*paths: str) -> Batch:
    consent = ConsentRecord(
        time.time(), "c1", "accept_all", ("analytics",), 1, "banner", "v", "", ""
    )
    return Batch(uuid.uuid4().hex, [_page(p) for p in paths], [consent])


def test_encode_decode_round_trip() -> None:
    """A batch reads back equal, tuples included."""
    batch = _batch("/a", "/b")
    assert batch == decode(encode(batch))


def test_files_replay_oldest_first(tmp_path: Path) -> None:
    """Files are listed in the order they were written."""
    spool = Spool(tmp_path)
    tokens = [spool.write(_batch(f"/{i}")).name.split("-", 1)[1] for i in range(20)]
    assert tokens == [p.name.split("-", 1)[1] for p in spool.files()]


def test_corrupt_and_truncated_files_are_quarantined(
    store: Store, database: str, tmp_path: Path, make_app: MakeApp
) -> None:
    """A truncated and a damaged file go to quarantine with one log line each; the rest
    replays in order into ClickHouse."""
    spool = Spool(tmp_path)
    good_first = spool.write(_batch("/first"))
    truncated = spool.write(_batch("/lost-1"))
    truncated.write_bytes(truncated.read_bytes()[:-40])
    damaged = spool.write(_batch("/lost-2"))
    data = bytearray(damaged.read_bytes())
    data[10] ^= 0x20
    damaged.write_bytes(bytes(data))
    spool.write(_batch("/last"))
    app = make_app(writer=Writer(store, database=database, spool_dir=tmp_path, flush_interval=0.02))
    with structlog.testing.capture_logs() as logs:
        TestClient(app).get("/docs/new")
        result = rows(app, "SELECT path FROM {db}.page_requests ORDER BY ts")
    assert ["/first", "/last", "/docs/new"] == [r["path"] for r in result]
    quarantined = [e for e in logs if e["event"] == "spool_file_quarantined"]
    assert 2 == len(quarantined)
    assert {truncated.name, damaged.name} == {Path(e["file"]).name for e in quarantined}
    assert 2 == spool.stats().quarantined
    assert good_first.exists() is False


def test_killed_writer_leftover_is_quarantined(store: Store, database: str, tmp_path: Path) -> None:
    """A `.tmp` file left by a killed process is moved aside when the writer starts."""
    (tmp_path / "00000000000000000001000-abc.tmp").write_bytes(b"{partial")
    writer = Writer(store, database=database, spool_dir=tmp_path, flush_interval=0.02)
    writer.start()
    assert writer.flush(5)
    writer.stop()
    assert 1 == writer.counters.quarantined
    assert (tmp_path / "quarantine" / "00000000000000000001000-abc.tmp").exists()
