"""Who owns an embedded store: an OS lock, and a file saying where the owner serves it.

chDB opens a store directory in one process only. The first consentlog process to open it
takes ``<store>/consentlog-owner.lock`` (``flock``, held for as long as it owns the store,
released by the OS when the process dies however it dies) before chDB opens, serves the
store over the ClickHouse HTTP interface on loopback, and writes the address and the
read-write credentials to ``<store>/consentlog-owner.json`` (mode 0600). Every other
process reads that file and works through the owner. When the lock is free again, the next
process to need the store takes it.

A child forked from an owner inherits the lock's descriptor; it closes its copy at once
(the parent keeps the lock) and never takes over the store, because the chDB engine it
inherited in memory is not one it can run.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from consentlog.store.serving.users import write_private

LOCK_FILE = "consentlog-owner.lock"
OWNER_FILE = "consentlog-owner.json"

_held: dict[Path, int] = {}  # store directory -> the lock's descriptor, in this process
_inherited = False  # this process was forked from one that owned a store


@dataclass(frozen=True, slots=True)
class Owner:
    """Where a store's owner serves it, and how to log in as the read-write user."""

    pid: int
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    since: float = 0.0
    scheme: str = "http"  # https when the owner serves with TLS (consentlog serve --tls-cert)

    def alive(self) -> bool:
        """Is the process that wrote this still running (on this machine)?"""
        return running(self.pid)


def running(pid: int) -> bool:
    """Is process ``pid`` running on this machine (as any user)?"""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # running, as another user
    return True


def take(directory: Path) -> bool:
    """Take the store's lock if it is free (True), without waiting."""
    if _inherited:
        return False
    directory = directory.resolve()
    if directory in _held:
        return True
    descriptor = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return False
    _held[directory] = descriptor
    return True


def release(directory: Path) -> None:
    """Give up the store's lock (and the owner file, if it is this process's)."""
    directory = directory.resolve()
    descriptor = _held.pop(directory, None)
    if descriptor is None:
        return
    owner = read_owner(directory)
    if owner is not None and owner.pid == os.getpid():
        with contextlib.suppress(OSError):
            (directory / OWNER_FILE).unlink()
    os.close(descriptor)  # closing the descriptor releases the flock


def owns(directory: Path) -> bool:
    """Does this process hold the store's lock?"""
    return directory.resolve() in _held


def publish(directory: Path, owner: Owner) -> None:
    """Write the owner file (0600, atomically) once the store is being served."""
    write_private(
        directory / OWNER_FILE,
        json.dumps(
            {
                "pid": owner.pid,
                "host": owner.host,
                "port": owner.port,
                "user": owner.user,
                "password": owner.password,
                "since": owner.since or time.time(),
                "scheme": owner.scheme,
            }
        ),
    )


def read_owner(directory: Path) -> Owner | None:
    """The owner file's contents, or None when there is none (or it is half-written)."""
    try:
        data = json.loads((directory / OWNER_FILE).read_text(encoding="utf-8"))
        return Owner(
            pid=int(data["pid"]),
            host=str(data["host"]),
            port=int(data["port"]),
            user=str(data["user"]),
            password=str(data["password"]),
            since=float(data.get("since", 0.0)),
            scheme="https" if data.get("scheme") == "https" else "http",
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _after_fork_in_child() -> None:
    global _inherited
    if _held:
        _inherited = True
    for directory in _held:
        _close_descriptors_into(directory)
    for descriptor in _held.values():
        with contextlib.suppress(OSError):
            os.close(descriptor)
    _held.clear()


def _close_descriptors_into(directory: Path) -> None:
    """Close this process's descriptors of files in ``directory`` — in a forked child,
    chDB's lock on ``<store>/status`` among them, which would keep any new owner out for as
    long as the child lives (Linux: read from ``/proc/self/fd``)."""
    prefix = f"{directory}{os.sep}"
    try:
        entries = os.listdir("/proc/self/fd")
    except OSError:
        return
    for entry in entries:
        with contextlib.suppress(OSError, ValueError):
            if os.readlink(f"/proc/self/fd/{entry}").startswith(prefix):
                os.close(int(entry))


os.register_at_fork(after_in_child=_after_fork_in_child)
