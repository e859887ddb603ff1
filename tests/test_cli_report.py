"""`consentlog report` in-process on the session's store: several sites are told apart."""

from __future__ import annotations

import datetime
import time
import uuid

import pytest

from consentlog.cli import main
from consentlog.ingest.events import PageRequest
from consentlog.ingest.writer import Writer
from consentlog.store import Store

DAY = datetime.date(2026, 11, 20)
HUMAN = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0"


def _view(host: str, path: str) -> PageRequest:
    ts = time.mktime((DAY.year, DAY.month, DAY.day, 9, 0, 0, 0, 0, 0)) - time.timezone
    return PageRequest(
        ts, uuid.uuid4().hex, host, path, "", "GET", 200, 100, 1.0, "", "", HUMAN, "en",
        "unknown", "", "", "",
    )  # fmt: skip


def test_report_groups_by_host_without_default_ports(
    store: Store, store_url: str, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """With pages of two sites, each row names its host, a default port left out."""
    writer = Writer(store, database=database, flush_interval=0.05)
    for event in (_view("example.org:443", "/a"), _view("docs.example", "/b")):
        writer.submit(event)
    assert writer.stop(30)
    code = main(["report", "--clickhouse-url", store_url, "--database", database,
                 "--start", str(DAY), "--end", str(DAY)])  # fmt: skip
    assert 0 == code
    out = capsys.readouterr().out.splitlines()
    table = out[next(i for i, line in enumerate(out) if line.startswith("Page usefulness")) + 1 :]
    assert ["host", "path"] == table[0].split()[:2]
    assert [["docs.example", "/b"], ["example.org", "/a"]] == [r.split()[:2] for r in table[1:]]
