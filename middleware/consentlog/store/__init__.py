"""The ClickHouse store: embedded chDB or a ClickHouse server, and the schema.

``open_store(url)`` gives the process-wide ``Store`` for a URL: ``embedded`` for
``chdb:`` URLs (owned by one process, served by it to the others: ``ownership``,
``serving``), ``remote`` for ``http(s)://``. Within one process every user of the same
URL shares one store; nothing connects until first used, so a process that forks
(``gunicorn --preload``) hands its children no open store. A child forgets the stores
of its parent.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading

from consentlog.settings import Settings
from consentlog.store.embedded import EmbeddedStore, Serving, embedded_path
from consentlog.store.protocol import Rows, Store
from consentlog.store.remote import RemoteStore

__all__ = ["Rows", "Serving", "Store", "embedded_path", "open_store", "store_for"]

_stores: dict[str, Store] = {}
_registry_lock = threading.Lock()


def open_store(url: str, serving: Serving | None = None) -> Store:
    """The process-wide ``Store`` for ``url`` (not connected until first used).
    ``serving`` says how this process serves an embedded store should it become the
    owner; the first caller's choice holds."""
    path = embedded_path(url)
    key = f"chdb:{path}" if path is not None else url
    with _registry_lock:
        if key not in _stores:
            _stores[key] = (
                EmbeddedStore(url, path, serving) if path is not None else RemoteStore(url)
            )
        return _stores[key]


def store_for(settings: Settings) -> Store:
    """The store ``settings`` name, served as they say should this process own it."""
    return open_store(
        settings.clickhouse_url,
        Serving(
            listen=settings.serve_listen,
            writer_password=settings.serve_password,
            analyst_password=settings.serve_analyst_password,
        ),
    )


@atexit.register
def _close_stores() -> None:
    """At exit an owner finishes the requests it is serving and gives its store up, so
    the next process takes over at once rather than after its guests time out."""
    for store in list(_stores.values()):
        with contextlib.suppress(Exception):
            store.close()


def _forget_parent_stores() -> None:
    global _registry_lock
    _stores.clear()  # the parent's connections and threads are not this process's
    _registry_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_parent_stores)
