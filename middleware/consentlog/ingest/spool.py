"""The local spool: batches that could not reach ClickHouse wait here, on disk, in order.

One file per batch, named ``<sequence>-<token>.batch`` so that sorting by name replays in
the order the batches were taken. A file is JSON followed by a line with its CRC-32; it is
written to a temporary name and renamed, so a reader sees whole files or none. A file that
does not verify (truncated by a crash, damaged on disk) is moved to ``quarantine/``.

The format describes itself: ``"v"`` is its version and ``"fields"`` names the fields of
each kind of event, so a file is read back by field name. A field added to an event since
the file was written takes its default; a field the file has and the event no longer has
is left out. Version 1 files (before ``"fields"``) are read with the field lists of that
time.

What a file holds is no more than the tables would (``Enricher.for_disk``). Quarantined
files expire with the retention period (``expire_quarantine``); ``forget`` takes a data
subject's events out of every file, waiting or quarantined.

Several processes (the workers of one site) share a spool directory. Writing needs no
coordination: names are unique (time, sequence, random token) and temporary files carry
the writer's pid. Replaying, quarantining and erasing do: they happen under the
directory's replay lock (``replaying``, an ``flock`` on ``.replay.lock``), so one process
at a time replays, and a batch a dead worker left behind is replayed by a live one.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import itertools
import json
import os
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consentlog.exceptions import CorruptSpoolFile
from consentlog.ingest.events import (
    KINDS,
    BrowserCheck,
    ConsentRecord,
    Engagement,
    Event,
    EventType,
    Goal,
    PageRequest,
    PageSeen,
    Queued,
)
from consentlog.store import Store
from consentlog.store.ownership import running

VERSION = 2
# The fields of version 1 files, as the events had them when that format was current.
V1_FIELDS: Mapping[str, tuple[str, ...]] = {
    "pages": (
        "ts", "pageview_id", "host", "path", "route", "method", "status", "response_bytes",
        "duration_ms", "referrer", "query", "user_agent", "language", "consent_state",
        "visitor_id", "session_id", "client_ip",
    ),
    "consents": (
        "ts", "consent_id", "action", "categories", "policy_revision", "source",
        "visitor_id", "client_ip", "user_agent",
    ),
    "engagements": (
        "ts", "pageview_id", "visitor_id", "session_id", "host", "path", "engaged_ms",
        "scroll_pct", "useful",
    ),
}  # fmt: skip
Kinds = Mapping[str, EventType]
SUFFIX = ".batch"
TEMPORARY = ".tmp"  # <final name>.<pid>.tmp while being written
LOCK_FILE = ".replay.lock"


@dataclass(slots=True)
class Batch:
    """Events taken from the queue together, inserted with one deduplication token."""

    token: str
    pages: list[PageRequest] = field(default_factory=list)
    consents: list[ConsentRecord] = field(default_factory=list)
    engagements: list[Engagement] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)
    checks: list[BrowserCheck] = field(default_factory=list)
    # pages as the request path queued them: made rows column by column (``enrich``), or
    # ``PageRequest`` events one by one before they go to disk (``resolved``)
    seen: list[PageSeen] = field(default_factory=list)

    def __len__(self) -> int:
        return (
            len(self.pages) + len(self.consents) + len(self.engagements) + len(self.goals)
            + len(self.checks) + len(self.seen)
        )  # fmt: skip

    def resolved(
        self,
        country: Callable[[str, str], str] | None = None,
        datacentre: Callable[[str], bool] | None = None,
    ) -> Batch:
        """This batch with every raw page made its ``PageRequest`` (what a spool file
        holds: a ``PageSeen`` never goes to disk), its country from ``country(ip,
        header)`` and whether it came from a data centre from ``datacentre(ip)``; one
        that cannot be made a row (a scope value of a type no server sends) is left
        out."""
        if not self.seen:
            return self
        pages = list(self.pages)
        for event in self.seen:
            try:
                pages.append(event.request(country, datacentre))
            except Exception:  # noqa: S112 - counted by the caller: len() is smaller
                continue
        return Batch(self.token, pages, self.consents, self.engagements, self.goals, self.checks)

    @classmethod
    def take(cls, queue: collections.deque[Queued], limit: int) -> Batch:
        """Up to ``limit`` events from the front of ``queue``, under a new token."""
        batch = cls(token=uuid.uuid4().hex)
        pages, seen = batch.pages, batch.seen
        for _ in range(min(limit, len(queue))):
            event = queue.popleft()
            if isinstance(event, PageSeen):
                seen.append(event)
            elif isinstance(event, PageRequest):
                pages.append(event)
            elif isinstance(event, ConsentRecord):
                batch.consents.append(event)
            elif isinstance(event, Goal):
                batch.goals.append(event)
            elif isinstance(event, BrowserCheck):
                batch.checks.append(event)
            else:
                batch.engagements.append(event)
        return batch


def encode(batch: Batch) -> bytes:
    """The spool-file bytes of ``batch``: JSON, newline, CRC-32 of the JSON."""
    batch = batch.resolved()
    payload = json.dumps(
        {
            "v": VERSION,
            "token": batch.token,
            "fields": {kind: event_type._fields for kind, event_type in KINDS.items()},
            "pages": batch.pages,
            "consents": batch.consents,
            "engagements": batch.engagements,
            # no address on disk, whoever made the batch (``for_disk`` has done it already)
            "goals": [goal._replace(client_ip="") for goal in batch.goals],
            "checks": batch.checks,
        },
        separators=(",", ":"),
    ).encode("utf-8")
    return payload + b"\n" + format(zlib.crc32(payload), "08x").encode("ascii") + b"\n"


def _goal(event: Event) -> Goal:
    """A goal read back: its properties, which JSON gave back as lists, the tuple of
    pairs they were."""
    if not isinstance(event, Goal):
        raise TypeError("not a goal")
    return event._replace(props=tuple((str(k), str(v)) for k, v in event.props))


def decode(data: bytes, kinds: Kinds = KINDS) -> Batch:
    """The batch in spool-file bytes; ``CorruptSpoolFile`` when they do not verify.

    ``kinds`` are the event types to read into (the current ones unless a test says
    otherwise), matched to the file's fields by name.
    """
    payload, _, checksum = data.rstrip(b"\n").rpartition(b"\n")
    if not payload or checksum != format(zlib.crc32(payload), "08x").encode("ascii"):
        raise CorruptSpoolFile("checksum mismatch (truncated or damaged)")
    try:
        raw = json.loads(payload)
        version = raw["v"]
        if version == 1:
            fields: Mapping[str, Sequence[str]] = V1_FIELDS
        elif version == VERSION:
            fields = raw["fields"]
        else:
            raise CorruptSpoolFile(f"spool format version {version!r} is not one this code reads")
        events = {
            kind: list(map(_reader(event_type, fields[kind]), raw[kind])) if raw.get(kind) else []
            for kind, event_type in kinds.items()
        }
        return Batch(
            token=str(raw["token"]),
            pages=events["pages"],  # type: ignore[arg-type]
            consents=events["consents"],  # type: ignore[arg-type]
            engagements=events["engagements"],  # type: ignore[arg-type]
            goals=[_goal(g) for g in events["goals"]],
            checks=events["checks"],  # type: ignore[arg-type]
        )
    except CorruptSpoolFile:
        raise
    except (ValueError, KeyError, TypeError, IndexError, RecursionError) as exc:
        # a file that verifies but cannot be read must be set aside, not retried forever
        raise CorruptSpoolFile(f"unreadable content: {type(exc).__name__}: {exc}") from None


def _reader(event_type: Any, names: Sequence[str]) -> Callable[[Sequence[Any]], Event]:
    """A function that turns a row whose values are named by ``names`` into an event of
    ``event_type``: the mapping from file fields to event fields is worked out once per
    file and kind, not once per row (a replayed batch has thousands)."""
    missing = [
        n for n in event_type._fields if n not in names and n not in event_type._field_defaults
    ]
    if missing:
        raise CorruptSpoolFile(f"{event_type.__name__} field {missing[0]!r} is missing")
    index = {name: i for i, name in enumerate(names)}
    slots = [(index.get(n), event_type._field_defaults.get(n)) for n in event_type._fields]
    width = len(names)

    def read(row: Sequence[Any]) -> Event:
        if len(row) != width:
            raise CorruptSpoolFile(f"a row has {len(row)} values for {width} fields")
        values = [default if i is None else row[i] for i, default in slots]
        # JSON has no tuples: a list value (the consent categories) becomes one
        event: Event = event_type._make(tuple(v) if type(v) is list else v for v in values)
        return event

    return read


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
        _private_directory(self.directory)
        name = f"{time.time_ns():020d}{next(self._sequence) % 1000:03d}-{batch.token}{SUFFIX}"
        final = self.directory / name
        self._replace(final, encode(batch))
        return final

    def files(self) -> list[Path]:
        """Waiting batch files, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.iterdir() if p.name.endswith(SUFFIX))

    @contextlib.contextmanager
    def replaying(self, *, wait: bool = False) -> Iterator[bool]:
        """Hold the directory's replay lock for the ``with`` block; yields False (without
        waiting, unless ``wait``) when another process or writer holds it."""
        _private_directory(self.directory)
        descriptor = os.open(
            self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
        )
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(descriptor)  # and with it the lock

    def abandoned_writes(self) -> list[Path]:
        """Temporary files whose writer is gone (killed mid-write); call under the lock."""
        if not self.directory.is_dir():
            return []
        abandoned = []
        for path in self.directory.glob(f"*{TEMPORARY}"):
            pid = path.name[: -len(TEMPORARY)].rpartition(".")[2]
            if not (pid.isdigit() and running(int(pid))):
                abandoned.append(path)
        return abandoned

    def read(self, path: Path) -> Batch:
        """The batch in ``path``; ``CorruptSpoolFile`` if it does not verify."""
        return decode(path.read_bytes())

    def remove(self, path: Path) -> None:
        """Forget a batch that reached ClickHouse."""
        path.unlink(missing_ok=True)

    def quarantine(self, path: Path) -> Path:
        """Move a bad file aside, out of the replay order; return its new place."""
        _private_directory(self.quarantine_dir)
        target = self.quarantine_dir / path.name
        path.replace(target)
        return target

    def rewrite(self, path: Path, batch: Batch) -> None:
        """Put ``batch`` in place of the file ``path`` (whole or not at all)."""
        self._replace(path, encode(batch))

    def _replace(self, path: Path, data: bytes) -> None:
        """Write ``data`` over ``path`` whole or not at all (aside, fsync, rename)."""
        temporary = path.with_name(f"{path.name}.{os.getpid()}{TEMPORARY}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)

    def _all_files(self) -> list[Path]:
        """Waiting and quarantined batch files."""
        quarantined = (
            sorted(p for p in self.quarantine_dir.iterdir() if p.is_file())
            if self.quarantine_dir.is_dir()
            else []
        )
        return self.files() + quarantined

    def forget(self, visitor_ids: Iterable[str], consent_id: str = "") -> int:
        """Take out of every file, waiting or quarantined, the events of these visitors
        and the consent records of ``consent_id`` (and of the visitors those records
        name); return how many events went. A file left empty is deleted; so is a
        quarantined file that cannot be read but holds one of the identifiers (counted
        as one). Call it before erasing the tables: a batch replayed meanwhile is then
        in the tables to be erased."""
        with self.replaying(wait=True):  # no replay rewrites a file meanwhile
            return self._forget(visitor_ids, consent_id)

    def _forget(self, visitor_ids: Iterable[str], consent_id: str) -> int:
        visitors = {v for v in visitor_ids if v}
        files = self._all_files()
        if consent_id:  # a consent id leads to the visitor ids its records carry
            for path in files:
                try:
                    batch = self.read(path)
                except (CorruptSpoolFile, OSError):
                    continue
                visitors.update(c.visitor_id for c in batch.consents if c.consent_id == consent_id)
                visitors.discard("")
        if not visitors and not consent_id:
            return 0
        return sum(self._forget_in(path, visitors, consent_id) for path in files)

    def _forget_in(self, path: Path, visitors: set[str], consent_id: str) -> int:
        try:
            batch = self.read(path)
        except (CorruptSpoolFile, OSError):
            raw = path.read_bytes() if path.exists() else b""
            needles = [v.encode() for v in visitors] + ([consent_id.encode()] if consent_id else [])
            if any(n in raw for n in needles):
                path.unlink(missing_ok=True)
                return 1
            return 0
        kept = Batch(
            batch.token,
            [e for e in batch.pages if e.visitor_id not in visitors],
            [
                e
                for e in batch.consents
                if e.visitor_id not in visitors and not (consent_id and e.consent_id == consent_id)
            ],
            [e for e in batch.engagements if e.visitor_id not in visitors],
            [g for g in batch.goals if g.visitor_id not in visitors],
            batch.checks,  # a time and a page-view id: nobody's
        )
        gone = len(batch) - len(kept)
        if not gone:
            return 0
        if len(kept):
            self.rewrite(path, kept)
        else:
            path.unlink(missing_ok=True)
        return gone

    def expire_quarantine(self, max_age: float) -> int:
        """Delete quarantined files last written more than ``max_age`` seconds ago (the
        retention period: their rows would be gone from the tables by now); how many."""
        if not self.quarantine_dir.is_dir():
            return 0
        cutoff = time.time() - max_age
        expired = [p for p in self.quarantine_dir.iterdir() if p.stat().st_mtime < cutoff]
        for path in expired:
            path.unlink(missing_ok=True)
        return len(expired)

    def stats(self) -> SpoolStats:
        """Counts and size of the waiting and quarantined files."""
        files = self.files()
        quarantined = (
            sum(1 for _ in self.quarantine_dir.iterdir()) if self.quarantine_dir.is_dir() else 0
        )
        return SpoolStats(len(files), sum(p.stat().st_size for p in files), quarantined)


def _private_directory(directory: Path) -> None:
    """Make ``directory`` readable by this user only (a spool file holds visitors' ids and
    pages); its parents are the operator's to choose, the directory itself shuts them out."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):
        if directory.stat().st_mode & 0o077:
            directory.chmod(0o700)


def default_spool_dir(store: Store, database: str) -> Path:
    """``<store>-spool/<database>`` beside an embedded store, else
    ``./.consentlog-spool/<database>``."""
    if store.path is not None:
        return store.path.with_name(store.path.name + "-spool") / database
    return Path(".consentlog-spool").resolve() / database
