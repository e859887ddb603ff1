"""The core object: a writer handed to the middleware gets the site's hooks, once."""

from __future__ import annotations

from pathlib import Path

from consentlog.analytics.schedule import RollupSchedule
from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.ingest.status import StatusFile
from consentlog.ingest.writer import Writer
from consentlog.privacy.pending import ErasureHook
from consentlog.privacy.revisions import RevisionsHook
from consentlog.store import open_store
from consentlog.testing import MemorySink
from tests.helpers import SECRET, host_app


def test_a_writer_handed_in_gets_the_status_file_and_the_rollup(tmp_path: Path) -> None:
    """As the middleware's own writer does (and the store of banner revisions); two
    middlewares sharing it attach them once."""
    writer = Writer(open_store(f"chdb://{tmp_path / 'never-opened'}"), database="shared")
    assert () == writer.hooks
    for _ in range(2):
        ConsentMiddleware(host_app(), secret_keys=[SECRET], writer=writer, rollup_interval=60)
    assert [StatusFile, RollupSchedule, ErasureHook, RevisionsHook] == [
        type(hook) for hook in writer.hooks
    ]
    assert 60 == writer.hooks[1].interval  # type: ignore[attr-defined]


def test_another_sink_is_used_as_it_is() -> None:
    """A sink that is not a Writer (here the in-memory one) gets no hooks and is the sink."""
    sink = MemorySink()
    middleware = ConsentMiddleware(host_app(), secret_keys=[SECRET], writer=sink)
    assert sink is middleware.writer
