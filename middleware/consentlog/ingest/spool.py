"""The local spool: batches that could not reach ClickHouse wait here, on disk, in order.

One file per batch, named ``<sequence>-<token>.batch`` so that sorting by name replays in
the order the batches were taken. A file is JSON followed by a line with its CRC-32; it is
written to a temporary name and renamed, so a reader sees whole files or none. A file that
does not verify (truncated by a crash, damaged on disk) is moved to ``quarantine/``.
"""

from __future__ import annotations

import itertools
import json
import os
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from consentlog.exceptions import CorruptSpoolFile
from consentlog.ingest.events import ConsentRecord, Engagement, PageRequest

SUFFIX = ".batch"


@dataclass(slots=True)
class Batch:
    """Events taken from the queue together, inserted with one deduplication token."""

    token: str
    pages: list[PageRequest] = field(default_factory=list)
    consents: list[ConsentRecord] = field(default_factory=list)
    engagements: list[Engagement] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.pages) + len(self.consents) + len(self.engagements)


def encode(batch: Batch) -> bytes:
    """The spool-file bytes of ``batch``: JSON, newline, CRC-32 of the JSON."""
    payload = json.dumps(
        {
            "v": 1,
            "token": batch.token,
            "pages": batch.pages,
            "consents": batch.consents,
            "engagements": batch.engagements,
        },
        separators=(",", ":"),
    ).encode("utf-8")
    return payload + b"\n" + format(zlib.crc32(payload), "08x").encode("ascii") + b"\n"


def decode(data: bytes) -> Batch:
    """The batch in spool-file bytes; ``CorruptSpoolFile`` when they do not verify."""
    payload, _, checksum = data.rstrip(b"\n").rpartition(b"\n")
    if not payload or checksum != format(zlib.crc32(payload), "08x").encode("ascii"):
        raise CorruptSpoolFile("checksum mismatch (truncated or damaged)")
    try:
        raw = json.loads(payload)
        return Batch(
            token=str(raw["token"]),
            pages=[PageRequest._make(row) for row in raw["pages"]],
            consents=[
                ConsentRecord._make([*row[:3], tuple(row[3]), *row[4:]]) for row in raw["consents"]
            ],
            engagements=[Engagement._make(row) for row in raw.get("engagements", ())],
        )
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise CorruptSpoolFile(f"unreadable content: {exc}") from None


@dataclass(frozen=True, slots=True)
class SpoolStats:
    """What is waiting in the spool."""

    files: int
    bytes: int
    quarantined: int


class Spool:
    """A directory of batches waiting for ClickHouse."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.quarantine_dir = directory / "quarantine"
        self._sequence = itertools.count()

    def write(self, batch: Batch) -> Path:
        """Store ``batch`` durably; return its file."""
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}{next(self._sequence) % 1000:03d}-{batch.token}{SUFFIX}"
        final = self.directory / name
        temporary = final.with_suffix(".tmp")
        with open(temporary, "wb") as handle:
            handle.write(encode(batch))
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(final)
        return final

    def files(self) -> list[Path]:
        """Waiting batch files, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.iterdir() if p.name.endswith(SUFFIX))

    def read(self, path: Path) -> Batch:
        """The batch in ``path``; ``CorruptSpoolFile`` if it does not verify."""
        return decode(path.read_bytes())

    def remove(self, path: Path) -> None:
        """Forget a batch that reached ClickHouse."""
        path.unlink(missing_ok=True)

    def quarantine(self, path: Path) -> Path:
        """Move a bad file aside, out of the replay order; return its new place."""
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        target = self.quarantine_dir / path.name
        path.replace(target)
        return target

    def stats(self) -> SpoolStats:
        """Counts and size of the waiting and quarantined files."""
        files = self.files()
        quarantined = (
            sum(1 for _ in self.quarantine_dir.iterdir()) if self.quarantine_dir.is_dir() else 0
        )
        return SpoolStats(len(files), sum(p.stat().st_size for p in files), quarantined)
