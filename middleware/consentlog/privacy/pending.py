"""Erasures asked for while the store could not carry them out, kept until it can.

A visitor who asks to be forgotten (``forget``, or withdrawal with ``erase_on_withdraw``)
while ClickHouse is down is answered at once; what they asked for is kept here, in
``<spool>/erasures/``: one small JSON file per request holding only the identifiers to
erase (visitor ids, consent id) and when it was asked. The file is itself personal data:
it is written to a temporary name, fsync'd and renamed (a crash leaves the request or
nothing), and deleted as soon as the erasure has been carried out.

``ErasureHook`` runs on the writer thread after every cycle (``Writer(after_cycle=…)``):
once the store answers, the spool is empty and the queue too (or the request is older
than ``SETTLE``) — so every event queued before the request is in the tables — it erases
each kept subject, oldest first, and deletes its file. A file that cannot be read is
deleted with one log line: it is nobody's request any more.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import structlog

from consentlog.exceptions import first_line
from consentlog.ingest.writer import Writer
from consentlog.privacy.subject import Subject, erase, erasure_record

log = structlog.get_logger("consentlog.privacy.pending")

SUFFIX = ".erasure"
# While events are queued, a request this young waits: the visitor's last page views may
# be among them, and erasing before they are written would leave them behind.
SETTLE = 5.0  # seconds


class PendingErasures:
    """The erasure requests kept in one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def keep(self, subject: Subject) -> Path:
        """Write ``subject``'s request durably; return its file."""
        self.directory.mkdir(parents=True, exist_ok=True)
        # the name sorts by time, so requests are carried out in the order they came
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}{SUFFIX}"
        payload = {
            "visitor_ids": list(subject.visitor_ids),
            "consent_id": subject.consent_id,
            "requested_at": time.time(),
        }
        temporary = self.directory / (name + ".tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        target = temporary.rename(self.directory / name)
        _fsync_directory(self.directory)
        return target

    def files(self) -> list[Path]:
        """The kept requests, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.iterdir() if p.name.endswith(SUFFIX))

    def read(self, path: Path) -> tuple[Subject, float]:
        """The subject of a kept request and when it was asked (``ValueError`` if the file
        is not one)."""
        payload = json.loads(path.read_text(encoding="utf-8"))
        visitor_ids, consent_id = payload["visitor_ids"], payload["consent_id"]
        requested_at = payload["requested_at"]
        if not isinstance(consent_id, str) or not isinstance(visitor_ids, list):
            raise ValueError("not an erasure request")
        if not all(isinstance(v, str) for v in visitor_ids):
            raise ValueError("not an erasure request")
        if not isinstance(requested_at, int | float):
            raise ValueError("not an erasure request")
        return Subject(tuple(visitor_ids), consent_id), float(requested_at)

    def done(self, path: Path) -> None:
        """Delete a request that has been carried out."""
        path.unlink(missing_ok=True)
        _fsync_directory(self.directory)


def pending_for(writer: Writer) -> PendingErasures:
    """The kept erasures of ``writer``: ``erasures/`` in its spool directory."""
    return PendingErasures(writer.spool.directory / "erasures")


class ErasureHook:
    """Carries out kept erasures on the writer thread once the store is back."""

    def __init__(self, policy_revision: int) -> None:
        self.policy_revision = policy_revision

    def __call__(self, writer: Writer) -> None:
        pending = pending_for(writer)
        files = pending.files()
        if not files or writer.store_down or writer.spool.files():
            return  # nothing kept, or events before the request are not all in the tables
        queued = writer.status()["queue_length"]
        for path in files:
            try:
                subject, requested_at = pending.read(path)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.error("erasure_request_unreadable", file=path.name, error=first_line(exc))
                pending.done(path)
                continue
            if queued and time.time() - requested_at < SETTLE:
                return  # the visitor's last events may still be queued: next cycle
            writer.spool.forget(subject.visitor_ids, subject.consent_id)
            removed = erase(writer.store, writer.database, subject, "self-service")
            if any(removed.values()):
                writer.submit(erasure_record(self.policy_revision))
            pending.done(path)
            log.info("erasure_carried_out", rows=sum(removed.values()))


def _fsync_directory(directory: Path) -> None:
    """Make a rename or unlink in ``directory`` durable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
