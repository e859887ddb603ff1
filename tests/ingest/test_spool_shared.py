"""Several processes share one spool directory: one replays at a time, none takes
another's half-written file, and a dead worker's batches are replayed by a live one."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from consentlog.ingest.events import PageRequest
from consentlog.ingest.spool import Batch, Spool
from consentlog.ingest.writer import Writer
from consentlog.store import Store


def _batch(visitor: str = "") -> Batch:
    page = PageRequest(
        time.time(), uuid.uuid4().hex, "h", "/p", "", "GET", 200, 10, 1.0, "", "", "", "",
        "granted", visitor, "", "",
    )  # fmt: skip
    return Batch(uuid.uuid4().hex, [page], [])


def _gone_pid() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return int(child.stdout)


def test_one_replayer_at_a_time(tmp_path: Path) -> None:
    """While one holder has the replay lock, a second is told no at once."""
    first, second = Spool(tmp_path), Spool(tmp_path)
    with first.replaying() as mine:
        assert mine
        with second.replaying() as theirs:
            assert not theirs
    with second.replaying() as theirs:
        assert theirs


def test_erasure_waits_for_a_replay_to_finish(tmp_path: Path) -> None:
    """``forget`` takes the lock too: it runs after the replay holding it, never beside it."""
    spool = Spool(tmp_path)
    spool.write(_batch("v1"))
    order: list[str] = []
    with spool.replaying() as mine:
        assert mine
        eraser = threading.Thread(target=lambda: order.append(f"forgot {spool.forget(['v1'])}"))
        eraser.start()
        time.sleep(0.2)
        order.append("replay done")
    eraser.join(5)
    assert ["replay done", "forgot 1"] == order
    assert [] == spool.files()


def test_only_a_dead_writers_temporary_file_is_abandoned(tmp_path: Path) -> None:
    """A live process's half-written file is left alone; a dead one's (or one without a
    pid, from an older version) is abandoned."""
    live = tmp_path / f"0001-a.batch.{os.getpid()}.tmp"
    dead = tmp_path / f"0002-b.batch.{_gone_pid()}.tmp"
    legacy = tmp_path / "0003-c.tmp"
    for path in (live, dead, legacy):
        path.write_bytes(b"{partial")
    assert {dead, legacy} == set(Spool(tmp_path).abandoned_writes())


def test_a_live_writer_replays_what_another_process_spooled(
    store: Store, database: str, tmp_path: Path
) -> None:
    """Batches another worker spooled (it has since stopped) are written by this writer, once."""
    other = Spool(tmp_path)
    for _ in range(3):
        other.write(_batch())
    writer = Writer(store, database=database, spool_dir=tmp_path, flush_interval=0.02)
    writer.start()
    try:
        assert writer.flush(10)
    finally:
        writer.stop()
    assert (["count()"], [(3,)]) == store.query(f"SELECT count() FROM {database}.page_requests")
    assert [] == other.files()


def test_spool_files_are_private(tmp_path: Path) -> None:
    """A spool directory is 0700 (even one that existed wider) and its files 0600: they
    hold visitors' ids and pages."""
    import stat

    directory = tmp_path / "spool"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    written = Spool(directory).write(_batch("v1"))
    assert 0o700 == stat.S_IMODE(directory.stat().st_mode)
    assert 0o600 == stat.S_IMODE(written.stat().st_mode)
