"""The background writer: a bounded queue in front of ClickHouse, a spool behind it.

``submit`` is what the request path calls: it appends to a deque and returns — no I/O, no
waiting. One thread per process drains the queue in batches (by size or by time), turns
events into rows (``enrich.py``) and inserts them with a deduplication token per batch.

When an insert fails, that batch and everything queued after it go to the spool on disk,
and the store is left alone for a backoff period (exponential, with jitter). Each attempt
after that first replays the spool, oldest batch first, and only then the queue, so rows
arrive in order; a replayed batch keeps its token, so a batch whose answer was lost is
written once. A spool file that does not verify, or that ClickHouse rejects while it
answers, is quarantined with one log line. ``stop`` (ASGI lifespan shutdown, SIGTERM via
the server) writes what it can and spools the rest: nothing queued is lost.

The writer only moves events. What else runs on its thread is handed in: ``prepare``
runs once before the first insert (by default the schema migration of ``store.schema``),
and each of ``after_cycle`` runs after every cycle (the status file of ``status.py``, the
rollup schedule of ``analytics.schedule``); a failing hook is logged, never fatal.
"""

from __future__ import annotations

import collections
import functools
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import structlog

from consentlog.exceptions import CorruptSpoolFile, first_line
from consentlog.ingest.enrich import Enricher
from consentlog.ingest.events import Queued
from consentlog.ingest.redact import store_error
from consentlog.ingest.spool import Batch, Spool, default_spool_dir
from consentlog.store import Store
from consentlog.store.schema import migrate

log = structlog.get_logger("consentlog.ingest.writer")

Tables = dict[str, Any]  # table name → Arrow table of a batch
Hook = Callable[["Writer"], None]  # runs on the writer thread after every cycle
MAX_BACKOFF = 30.0  # seconds
# A spool file ClickHouse keeps refusing while it answers queries is set aside after this
# many attempts, so one bad batch cannot hold up every batch behind it.
MAX_REPLAY_ATTEMPTS = 5


@dataclass(slots=True)
class Counters:
    """What the writer has done since it started (events, unless named otherwise)."""

    queued: int = 0
    written: int = 0
    spooled: int = 0
    replayed: int = 0
    dropped: int = 0
    events_rejected: int = 0  # left out of their batch: a string no row may hold
    quarantined: int = 0  # files
    failures: int = 0  # failed store attempts
    batches: int = 0


class Writer:
    """Batches events from the request path into ClickHouse, on its own thread."""

    def __init__(
        self,
        store: Store,
        *,
        database: str,
        spool_dir: Path | None = None,
        queue_size: int = 100_000,
        batch_size: int = 10_000,
        flush_interval: float = 1.0,
        retention_months: int = 25,
        enricher: Enricher | None = None,
        prepare: Callable[[], object] | None = None,
        after_cycle: Sequence[Hook] = (),
    ) -> None:
        self.store = store
        self.database = database
        self.counters = Counters()
        self.spool = Spool(spool_dir or default_spool_dir(store, database))
        self._queue: collections.deque[Queued] = collections.deque()
        self._queue_size = queue_size
        self._batch_size = batch_size
        self._interval = flush_interval
        self._enricher = enricher or Enricher()
        self._prepare_store = prepare or functools.partial(
            migrate, store, database, ttl_months=retention_months
        )
        self._prepared = False
        self._retention_seconds = retention_months * 365.25 / 12 * 86400
        self._next_expiry = 0.0  # monotonic time of the next quarantine expiry
        self._after_cycle: list[Hook] = list(after_cycle)
        self._backoff = 0.0
        self._retry_at = 0.0  # monotonic time before which the store is left alone
        self._replay_attempts: dict[str, int] = {}
        self._flushing = False
        self._held: list[Batch] = []  # taken from the queue, not yet written or spooled
        self._inserter = ThreadPoolExecutor(1, thread_name_prefix="consentlog-insert")
        self._wake = threading.Event()
        self._idle = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    # -- the request path -------------------------------------------------------------

    def submit(self, event: Queued) -> None:
        """Queue ``event`` without blocking or I/O. Only when the queue is full — the
        writer could not even spool for a while — is the event dropped, and counted."""
        if len(self._queue) >= self._queue_size:
            self.counters.dropped += 1
            return
        self._queue.append(event)
        self.counters.queued += 1
        if self._thread is None:
            self.start()
        elif len(self._queue) >= self._batch_size and not self._wake.is_set():
            self._wake.set()  # once: under load the queue stays above a batch for a while

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._stopping = False
                self._thread = threading.Thread(
                    target=self._run, name="consentlog-writer", daemon=True
                )
                self._thread.start()

    def flush(self, timeout: float = 30.0) -> bool:
        """Try to write everything queued or spooled now; False if some is still waiting
        when ``timeout`` runs out (for instance because ClickHouse is down)."""
        deadline = time.monotonic() + timeout
        self._retry_at = 0.0
        self._flushing = True
        self.start()
        try:
            with self._idle:
                while self._queue or self._held or self.spool.files():
                    self._wake.set()
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._idle.wait(min(remaining, 0.05))
            return True
        finally:
            self._flushing = False

    def stop(self, timeout: float = 10.0) -> bool:
        """Write what can be written within ``timeout``, spool the rest, stop the thread.
        True if everything reached ClickHouse."""
        written = self.flush(timeout)
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():  # stuck in a call that does not return
                self._spool_held()
            self._thread = None
        self._spill()
        log.info("writer_stopped", all_written=written, **asdict(self.counters))
        return written

    def status(self) -> dict[str, Any]:
        """Counters, queue length and spool figures, for logs and ``consentlog status``."""
        spool = self.spool.stats()
        return {
            **asdict(self.counters),
            "queue_length": len(self._queue),
            "spool_files": spool.files,
            "spool_bytes": spool.bytes,
            "quarantined_files": spool.quarantined,
            "store_down": self.store_down,
        }

    @property
    def store_down(self) -> bool:
        """Whether the last attempt failed and the store is being left alone for now."""
        return self._retry_at > time.monotonic()

    @property
    def hooks(self) -> tuple[Hook, ...]:
        """What runs after every cycle, in order."""
        return tuple(self._after_cycle)

    def attach(self, *hooks: Hook) -> None:
        """Run ``hooks`` after every cycle too, except those of a type already attached
        (several middlewares sharing one writer attach theirs once)."""
        for hook in hooks:
            if not any(type(h) is type(hook) for h in self._after_cycle):
                self._after_cycle.append(hook)

    def ensure_prepared(self) -> None:
        """Run ``prepare`` (the schema migration) unless it has succeeded already."""
        if not self._prepared:
            self._prepare_store()
            self._prepared = True

    # -- the writer thread ------------------------------------------------------------

    def _run(self) -> None:
        self._quarantine_partial_files()
        self._expire_quarantine()
        while not self._stopping:
            # Woken early only by a full batch (or flush): then write full batches only,
            # so that under load every insert carries batch_size rows.
            woken = self._wake.wait(self._interval)
            self._wake.clear()
            self._cycle(full_batches_only=woken and not self._flushing)
            self._expire_quarantine()

    def _cycle(self, full_batches_only: bool = False) -> None:
        try:
            if time.monotonic() < self._retry_at:
                self._spill()  # store considered down: keep memory small
            else:
                self._replay_spool()
                self._write_queue(full_batches_only)
                self._backoff = 0.0
        except Exception as exc:  # the site must never break because of storage
            self.counters.failures += 1
            self._backoff = min(max(self._backoff * 2, 0.25), MAX_BACKOFF)
            wait = self._backoff * random.uniform(0.8, 1.2)  # jitter, not crypto
            self._retry_at = time.monotonic() + wait
            log.warning("store_unavailable", error=store_error(exc), retry_in=round(wait, 2))
            self._spill()
        finally:
            self._run_hooks()
            with self._idle:
                self._idle.notify_all()

    def _run_hooks(self) -> None:
        for hook in self._after_cycle:
            try:
                hook(self)
            except Exception as exc:  # a hook's failure must not stop the events
                log.warning("writer_hook_failed", hook=type(hook).__name__, error=store_error(exc))

    def _write_queue(self, full_batches_only: bool) -> None:
        """Insert the queue batch by batch, enriching the next batch while the previous
        one is being inserted (on a second thread: the engine releases the GIL). Batches
        are inserted in order; on a failure every held batch is spooled, in order.

        When events arrive faster than they can be inserted, the part of the queue above
        half its size goes to the spool (cheaper than an insert) instead of filling the
        queue; it is replayed once the queue has been written.
        """
        in_flight: tuple[Batch, Future[int]] | None = None
        # A partial batch only for what was queued when the cycle began: events arriving
        # meanwhile wait for a full batch or the next cycle, so inserts stay large.
        partial_allowance = 0 if full_batches_only else len(self._queue)
        try:
            while True:
                if len(self._queue) > self._queue_size // 2:
                    self._spill(keep=self._queue_size // 4)
                full = len(self._queue) >= self._batch_size
                if not full and partial_allowance <= 0:
                    break
                batch = self._take_held()
                partial_allowance -= len(batch) if batch else 0
                if batch is None:
                    break
                tables = self._prepare(batch)
                if in_flight is not None:
                    self._finish(*in_flight)
                    in_flight = None
                in_flight = (batch, self._inserter.submit(self._insert, batch.token, tables))
            if in_flight is not None:
                self._finish(*in_flight)
        except Exception:
            if in_flight is not None:
                in_flight[1].exception()  # let it end before its batch goes to the spool
            for held in list(self._held):
                try:
                    self._spool(held)  # on disk before flush() may see it gone
                finally:
                    self._release(held)
            raise

    def _finish(self, batch: Batch, insert: Future[int]) -> None:
        written = insert.result()
        self._release(batch)
        self.counters.written += written

    def _take_held(self) -> Batch | None:
        """The next batch from the queue, held (visible to ``flush``) until written."""
        with self._idle:  # flush() must never see events in neither place
            if not self._queue:
                return None
            batch = Batch.take(self._queue, self._batch_size)
            self._held.append(batch)
            return batch

    def _release(self, batch: Batch) -> None:
        with self._idle:
            self._held.remove(batch)

    def _prepare(self, batch: Batch) -> Tables:
        """The Arrow tables of a batch. Events that cannot become rows are left out and
        counted (one log line, no values): one bad event never costs the others."""
        tables, rejected = self._enricher.tables(batch)
        self._rejected(rejected, len(batch))
        return tables

    def _rejected(self, events: int, of: int) -> None:
        if events:
            self.counters.events_rejected += events
            log.warning("events_rejected", events=events, batch_events=of)

    def _replay_spool(self) -> None:
        """Replay spooled batches oldest first, yielding to the queue when it fills up.
        One process of those sharing the spool replays at a time; the others write."""
        if not self.spool.files():
            return
        with self.spool.replaying() as mine:
            if mine:
                self._replay_files()

    def _replay_files(self) -> None:
        for path in self.spool.files():
            if len(self._queue) >= self._batch_size:
                return
            try:
                batch = self.spool.read(path)
            except (CorruptSpoolFile, OSError) as exc:
                self._quarantine(path, str(exc))
                continue
            size, tables = len(batch), self._prepare(batch)
            if len(batch) < size:  # events were left out: so must the file leave them
                self.spool.rewrite(path, batch)
            try:
                written = self._insert(batch.token, tables)
            except Exception as exc:
                attempts = self._replay_attempts[path.name] = (
                    self._replay_attempts.get(path.name, 0) + 1
                )
                if attempts < MAX_REPLAY_ATTEMPTS or not self._store_answers():
                    raise
                self._quarantine(path, f"rejected by ClickHouse: {store_error(exc)}")
                continue
            self._replay_attempts.pop(path.name, None)
            self.spool.remove(path)
            self.counters.replayed += written
            self.counters.written += written

    def _insert(self, token: str, tables: Tables) -> int:
        """Insert a batch's tables; the number of rows written."""
        self.ensure_prepared()
        for name, table in tables.items():
            # one token per batch and table: a retried batch is written once
            self.store.insert_arrow(f"{self.database}.{name}", table, dedup_token=f"{token}-{name}")
        self.counters.batches += 1
        return sum(table.num_rows for table in tables.values())

    def _store_answers(self) -> bool:
        try:
            self.store.query("SELECT 1")
        except Exception:
            return False
        return True

    def _spool_held(self) -> None:
        """Spool the batches a stuck writer thread holds (an insert into a store that
        hangs as the process ends): on disk they outlive the process. One whose insert
        did land after all is dropped on replay by its deduplication token."""
        with self._idle:
            held = list(self._held)
        for batch in held:
            self._spool(batch)
        if held:
            log.warning("writer_stuck", spooled_batches=len(held))

    def _spill(self, keep: int = 0) -> None:
        """Move what is queued to the spool, oldest first, until ``keep`` events remain."""
        while len(self._queue) > keep and (batch := self._take_held()):
            try:
                self._spool(batch)
            finally:
                self._release(batch)

    def _spool(self, batch: Batch) -> None:
        # on disk, no more than the tables would hold: agent families, IP prefixes
        batch, rejected = self._enricher.for_disk(batch)
        self._rejected(rejected, len(batch) + rejected)
        try:
            self.spool.write(batch)
        except OSError as exc:  # no disk either: the events are lost, and counted
            self.counters.dropped += len(batch)
            log.error("spool_write_failed", error=first_line(exc), events=len(batch))
            return
        self.counters.spooled += len(batch)

    def _expire_quarantine(self) -> None:
        """Quarantined files older than the retention period go, as their rows would."""
        if (now := time.monotonic()) >= self._next_expiry:
            self._next_expiry = now + 3600.0  # hourly: files are old by months, not minutes
            try:
                self.spool.expire_quarantine(self._retention_seconds)
            except OSError as exc:
                log.warning("quarantine_expiry_failed", error=first_line(exc))

    def _quarantine(self, path: Path, reason: str) -> None:
        self._replay_attempts.pop(path.name, None)
        target = self.spool.quarantine(path)
        self.counters.quarantined += 1
        log.error("spool_file_quarantined", file=str(target), reason=reason)

    def _quarantine_partial_files(self) -> None:
        """A temporary file whose writer is gone is a batch a killed process was still
        writing (a live writer's is left alone: the spool may be shared)."""
        if not self.spool.directory.is_dir():
            return
        with self.spool.replaying(wait=True):
            for path in self.spool.abandoned_writes():
                self._quarantine(path, "incomplete write (process was killed)")
