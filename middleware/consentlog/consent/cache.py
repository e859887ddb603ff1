"""A memo for values taken from visitors: bounded by entries and by bytes.

Cookie headers and consent cookies come from anyone, so the caches that spare a returning
visitor the parsing and the HMAC must not grow with what strangers send, nor be emptied
by it. ``BoundedCache`` is a segmented LRU: a new entry is on probation; only when it is
used again is it protected. Eviction takes the least recently used entry on probation
first, so a flood of one-off values churns the probation segment and leaves the visitors
who keep coming back alone. Callers put only values that verified.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

_PROTECTED_SHARE = 0.8  # of the entries and bytes: the rest is room for newcomers


class BoundedCache(Generic[K, V]):
    """At most ``max_entries`` values and ``max_bytes`` of their stated sizes."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._probation: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._protected: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = [0, 0]  # probation, protected
        self._lock = threading.Lock()  # a compound update must not interleave

    def __len__(self) -> int:
        return len(self._probation) + len(self._protected)

    @property
    def bytes(self) -> int:
        """The sum of the sizes of the values held."""
        return sum(self._bytes)

    def get(self, key: K) -> V | None:
        """The value for ``key``, or None; a second use protects it from newcomers."""
        found = self._protected.get(key)  # the common case, without the lock: each step
        if found is not None:  # of it is one operation of the OrderedDict, atomic
            try:  # noqa: SIM105 - contextlib.suppress costs a context manager per page
                self._protected.move_to_end(key)
            except KeyError:  # another thread dropped or demoted it meanwhile
                pass
            return found[0]
        with self._lock:
            found = self._protected.get(key)
            if found is not None:
                self._protected.move_to_end(key)
                return found[0]
            found = self._probation.pop(key, None)
            if found is None:
                return None
            self._bytes[0] -= found[1]
            self._protected[key] = found
            self._bytes[1] += found[1]
            self._demote()
            return found[0]

    def put(self, key: K, value: V, size: int) -> None:
        """Remember ``value`` (``size`` bytes); a value over a sixteenth of the budget
        is not worth the room it would take from others."""
        if size > self.max_bytes // 16:
            return
        with self._lock:
            self._drop(key)
            self._probation[key] = (value, size)
            self._bytes[0] += size
            while len(self) > self.max_entries or self.bytes > self.max_bytes:
                segment = 0 if self._probation else 1
                _, (_, dropped) = (self._probation, self._protected)[segment].popitem(last=False)
                self._bytes[segment] -= dropped

    def discard(self, key: K) -> None:
        """Forget ``key`` (a value that no longer holds)."""
        with self._lock:
            self._drop(key)

    def _drop(self, key: K) -> None:
        for segment, entries in enumerate((self._probation, self._protected)):
            found = entries.pop(key, None)
            if found is not None:
                self._bytes[segment] -= found[1]

    def _demote(self) -> None:
        """Keep the protected segment within its share: its oldest go back on probation."""
        while len(self._protected) > 1 and (
            len(self._protected) > self.max_entries * _PROTECTED_SHARE
            or self._bytes[1] > self.max_bytes * _PROTECTED_SHARE
        ):
            key, found = self._protected.popitem(last=False)
            self._bytes[1] -= found[1]
            self._probation[key] = found
            self._bytes[0] += found[1]
