"""A bound on the password checks running at once: argon2id costs 64 MiB and a core.

Every ``POST /login`` runs one argon2 verification (a dummy one for an unknown name) on
the shared thread pool, which a site that mounts the dashboard serves its own requests
from. Unbounded, forty concurrent logins cost gigabytes and every core. ``HashGate``
lets ``running`` checks run at once and ``waiting`` more wait their turn; a check beyond
that is refused at once (``GateBusy``: the login answers 503 with ``Retry-After``),
before any hashing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

HASHING_AT_ONCE = 2  # argon2 checks running together: 2 × 64 MiB
HASHING_QUEUE = 4  # checks waiting for a turn before more are refused
BUSY_RETRY = 1  # seconds: the Retry-After of a refused check


class GateBusy(Exception):
    """Too many password checks are running or waiting: try again shortly."""


class HashGate:
    """At most ``running`` holders at once, ``waiting`` more queued, the rest refused."""

    def __init__(self, running: int = HASHING_AT_ONCE, waiting: int = HASHING_QUEUE) -> None:
        if running < 1 or waiting < 0:
            raise ValueError("the hash gate needs running >= 1 and waiting >= 0")
        self.running = running
        self.waiting = waiting
        self._inside = 0
        # one semaphore per event loop (a semaphore is bound to the loop it first waits
        # on; a test client may run requests on several loops in turn)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._semaphore = asyncio.Semaphore(running)

    @property
    def inside(self) -> int:
        """Holders and waiters now."""
        return self._inside

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the ``running`` turns; ``GateBusy`` at once when the queue is full."""
        if self._inside >= self.running + self.waiting:
            raise GateBusy
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            if self._inside:  # another loop still holds turns: refuse rather than mix
                raise GateBusy
            self._loop, self._semaphore = loop, asyncio.Semaphore(self.running)
        self._inside += 1
        try:
            async with self._semaphore:
                yield
        finally:
            self._inside -= 1
