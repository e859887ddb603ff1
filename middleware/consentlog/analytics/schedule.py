"""Running the daily rollup from the writer's thread, every so often.

``RollupSchedule`` is a writer hook (``Writer(after_cycle=[RollupSchedule(...)])``): after
a cycle in which the store answered, and at most once every ``interval`` seconds, it makes
sure the schema is there and rolls up what is complete (``rollup.roll_up``). A failed
rollup is logged and costs nothing else: reports then read raw rows for those days.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from consentlog.analytics.rollup import STALE_BUDGET, roll_up
from consentlog.ingest.redact import store_error
from consentlog.ingest.writer import Writer

log = structlog.get_logger("consentlog.analytics.schedule")


class RollupSchedule:
    """Rolls up complete days every ``interval`` seconds, on the writer's thread."""

    def __init__(self, interval: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._next = 0.0  # clock time of the next run; the first cycle runs one

    def __call__(self, writer: Writer) -> None:
        """Roll up if the time has come and the store answers."""
        if writer.store_down or self._clock() < self._next:
            return
        self._next = self._clock() + self.interval
        try:
            writer.ensure_prepared()
            roll_up(writer.store, writer.database, stale_budget=STALE_BUDGET)
        except Exception as exc:  # a failed rollup only makes reports read raw rows
            log.warning("rollup_failed", error=store_error(exc))  # code and name only
