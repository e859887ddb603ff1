"""The dashboard's failed-login throttle: a limit per client and one for all clients together.

Every failure waits ``delay`` seconds. Per client (the address the trusted-proxy rule
resolves, as for the site): ``limit`` failures within ``window`` seconds, then that client
is refused (429) until the oldest of them ages out. For everyone: once ``global_limit``
failures from all clients together fell within ``window``, every attempt is paced — given
turns ``spacing`` seconds apart — so rotating addresses (a forged ``X-Forwarded-For`` when
the dashboard is reachable past its proxy, or many real ones) buy one guess per
``spacing``, not one per address.

The global limit slows and never refuses, and no turn is more than ``max_wait`` away: an
attacker can keep everyone slow but cannot lock the right password out — from a client
without failures of its own it gets in within ``max_wait`` seconds. The price of that
bound: a flood of concurrent attempts shares the last turn, so under a flood the guess
rate is the flood's concurrency per ``max_wait``, which the server's connection limit
(uvicorn ``--limit-concurrency``, the proxy) bounds.
"""

from __future__ import annotations

import asyncio
import collections
import math
import time
from collections.abc import Awaitable, Callable

FAILURE_LIMIT = 5  # failures per client within the window
FAILURE_WINDOW = 5 * 60.0  # seconds
FAILURE_DELAY = 0.25  # seconds every failure waits, so guessing is slow even under the limit
GLOBAL_LIMIT = 50  # failures from all clients within the window before attempts are paced
GLOBAL_SPACING = 1.0  # seconds between paced attempts
MAX_GLOBAL_WAIT = 10.0  # seconds: the longest a paced attempt waits for its turn
MAX_TRACKED_CLIENTS = 10_000  # bounds the throttle's memory when many addresses fail


class Throttle:
    """Failed logins per client and for all clients together (see the module docstring).

    ``clock`` (monotonic seconds) and ``sleep`` are seams for tests.
    """

    def __init__(
        self,
        *,
        limit: int = FAILURE_LIMIT,
        window: float = FAILURE_WINDOW,
        global_limit: int = GLOBAL_LIMIT,
        spacing: float = GLOBAL_SPACING,
        max_wait: float = MAX_GLOBAL_WAIT,
        delay: float = FAILURE_DELAY,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if limit < 1 or global_limit < 1:
            raise ValueError("the throttle's limit and global_limit must be at least 1")
        self.limit = limit
        self.window = window
        self.spacing = spacing
        self.max_wait = max_wait
        self.delay = delay
        self._clock = clock
        self._sleep = sleep
        self._failures: collections.OrderedDict[str, collections.deque[float]] = (
            collections.OrderedDict()
        )
        # the newest ``global_limit`` failures of anyone: enough to tell whether that
        # many fell within the window
        self._everyone: collections.deque[float] = collections.deque(maxlen=global_limit)
        self._next_turn = 0.0

    def retry_after(self, client: str) -> int | None:
        """Seconds until ``client`` may try again, or None if it may now."""
        recent = self._failures.get(client)
        if recent is None or len(self._prune(recent)) < self.limit:
            return None
        return max(1, math.ceil(recent[0] + self.window - self._clock()))

    def global_wait(self) -> float:
        """Seconds this attempt waits for its turn: 0 unless the global limit is reached,
        then the next free turn, at most ``max_wait`` away. Takes the turn."""
        now = self._clock()
        if not self._under_attack(now):
            return 0.0
        wait = min(max(0.0, self._next_turn - now), self.max_wait)
        self._next_turn = now + wait + self.spacing
        return wait

    async def pace(self) -> None:
        """Wait for this attempt's turn (see ``global_wait``)."""
        wait = self.global_wait()
        if wait > 0:
            await self._sleep(wait)

    def failure(self, client: str) -> None:
        """Count a failed attempt."""
        now = self._clock()
        self._prune(self._failures.setdefault(client, collections.deque())).append(now)
        self._everyone.append(now)
        self._failures.move_to_end(client)
        while len(self._failures) > MAX_TRACKED_CLIENTS:
            self._failures.popitem(last=False)

    async def failed(self, client: str) -> None:
        """Count a failed attempt and make it wait ``delay`` seconds."""
        self.failure(client)
        if self.delay > 0:
            await self._sleep(self.delay)

    def success(self, client: str) -> None:
        """Forget the client's failures (not the global count: others may be guessing)."""
        self._failures.pop(client, None)

    def _under_attack(self, now: float) -> bool:
        full = len(self._everyone) == self._everyone.maxlen
        return full and self._everyone[0] > now - self.window

    def _prune(self, failures: collections.deque[float]) -> collections.deque[float]:
        """``failures`` without those older than the window."""
        horizon = self._clock() - self.window
        while failures and failures[0] <= horizon:
            failures.popleft()
        return failures
