"""Unpredictable ids on the request path without a system call per id.

``os.urandom`` releases the GIL for its system call, and under load a page's thread then
waits for a busy writer thread to hand the GIL back: measured under uvicorn and ``wrk``,
~20 µs a page for one 12-byte draw. ``random_hex`` hands out slices of a pool of hex
digits drawn from ``os.urandom`` 4 KiB at a time (one system call per ~170 page views),
so a draw is a string slice. Every draw has its own slot (a counter), so no two draws of
a process share digits, from any thread; a forked child starts a pool of its own (or
parent and child would hand out the same ids).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterator

_SLOT = 64  # hex digits a draw may take (32 bytes)
_SLOTS = 128  # draws per pool: 4 KiB of os.urandom
_counter: Iterator[int] = itertools.count()
_pool: tuple[int, str] = (-1, "")  # (generation, hex digits of _SLOTS slots)
_refill = threading.Lock()


def _reseed() -> None:
    global _counter, _pool, _refill
    _counter, _pool, _refill = itertools.count(), (-1, ""), threading.Lock()


def random_hex(nbytes: int) -> str:
    """``2 * nbytes`` random hex digits (``nbytes`` ≤ 32)."""
    if nbytes > _SLOT // 2:
        raise ValueError(f"at most {_SLOT // 2} random bytes a draw")
    draw = next(_counter)  # atomic: each draw its own slot of its own generation
    generation, slot = divmod(draw, _SLOTS)
    start = slot * _SLOT
    pool = _pool
    if pool[0] != generation:
        pool = _fill(generation)
    return pool[1][start : start + 2 * nbytes]


def _fill(generation: int) -> tuple[int, str]:
    """The pool of ``generation``, drawn now if no thread has yet; a draw of an older
    generation than the pool's (its thread was preempted past a refill) gets digits of
    its own, never a slot of the newer pool."""
    global _pool
    with _refill:
        if _pool[0] < generation:
            _pool = (generation, os.urandom(_SLOTS * _SLOT // 2).hex())
        if _pool[0] == generation:
            return _pool
    return (generation, os.urandom(_SLOTS * _SLOT // 2).hex())


os.register_at_fork(after_in_child=_reseed)
