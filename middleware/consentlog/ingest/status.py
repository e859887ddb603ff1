"""The writers' figures on disk, where ``consentlog status`` reads them.

``StatusFile`` is a writer hook (``Writer(after_cycle=[StatusFile()])``): after every
cycle it replaces ``<spool directory>/status/<pid>.json`` with its writer's counters,
atomically (written aside, then renamed). Every process that writes — each worker of a
site — has its own file, so ``status`` shows them all; a file whose process is gone is
shown as such, and removed a day after it was last written. A file holds counts only —
no event, no identifier.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from consentlog.ingest.writer import Writer
from consentlog.store.ownership import running

DIRECTORY = "status"
KEEP_GONE = 24 * 3600.0  # seconds a gone process's figures stay


class StatusFile:
    """Leaves this process's latest writer figures in the spool directory."""

    def __init__(self) -> None:
        self._started = time.time()
        self._pruned = False

    def __call__(self, writer: Writer) -> None:
        """Write ``writer.status()`` with the time it was taken and who took it."""
        directory = writer.spool.directory / DIRECTORY
        pid = os.getpid()
        figures = {
            "at": time.time(),
            "pid": pid,
            "host": socket.gethostname(),
            "started": self._started,
            "store_role": getattr(writer.store, "role", "") or "server",
            **writer.status(),
        }
        try:
            writer.spool.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            directory.mkdir(exist_ok=True, mode=0o700)
            target = directory / f"{pid}.json"
            temporary = directory / f".{pid}.json.writing"
            temporary.write_text(json.dumps(figures))
            temporary.replace(target)
            if not self._pruned:
                self._pruned = True
                prune(directory)
        except OSError:
            pass  # figures are a convenience: a full disk must not cost events


def prune(directory: Path) -> None:
    """Remove the figures of processes gone for more than ``KEEP_GONE``."""
    cutoff = time.time() - KEEP_GONE
    for path in directory.glob("*.json"):
        with contextlib.suppress(OSError, ValueError):
            if path.stat().st_mtime < cutoff and not running(int(path.stem)):
                path.unlink()


def read_status(spool_directory: Path) -> list[dict[str, Any]]:
    """The figures every writer left in ``spool_directory``, newest first, each with
    ``running``: whether its process is still alive on this machine."""
    directory = spool_directory / DIRECTORY
    found: list[dict[str, Any]] = []
    if not directory.is_dir():
        return found
    here = socket.gethostname()
    for path in directory.glob("*.json"):
        try:
            figures = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # being replaced, or damaged: figures are a convenience
        if not isinstance(figures, dict) or not isinstance(figures.get("pid"), int):
            continue
        same_host = figures.get("host") == here
        figures["running"] = running(figures["pid"]) if same_host else None
        found.append(figures)
    return sorted(found, key=lambda f: -float(f.get("at", 0)))
