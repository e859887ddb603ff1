"""The embedded store: the real ClickHouse engine in this process, through chDB.

``chdb:///abs/path`` or ``chdb:relative/path``. chDB opens one store path per process and
one process per path, so a second process is refused in one line before chDB prints its
own noise.
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import clickhouse_connect

from consentlog.exceptions import StoreError, StoreLockedError
from consentlog.store.client import ClientStore

SCHEME = "chdb:"


def embedded_path(url: str) -> Path | None:
    """The directory of a ``chdb:`` URL (made absolute), or None for a server URL."""
    if not url.startswith(SCHEME):
        return None
    rest = url[len(SCHEME) :]
    if rest.startswith("//"):
        rest = rest[2:]
    return Path(unquote(rest) or ".consentlog").expanduser().resolve()


def _check_not_locked(path: Path) -> None:
    """chDB locks ``<path>/status``; find a holder before chDB prints its own noise."""
    status = path / "status"
    if not status.exists():
        return
    with open(status, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreLockedError(
                f"the embedded store {path} is in use by another process; stop that process, "
                "or run several processes against a ClickHouse server URL"
            ) from None
        fcntl.flock(handle, fcntl.LOCK_UN)


class EmbeddedStore(ClientStore):
    """A chDB store in a directory of this machine."""

    def __init__(self, url: str, path: Path) -> None:
        super().__init__(url)
        self.path = path
        self._directory = path

    @property
    def description(self) -> str:
        """``chdb:<absolute path>``."""
        return f"chdb:{self._directory}"

    def _connect(self) -> Any:
        path = self._directory
        path.mkdir(parents=True, exist_ok=True)
        _check_not_locked(path)
        try:
            return clickhouse_connect.get_client(dsn=f"chdb://{path}")
        except Exception as exc:
            raise StoreError(f"cannot open the embedded store {path}: {exc}") from None
