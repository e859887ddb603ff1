"""Token buckets that keep the self-service routes from being used to load the store.

A ``TokenBucket`` holds up to ``burst`` tokens and gains ``rate`` per second; a request
takes one or is told how long to wait. ``KeyedBuckets`` keeps one bucket per client, at
most ``max_keys`` of them: the least recently seen client is forgotten first, and a full
bucket is all it had, so forgetting it gives nobody more than a fresh client gets.
``SelfServiceLimits`` combines a bucket per client with one for the whole site.

``too_many`` is the 429 answer of the routes that count per client or per session.

Time is the overridable ``clock`` method (monotonic seconds), so tests step it instead
of sleeping.
"""

from __future__ import annotations

import collections
import math
import time
from dataclasses import dataclass

from starlette.responses import JSONResponse, Response


@dataclass(slots=True)
class TokenBucket:
    """Up to ``burst`` requests at once, then ``rate`` per second."""

    rate: float
    burst: float
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Take a token at ``now``: 0.0 if there was one, else the seconds until there is."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class KeyedBuckets:
    """A ``TokenBucket`` per key, at most ``max_keys`` remembered (least recent forgotten)."""

    def __init__(self, rate: float, burst: float, max_keys: int) -> None:
        self.rate, self.burst, self.max_keys = rate, burst, max_keys
        self._buckets: collections.OrderedDict[str, TokenBucket] = collections.OrderedDict()

    def take(self, key: str, now: float) -> float:
        """Take a token from ``key``'s bucket: 0.0, or the seconds to wait."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, self.burst, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take(now)

    def __len__(self) -> int:
        return len(self._buckets)


class SelfServiceLimits:
    """The per-client and the site-wide limit of ``my-data`` and ``forget``.

    Every request takes a token from its client's bucket; only requests that will reach
    the store (the browser carries an identifier) take one from the site's too, so
    cookieless requests from many addresses cannot lock real visitors out.
    """

    def __init__(
        self,
        *,
        per_client_rate: float = 1 / 12,  # 5 a minute
        per_client_burst: float = 5,
        site_rate: float = 1.0,
        site_burst: float = 20,
        max_clients: int = 10_000,
    ) -> None:
        self.clients = KeyedBuckets(per_client_rate, per_client_burst, max_clients)
        self.site = TokenBucket(site_rate, site_burst, site_burst, self.clock())

    def clock(self) -> float:
        """Monotonic seconds; a test overrides it."""
        return time.monotonic()

    def admit(self, client: str, *, reaches_store: bool) -> int:
        """0 if the request may go on, else whole seconds to wait (for ``Retry-After``)."""
        now = self.clock()
        wait = self.clients.take(client, now)
        if not wait and reaches_store:
            wait = self.site.take(now)
        return math.ceil(wait)


def too_many(what: str, wait: float) -> Response:
    """A 429 that says what was too many and when to try again."""
    seconds = math.ceil(wait)
    return JSONResponse(
        {"error": f"too many {what}; try again in {seconds} s"},
        status_code=429,
        headers={"cache-control": "no-store", "retry-after": str(seconds)},
    )
