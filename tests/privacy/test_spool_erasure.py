"""Erasure reaches the spool: events still waiting on disk lose the subject's rows."""

from __future__ import annotations

import json
import uuid

import pytest

from consentlog.cli import main
from consentlog.ingest.events import PageRequest
from consentlog.ingest.spool import Batch, Spool, default_spool_dir
from consentlog.store import Store
from consentlog.store.schema import migrate


def _page(visitor: str) -> PageRequest:
    return PageRequest(
        1764590400.0, uuid.uuid4().hex, "example.org", "/docs", "", "GET", 200, 1, 1.0, "",
        "", "Chrome", "en", "granted", visitor, "s" * 22, "203.0.113.0",
    )  # fmt: skip


def test_cli_forget_takes_the_visitor_out_of_the_spool(
    store: Store, store_url: str, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`consentlog forget --visitor V` removes V's waiting events and keeps everyone else's."""
    migrate(store, database)
    spool = Spool(default_spool_dir(store, database))
    spool.write(Batch(uuid.uuid4().hex, pages=[_page("gone-visitor"), _page("kept-visitor")]))
    code = main(["forget", "--visitor", "gone-visitor", "--clickhouse-url", store_url,
                 "--database", database])  # fmt: skip
    assert 0 == code
    assert 1 == json.loads(capsys.readouterr().out.splitlines()[-1])["spooled_events_erased"]
    [left] = [spool.read(path) for path in spool.files()]
    assert ["kept-visitor"] == [page.visitor_id for page in left.pages]
