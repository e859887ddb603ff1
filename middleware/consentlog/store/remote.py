"""A ClickHouse server (or cluster) over its HTTP interface.

``http(s)://user:pass@host:port``; without a user or password in the URL,
``CLICKHOUSE_USER`` / ``CLICKHOUSE_PASSWORD`` (clickhouse-connect's own variables) apply.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote, urlsplit

import clickhouse_connect

from consentlog.exceptions import StoreError
from consentlog.store.client import ClientStore


class RemoteStore(ClientStore):
    """A ClickHouse server reached over HTTP(S)."""

    @property
    def description(self) -> str:
        """Scheme, host, port and path of the URL — never its credentials."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname}:{parts.port or ''}{parts.path}"

    def _connect(self) -> Any:
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
