"""The ClickHouse store: embedded chDB or a ClickHouse server, and the schema."""

from consentlog.store.client import Store, StoreError, StoreLockedError, embedded_path, open_store

__all__ = ["Store", "StoreError", "StoreLockedError", "embedded_path", "open_store"]
