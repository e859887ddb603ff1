"""The rollup hook: a failure is logged in the writer's words — a code and a name, never
the text of the engine's message (which may quote rows)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog

from consentlog.analytics.schedule import RollupSchedule
from consentlog.ingest.writer import Writer
from consentlog.store import Store


class Refusing:
    """A store whose every query is refused with a message that quotes a value."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        raise RuntimeError(
            "Code: 236. DB::Exception: The server is shutting down: visitor abc123 (ABORTED)"
        )

    command = query


def test_a_failed_rollup_logs_code_and_name_only(
    store: Store, database: str, tmp_path: Path
) -> None:
    """``rollup_failed`` says ``ClickHouse error 236 (ABORTED)`` and nothing of the message."""
    writer = Writer(Refusing(store), database=database, spool_dir=tmp_path)  # type: ignore[arg-type]
    writer._prepared = True
    with structlog.testing.capture_logs() as logs:
        RollupSchedule(600)(writer)
    [failed] = [entry for entry in logs if entry["event"] == "rollup_failed"]
    assert "ClickHouse error 236 (ABORTED)" == failed["error"]
