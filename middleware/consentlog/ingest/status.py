"""The writer's figures on disk, where ``consentlog status`` reads them.

``StatusFile`` is a writer hook (``Writer(after_cycle=[StatusFile()])``): after every
cycle it replaces ``<spool directory>/status.json`` with the writer's counters, atomically
(written aside, then renamed). The file holds counts only — no event, no identifier.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from consentlog.ingest.writer import Writer

FILE_NAME = "status.json"


class StatusFile:
    """Leaves the latest writer figures in the spool directory."""

    def __call__(self, writer: Writer) -> None:
        """Write ``writer.status()`` with the time it was taken."""
        directory = writer.spool.directory
        try:
            directory.mkdir(parents=True, exist_ok=True)
            target = directory / FILE_NAME
            temporary = target.with_name(f".{FILE_NAME}.writing")
            temporary.write_text(json.dumps({"at": time.time(), **writer.status()}))
            temporary.replace(target)
        except OSError:
            pass  # figures are a convenience: a full disk must not cost events


def read_status(spool_directory: Path) -> dict[str, Any] | None:
    """The figures a writer last left in ``spool_directory``, or None if there are none."""
    target = spool_directory / FILE_NAME
    if not target.exists():
        return None
    figures: dict[str, Any] = json.loads(target.read_text(encoding="utf-8"))
    return figures
