"""The ``Store`` protocol: what the rest of consentlog needs from a ClickHouse store.

Two implementations: ``embedded.EmbeddedStore`` (chDB in this process) and
``remote.RemoteStore`` (a ClickHouse server over HTTP). Code above this package is typed
against the protocol, so a test can hand in a fault-injecting wrapper.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

Rows = tuple[list[str], list[tuple[Any, ...]]]  # column names, rows


class Store(Protocol):
    """One ClickHouse store, shared by the threads of a process."""

    url: str
    path: Path | None  # the directory of an embedded store; None for a server

    @property
    def description(self) -> str:
        """Where the store is, without credentials."""
        ...

    def command(
        self,
        sql: str,
        settings: dict[str, Any] | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> Any:
        """Run a statement that returns no rows."""
        ...

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> Rows:
        """Column names and rows of a query."""
        ...

    def insert(
        self,
        table: str,
        columns: Sequence[Sequence[Any]],
        column_names: Sequence[str],
        *,
        dedup_token: str,
    ) -> None:
        """Insert column-oriented data once: a retry with the same token is deduplicated."""
        ...

    def insert_arrow(self, table: str, data: Any, *, dedup_token: str) -> None:
        """Insert an Arrow table once: a retry with the same token is deduplicated."""
        ...

    def close(self) -> None:
        """Close the connection (the next call reopens it)."""
        ...
