"""Unpredictable ids on the request path without a system call per id.

``os.urandom`` releases the GIL for its system call, and under load a page's thread then
waits for a busy writer thread to hand the GIL back: measured under uvicorn and ``wrk``,
~20 µs a page for one 12-byte draw. ``random_hex`` is keyed BLAKE2b of a counter — a
pseudo-random function, so its output is as unpredictable as ``os.urandom``'s to anyone
without the key — with the key drawn from ``os.urandom`` once per process, and again in a
forked child (or parent and child would draw the same ids).
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Iterator

_key = b""
_counter: Iterator[int] = itertools.count()


def _reseed() -> None:
    global _key, _counter
    _key, _counter = os.urandom(32), itertools.count()


def random_hex(nbytes: int) -> str:
    """``2 * nbytes`` random hex digits (``nbytes`` ≤ 64)."""
    block = next(_counter).to_bytes(16, "little")
    return hashlib.blake2b(block, key=_key, digest_size=nbytes).hexdigest()


_reseed()
os.register_at_fork(after_in_child=_reseed)
