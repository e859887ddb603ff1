"""The ClickHouse store: embedded chDB or a ClickHouse server, and the schema."""

from consentlog.store.client import Store, embedded_path, open_store

__all__ = ["Store", "embedded_path", "open_store"]
