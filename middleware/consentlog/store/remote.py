"""A ClickHouse server (or cluster) over its HTTP interface.

``http(s)://user:pass@host:port``; without a user or password in the URL,
``CLICKHOUSE_USER`` / ``CLICKHOUSE_PASSWORD`` (clickhouse-connect's own variables) apply.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any
from urllib.parse import unquote, urlsplit

import clickhouse_connect

from consentlog.exceptions import StoreError
from consentlog.store.client import ClientStore

_connecting = threading.local()  # set while this thread opens a RemoteStore's client


class _QuietWhileConnecting(logging.Filter):
    """clickhouse-connect warns ("Unexpected Http Driver Exception") when a server cannot
    be reached; on connecting, the StoreError raised instead says it in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_connecting, "active", False)


# (a filter applies to the logger it is on: this is the one that warns)
logging.getLogger("clickhouse_connect.driver._backend.http_sync").addFilter(_QuietWhileConnecting())


class RemoteStore(ClientStore):
    """A ClickHouse server reached over HTTP(S)."""

    @property
    def description(self) -> str:
        """Scheme, host, port and path of the URL — never its credentials."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        shown = f"[{host}]" if ":" in host else host  # an IPv6 address, as URLs write it
        address = parts.netloc.rpartition("@")[2]  # as written: a bad port is shown, not raised
        _, colon, port = address.rpartition("]")[2].partition(":")
        return f"{parts.scheme}://{shown}{colon}{port}{parts.path}"

    def _connect(self) -> Any:
        parts = urlsplit(self.url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise StoreError(
                f"unsupported ClickHouse URL scheme {parts.scheme!r}: use chdb:///path, "
                "http://user:pass@host:8123 or https://…"
            )
        try:
            port = parts.port or (8443 if parts.scheme == "https" else 8123)
        except ValueError:
            raise StoreError(
                f"the port of the ClickHouse URL {self.description} is not a number from 1 to "
                "65535: fix clickhouse_url"
            ) from None
        _connecting.active = True
        try:
            return clickhouse_connect.get_client(
                host=parts.hostname,
                port=port,
                username=unquote(parts.username or os.environ.get("CLICKHOUSE_USER", "default")),
                password=unquote(parts.password or os.environ.get("CLICKHOUSE_PASSWORD", "")),
                secure=parts.scheme == "https",
                compress=True,
            )
        except Exception as exc:
            raise StoreError(f"cannot reach ClickHouse at {self.description}: {exc}") from None
        finally:
            _connecting.active = False
