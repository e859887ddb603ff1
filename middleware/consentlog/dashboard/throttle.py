"""The dashboard's failed-login throttle: per client, per user, and for all clients together.

Every failure waits ``delay`` seconds. Per client (the address the trusted-proxy rule
resolves, as for the site): ``limit`` failures within ``window`` seconds, then that client
is refused (429) until the oldest of them ages out. Per user (the name a login is for):
``account_limit`` password failures within the window, and ``limit`` TOTP failures, from
any clients, then that name is refused the same way — so an insider, or many addresses,
cannot keep guessing one user's secret. For everyone: once ``global_limit`` failures from
all clients together fell within ``window``, every attempt is paced — given turns
``spacing`` seconds apart — so rotating addresses (a forged ``X-Forwarded-For`` when the
dashboard is reachable past its proxy, or many real ones) buy one guess per ``spacing``,
not one per address.

An attempt is counted *before* its secret is checked (``begin``) and only that attempt is
taken back when it succeeds (``settle``): a burst of concurrent guesses meets the limit as
a sequence would, and a success never forgets earlier failures (an insider's own valid
logins do not reset the count of their guesses at someone else's password).

Memory stays bounded. Client addresses and the names of users that do not exist share
least-recently-failed tables of ``MAX_TRACKED_CLIENTS`` entries each; the names of users
that exist have a table of their own that no churn of addresses or made-up names can
evict (it is bounded by the users file). Unknown names are counted too, so a 429 does not
tell whether a user exists. The counts live in this process: the TOTP count is also kept
in the users file (``users.UserStore.check_totp``), which holds across processes and
restarts.

The global limit slows and never refuses, and no turn is more than ``max_wait`` away: an
attacker can keep everyone slow but cannot lock the right password out — from a client
without failures of its own it gets in within ``max_wait`` seconds. The price of that
bound: a flood of concurrent attempts shares the last turn, so under a flood the guess
rate is the flood's concurrency per ``max_wait``, which the server's connection limit
(uvicorn ``--limit-concurrency``, the proxy) bounds. The per-user limit's price: someone
who fails ``account_limit`` times at a name from several addresses locks that user out
for up to ``window`` seconds (not the single password, which has no name).
"""

from __future__ import annotations

import asyncio
import collections
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

FAILURE_LIMIT = 5  # failures per client (and TOTP failures per user) within the window
ACCOUNT_LIMIT = 10  # password failures per user name, from any client, within the window
FAILURE_WINDOW = 5 * 60.0  # seconds
FAILURE_DELAY = 0.25  # seconds every failure waits, so guessing is slow even under the limit
GLOBAL_LIMIT = 50  # failures from all clients within the window before attempts are paced
GLOBAL_SPACING = 1.0  # seconds between paced attempts
MAX_GLOBAL_WAIT = 10.0  # seconds: the longest a paced attempt waits for its turn
MAX_TRACKED_CLIENTS = 10_000  # bounds the throttle's memory when many addresses fail

Step = Literal["password", "totp"]


class _Window:
    """Failure times per key within ``window`` seconds; ``bound`` keys at most (the least
    recently failed is forgotten first), or unbounded."""

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float], bound: int | None
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._bound = bound
        self._times: collections.OrderedDict[str, collections.deque[float]] = (
            collections.OrderedDict()
        )

    def retry_after(self, key: str) -> int | None:
        recent = self._times.get(key)
        if recent is None:
            return None
        if len(self._prune(recent)) < self.limit:
            if not recent:
                del self._times[key]
            return None
        return max(1, math.ceil(recent[0] + self.window - self._clock()))

    def add(self, key: str, at: float) -> None:
        self._prune(self._times.setdefault(key, collections.deque())).append(at)
        self._times.move_to_end(key)
        while self._bound is not None and len(self._times) > self._bound:
            self._times.popitem(last=False)

    def remove(self, key: str, at: float) -> None:
        recent = self._times.get(key)
        if recent is not None and at in recent:
            recent.remove(at)
            if not recent:
                del self._times[key]

    def __len__(self) -> int:
        return len(self._times)

    def _prune(self, times: collections.deque[float]) -> collections.deque[float]:
        horizon = self._clock() - self.window
        while times and times[0] <= horizon:
            times.popleft()
        return times


@dataclass(frozen=True, slots=True)
class Attempt:
    """One counted login attempt: when, by which client, for which user and step (None:
    the single password, or a step that names no user yet), and whether that user exists."""

    at: float
    client: str
    user: str | None = None
    step: Step = "password"
    known: bool = False


class Throttle:
    """Failed logins per client, per user and for all clients together (see the module
    docstring). ``clock`` (monotonic seconds) and ``sleep`` are seams for tests."""

    def __init__(
        self,
        *,
        limit: int = FAILURE_LIMIT,
        account_limit: int = ACCOUNT_LIMIT,
        window: float = FAILURE_WINDOW,
        global_limit: int = GLOBAL_LIMIT,
        spacing: float = GLOBAL_SPACING,
        max_wait: float = MAX_GLOBAL_WAIT,
        delay: float = FAILURE_DELAY,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if limit < 1 or global_limit < 1 or account_limit < 1:
            raise ValueError(
                "the throttle's limit, account_limit and global_limit must be at least 1"
            )
        self.limit = limit
        self.window = window
        self.spacing = spacing
        self.max_wait = max_wait
        self.delay = delay
        self._clock = clock
        self._sleep = sleep
        self._clients = _Window(limit, window, clock, MAX_TRACKED_CLIENTS)
        # per user and step: users that exist (never evicted), made-up names (bounded)
        self._known = {
            "password": _Window(account_limit, window, clock, None),
            "totp": _Window(limit, window, clock, None),
        }
        self._unknown = {
            "password": _Window(account_limit, window, clock, MAX_TRACKED_CLIENTS),
            "totp": _Window(limit, window, clock, MAX_TRACKED_CLIENTS),
        }
        # the newest failures of anyone: enough to tell whether ``global_limit`` fell
        # within the window, with room for attempts counted and then taken back
        self.global_limit = global_limit
        self._everyone: collections.deque[float] = collections.deque(maxlen=4 * global_limit)
        self._next_turn = 0.0

    def retry_after(self, client: str) -> int | None:
        """Seconds until ``client`` may try again, or None if it may now."""
        return self._clients.retry_after(client)

    def user_retry_after(self, user: str, step: Step, *, known: bool) -> int | None:
        """Seconds until user ``user`` may try ``step`` again, or None if they may now."""
        return self._table(step, known).retry_after(user)

    def tracked_users(self, *, known: bool) -> int:
        """How many user names have failures counted (a bound the tests check)."""
        return sum(len(self._table(step, known)) for step in ("password", "totp"))

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

    def begin(
        self, client: str, user: str | None = None, step: Step = "password", *, known: bool = False
    ) -> Attempt:
        """Count an attempt as failed before its secret is checked (no await between a
        limit check and this call: then no burst gets past the limit)."""
        attempt = Attempt(self._clock(), client, user, step, known)
        self._clients.add(client, attempt.at)
        if user is not None:
            self._table(step, known).add(user, attempt.at)
        self._everyone.append(attempt.at)
        return attempt

    def settle(self, attempt: Attempt) -> None:
        """Take back ``attempt`` (it succeeded, or was never checked): only it, never the
        failures counted before it."""
        self._clients.remove(attempt.client, attempt.at)
        if attempt.user is not None:
            self._table(attempt.step, attempt.known).remove(attempt.user, attempt.at)
        if attempt.at in self._everyone:
            self._everyone.remove(attempt.at)

    async def failed(self, attempt: Attempt) -> None:
        """``attempt`` failed (it is counted already): wait ``delay`` seconds."""
        del attempt
        if self.delay > 0:
            await self._sleep(self.delay)

    def failure(self, client: str) -> None:
        """Count a failed attempt of ``client`` at once."""
        self.begin(client)

    def _table(self, step: Step, known: bool) -> _Window:
        return (self._known if known else self._unknown)[step]

    def _under_attack(self, now: float) -> bool:
        horizon = now - self.window
        while self._everyone and self._everyone[0] <= horizon:
            self._everyone.popleft()
        return len(self._everyone) >= self.global_limit
