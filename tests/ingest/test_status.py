"""Each process that writes leaves its own figures; ``read_status`` shows them all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from consentlog.ingest.status import DIRECTORY, KEEP_GONE, StatusFile, prune, read_status
from consentlog.ingest.writer import Writer
from consentlog.store import Store


def _leave(directory: Path, pid: int, at: float, **figures: object) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{pid}.json"
    target.write_text(json.dumps({"at": at, "pid": pid, "host": os.uname().nodename, **figures}))
    return target


def _gone_pid() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(child.stdout)


def test_every_process_has_its_figures_and_a_gone_one_is_marked(tmp_path: Path) -> None:
    """Two processes' files are two writers; the one whose process ended reads as not running."""
    directory = tmp_path / DIRECTORY
    gone = _gone_pid()
    _leave(directory, os.getpid(), time.time(), queued=3)
    _leave(directory, gone, time.time() - 5, queued=7)
    found = read_status(tmp_path)
    assert [os.getpid(), gone] == [f["pid"] for f in found]
    assert [True, False] == [f["running"] for f in found]
    assert [3, 7] == [f["queued"] for f in found]


def test_figures_of_processes_gone_for_a_day_are_pruned(tmp_path: Path) -> None:
    """A gone process's file older than a day is removed; a live one's is kept however old."""
    directory = tmp_path / DIRECTORY
    old = time.time() - KEEP_GONE - 60
    stale = _leave(directory, _gone_pid(), old)
    mine = _leave(directory, os.getpid(), old)
    os.utime(stale, (old, old))
    os.utime(mine, (old, old))
    prune(directory)
    assert not stale.exists()
    assert mine.exists()


def test_damaged_files_are_skipped(tmp_path: Path) -> None:
    """A half-written or foreign file is not a writer."""
    directory = tmp_path / DIRECTORY
    directory.mkdir(parents=True)
    (directory / "1.json").write_text("{")
    (directory / "2.json").write_text('["not", "figures"]')
    assert [] == read_status(tmp_path)


def test_the_status_hook_makes_a_private_spool_directory(
    store: Store, database: str, tmp_path: Path
) -> None:
    """The first figures create the spool and status directories 0700: spool files will
    follow them there."""
    import stat

    spool = tmp_path / "spool"
    StatusFile()(Writer(store, database=database, spool_dir=spool))
    assert [0o700, 0o700] == [stat.S_IMODE(p.stat().st_mode) for p in (spool, spool / DIRECTORY)]
