"""The background writer: a bounded queue in front of ClickHouse.

``submit`` is what the request path calls: it appends to a deque and returns, no I/O, no
waiting. One thread per process drains the queue in batches (by size or by time), turns
events into rows (``enrich.py``) and inserts them with a deduplication token per batch, so
a retried batch is written once. Until the store answers, batches stay queued and are
retried with backoff; the site keeps serving either way.
"""

from __future__ import annotations

import collections
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from consentlog.enrich import CONSENT_COLUMNS, PAGE_COLUMNS, Enricher
from consentlog.events import ConsentRecord, Event, PageRequest
from consentlog.schema import migrate
from consentlog.store import Store, StoreError

log = structlog.get_logger("consentlog.writer")


@dataclass(slots=True)
class Counters:
    """What the writer has done since it started."""

    queued: int = 0
    written: int = 0
    dropped: int = 0
    failures: int = 0
    batches: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict, for logs and status output."""
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(slots=True)
class _Batch:
    token: str
    pages: list[PageRequest] = field(default_factory=list)
    consents: list[ConsentRecord] = field(default_factory=list)


class Writer:
    """Batches events from the request path into ClickHouse, on its own thread."""

    def __init__(
        self,
        store: Store,
        *,
        database: str,
        queue_size: int = 100_000,
        batch_size: int = 10_000,
        flush_interval: float = 1.0,
        enricher: Enricher | None = None,
        migrate_on_start: Callable[[Store, str], object] = migrate,
    ) -> None:
        self.store = store
        self.database = database
        self.counters = Counters()
        self._queue: collections.deque[Event] = collections.deque()
        self._queue_size = queue_size
        self._batch_size = batch_size
        self._interval = flush_interval
        self._enricher = enricher or Enricher()
        self._migrate = migrate_on_start
        self._migrated = False
        self._pending: _Batch | None = None  # a batch taken from the queue, not yet written
        self._wake = threading.Event()
        self._stopped = threading.Event()  # backoff waits on this, so flush() cannot cut it short
        self._idle = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    # -- the request path -------------------------------------------------------------

    def submit(self, event: Event) -> None:
        """Queue ``event`` without blocking; when the queue is full the event is counted
        as dropped (storage outages longer than the queue are the subject of spooling)."""
        if len(self._queue) >= self._queue_size:
            self.counters.dropped += 1
            return
        self._queue.append(event)
        self.counters.queued += 1
        if self._thread is None:
            self.start()
        elif len(self._queue) >= self._batch_size:
            self._wake.set()

    # -- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._stopping = False
                self._stopped.clear()
                self._thread = threading.Thread(
                    target=self._run, name="consentlog-writer", daemon=True
                )
                self._thread.start()

    def flush(self, timeout: float = 30.0) -> bool:
        """Block until every event queued so far is written; False on timeout."""
        deadline = time.monotonic() + timeout
        self.start()
        with self._idle:
            while self._queue or self._pending is not None:
                self._wake.set()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(min(remaining, 0.05))
        return True

    def stop(self, timeout: float = 30.0) -> bool:
        """Flush and stop the thread; True if everything was written."""
        flushed = self.flush(timeout) if self._thread is not None else not self._queue
        self._stopping = True
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        log.info("writer_stopped", flushed=flushed, **self.counters.as_dict())
        return flushed

    # -- the writer thread ------------------------------------------------------------

    def _run(self) -> None:
        backoff = 0.0
        while not self._stopping:
            if backoff:
                self._stopped.wait(backoff)
            else:
                self._wake.wait(self._interval)
            self._wake.clear()
            try:
                while self._write_one_batch():
                    pass
                backoff = 0.0
            except Exception as exc:  # the site must never break because of storage
                self.counters.failures += 1
                backoff = min(max(backoff * 2, 0.2), 30.0) * random.uniform(0.8, 1.2)
                log.warning(
                    "store_write_failed", error=str(exc).splitlines()[0][:300], retry_in=backoff
                )
            with self._idle:
                self._idle.notify_all()

    def _write_one_batch(self) -> bool:
        """Write the pending batch or take a new one; False when there is nothing to do."""
        if self._pending is None:
            if not self._queue:
                return False
            with self._idle:  # flush() must never see the batch in neither place
                self._pending = self._take()
        if not self._migrated:
            self._migrate(self.store, self.database)
            self._migrated = True
        batch = self._pending
        if batch.pages:
            self.store.insert(
                f"{self.database}.page_requests",
                self._enricher.page_rows(batch.pages),
                PAGE_COLUMNS,
                dedup_token=f"{batch.token}-p",
            )
        if batch.consents:
            self.store.insert(
                f"{self.database}.consent_records",
                self._enricher.consent_rows(batch.consents),
                CONSENT_COLUMNS,
                dedup_token=f"{batch.token}-c",
            )
        self.counters.written += len(batch.pages) + len(batch.consents)
        self.counters.batches += 1
        self._pending = None
        return True

    def _take(self) -> _Batch:
        batch = _Batch(token=uuid.uuid4().hex)
        queue = self._queue
        for _ in range(min(self._batch_size, len(queue))):
            event = queue.popleft()
            if isinstance(event, PageRequest):
                batch.pages.append(event)
            else:
                batch.consents.append(event)
        return batch


__all__ = ["Counters", "StoreError", "Writer"]
