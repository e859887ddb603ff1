"""Opening the ClickHouse store a URL names: embedded chDB or a ClickHouse server.

``chdb:///abs/path`` or ``chdb:relative/path`` opens the real ClickHouse engine
in-process; it belongs to one process at a time. ``http(s)://user:pass@host:port/db``
talks to a ClickHouse server. Within one process every user of the same URL shares one
``Store`` (chDB cannot open a path twice), and calls are serialised by a lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import clickhouse_connect

from consentlog.exceptions import StoreError, StoreLockedError


def embedded_path(url: str) -> Path | None:
    """The directory of a ``chdb:`` URL (made absolute), or None for a server URL."""
    if not url.startswith("chdb:"):
        return None
    rest = url[len("chdb:") :]
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


class Store:
    """One ClickHouse connection, shared by the threads of this process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = embedded_path(url)
        self._lock = threading.RLock()
        self._client: Any = None
        self._users = 0

    @property
    def description(self) -> str:
        """Where the store is, without credentials."""
        if self.path is not None:
            return f"chdb:{self.path}"
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname}:{parts.port or ''}{parts.path}"

    def client(self) -> Any:
        """The connected clickhouse-connect client, opened on first use."""
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _connect(self) -> Any:
        if self.path is not None:
            self.path.mkdir(parents=True, exist_ok=True)
            _check_not_locked(self.path)
            try:
                return clickhouse_connect.get_client(dsn=f"chdb://{self.path}")
            except Exception as exc:
                raise StoreError(f"cannot open the embedded store {self.path}: {exc}") from None
        parts = urlsplit(self.url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise StoreError(
                f"unsupported ClickHouse URL scheme {parts.scheme!r}: use chdb:///path, "
                "http://user:pass@host:8123 or https://…"
            )
        try:
            return clickhouse_connect.get_client(
                host=parts.hostname,
                port=parts.port or (8443 if parts.scheme == "https" else 8123),
                username=unquote(parts.username or os.environ.get("CLICKHOUSE_USER", "default")),
                password=unquote(parts.password or os.environ.get("CLICKHOUSE_PASSWORD", "")),
                secure=parts.scheme == "https",
                compress=True,
            )
        except Exception as exc:
            raise StoreError(f"cannot reach ClickHouse at {self.description}: {exc}") from None

    def command(
        self,
        sql: str,
        settings: dict[str, Any] | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> Any:
        """Run a statement that returns no rows."""
        with self._lock:
            return self.client().command(sql, parameters=parameters, settings=settings)

    def query(
        self, sql: str, parameters: dict[str, Any] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Column names and rows of a query."""
        with self._lock:
            result = self.client().query(sql, parameters=parameters)
            return list(result.column_names), [tuple(r) for r in result.result_rows]

    def insert(
        self,
        table: str,
        columns: Sequence[Sequence[Any]],
        column_names: Sequence[str],
        *,
        dedup_token: str,
    ) -> None:
        """Insert column-oriented data once: a retry with the same token is deduplicated."""
        with self._lock:
            self.client().insert(
                table,
                columns,
                column_names=list(column_names),
                column_oriented=True,
                settings={"insert_deduplication_token": dedup_token},
            )

    def insert_arrow(self, table: str, data: Any, *, dedup_token: str) -> None:
        """Insert an Arrow table once: a retry with the same token is deduplicated."""
        with self._lock:
            self.client().insert_arrow(
                table, data, settings={"insert_deduplication_token": dedup_token}
            )

    def close(self) -> None:
        """Close the connection (the next call reopens it)."""
        with self._lock:
            if self._client is not None:
                with contextlib.suppress(Exception):
                    self._client.close()
                self._client = None


_stores: dict[str, Store] = {}
_registry_lock = threading.Lock()


def open_store(url: str) -> Store:
    """The process-wide ``Store`` for ``url`` (not connected until first used)."""
    path = embedded_path(url)
    key = f"chdb:{path}" if path is not None else url
    with _registry_lock:
        if key not in _stores:
            _stores[key] = Store(url)
        return _stores[key]
