"""``ClientStore``: one clickhouse-connect client shared by a process's threads.

The embedded and the server store differ only in how the client is opened
(``_connect``); running statements, queries and inserts is the same, serialised by a
lock because neither client is safe to share between threads unlocked.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from consentlog.store.protocol import Rows

T = TypeVar("T")


class ClientStore:
    """A store reached through a clickhouse-connect client, opened on first use."""

    path: Path | None = None

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.RLock()
        self._client: Any = None

    @property
    def description(self) -> str:
        """Where the store is, without credentials."""
        raise NotImplementedError

    def _connect(self) -> Any:
        """A connected clickhouse-connect client; ``StoreError`` naming the problem if not."""
        raise NotImplementedError

    def client(self) -> Any:
        """The connected clickhouse-connect client, opened on first use."""
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _call(self, work: Callable[[Any], T]) -> T:
        """Run ``work(client)`` under the lock (an embedded guest retries it on a new owner)."""
        with self._lock:
            return work(self.client())

    def command(
        self,
        sql: str,
        settings: dict[str, Any] | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> Any:
        """Run a statement that returns no rows."""
        return self._call(lambda c: c.command(sql, parameters=parameters, settings=settings))

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> Rows:
        """Column names and rows of a query."""
        result = self._call(lambda c: c.query(sql, parameters=parameters))
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
        self._call(
            lambda c: c.insert(
                table,
                columns,
                column_names=list(column_names),
                column_oriented=True,
                settings={"insert_deduplication_token": dedup_token},
            )
        )

    def insert_arrow(self, table: str, data: Any, *, dedup_token: str) -> None:
        """Insert an Arrow table once: a retry with the same token is deduplicated."""
        self._call(
            lambda c: c.insert_arrow(
                table, data, settings={"insert_deduplication_token": dedup_token}
            )
        )

    def close(self) -> None:
        """Close the connection (the next call reopens it)."""
        with self._lock:
            if self._client is not None:
                with contextlib.suppress(Exception):
                    self._client.close()
                self._client = None
