"""The ClickHouse store: embedded chDB or a ClickHouse server, and the schema.

``open_store(url)`` gives the process-wide ``Store`` for a URL: ``embedded`` for
``chdb:`` URLs, ``remote`` for ``http(s)://``. Within one process every user of the same
URL shares one store (chDB cannot open a path twice); nothing connects until first used.
"""

from __future__ import annotations

import threading

from consentlog.store.embedded import EmbeddedStore, embedded_path
from consentlog.store.protocol import Rows, Store
from consentlog.store.remote import RemoteStore

__all__ = ["Rows", "Store", "embedded_path", "open_store"]

_stores: dict[str, Store] = {}
_registry_lock = threading.Lock()


def open_store(url: str) -> Store:
    """The process-wide ``Store`` for ``url`` (not connected until first used)."""
    path = embedded_path(url)
    key = f"chdb:{path}" if path is not None else url
    with _registry_lock:
        if key not in _stores:
            _stores[key] = EmbeddedStore(url, path) if path is not None else RemoteStore(url)
        return _stores[key]
