"""The spool format: files name their fields, so files written by earlier code — today's
version 1 fixture included — replay after the events change."""

from __future__ import annotations

import json
import shutil
import zlib
from pathlib import Path
from typing import NamedTuple

import pytest

from consentlog.exceptions import CorruptSpoolFile
from consentlog.ingest.events import KINDS, ConsentRecord, Engagement, PageRequest
from consentlog.ingest.spool import decode, encode
from consentlog.ingest.writer import Writer
from consentlog.store import Store

FIXTURES = Path(__file__).resolve().parent / "fixtures"
V1_FILE = FIXTURES / "v1-0f8e3a6c2b1d4e5f9a7b6c5d4e3f2a1b.batch"  # written by the v1 code


class PageRequestWithMore(NamedTuple):
    """``PageRequest`` as it would be after a field is added (with its default)."""

    ts: float
    pageview_id: str
    host: str
    path: str
    route: str
    method: str
    status: int
    response_bytes: int
    duration_ms: float
    referrer: str
    query: str
    user_agent: str
    language: str
    consent_state: str
    visitor_id: str
    session_id: str
    client_ip: str
    consented_copy: bool = False
    country: str = ""
    bot_signal: str = ""
    later: str = ""


def _file(payload: dict[str, object]) -> bytes:
    data = json.dumps(payload, separators=(",", ":")).encode()
    return data + b"\n" + format(zlib.crc32(data), "08x").encode() + b"\n"


def test_version_1_file_reads_back_whole() -> None:
    """The committed v1 file gives its six events with every value, categories as a tuple."""
    batch = decode(V1_FILE.read_bytes())
    assert "0f8e3a6c2b1d4e5f9a7b6c5d4e3f2a1b" == batch.token
    assert 6 == len(batch)
    first = batch.pages[0]
    assert isinstance(first, PageRequest)
    assert "/docs/getting-started" == first.path
    assert "utm_source=newsletter&utm_medium=email&utm_campaign=launch" == first.query
    assert "203.0.113.77" == first.client_ip
    assert ("analytics", "marketing") == batch.consents[0].categories
    assert isinstance(batch.consents[1], ConsentRecord)
    assert () == batch.consents[1].categories
    assert isinstance(batch.engagements[0], Engagement)
    assert (61000, 100, True) == batch.engagements[0][6:]
    assert batch.engagements[1].useful is None


def test_version_2_names_its_fields_and_round_trips() -> None:
    """A file written now carries version 2 and each kind's field names, and reads back equal."""
    batch = decode(V1_FILE.read_bytes())
    data = encode(batch)
    payload = json.loads(data.rstrip(b"\n").rpartition(b"\n")[0])
    assert 2 == payload["v"]
    assert list(PageRequest._fields) == payload["fields"]["pages"]
    assert batch == decode(data)


@pytest.mark.parametrize("version", [1, 2])
def test_an_added_field_takes_its_default(version: int) -> None:
    """Files from before a new event field read into the new event with the field's default."""
    data = V1_FILE.read_bytes() if version == 1 else encode(decode(V1_FILE.read_bytes()))
    kinds = {**KINDS, "pages": PageRequestWithMore}
    batch = decode(data, kinds)  # type: ignore[arg-type]
    assert ["", ""] == [page.later for page in batch.pages]  # type: ignore[attr-defined]
    assert "/pricing" == batch.pages[1].path


def test_a_field_the_event_no_longer_has_is_left_out() -> None:
    """A file from code with an extra field (or a field since removed) still reads."""
    original = decode(V1_FILE.read_bytes()).pages[0]
    newer = [PageRequestWithMore(*original, later="x")]
    fields = {kind: list(t._fields) for kind, t in KINDS.items()}
    fields["pages"] = list(PageRequestWithMore._fields)
    data = _file({"v": 2, "token": "t" * 32, "fields": fields, "pages": newer})
    assert original == decode(data).pages[0]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"v": 3, "token": "t", "pages": []}, "version 3"),
        ({"v": 2, "token": "t", "fields": {"pages": ["ts"], "consents": [], "engagements": []},
          "pages": [[1.0]]}, "field 'pageview_id' is missing"),
        ({"v": 1, "token": "t", "pages": [[1.0, "x"]]}, "2 values for 17 fields"),
        ({"v": 1, "token": "t", "pages": [[[[[[[[]]]]]]]]}, "values for 17 fields"),
    ],
)  # fmt: skip
def test_unreadable_content_is_corrupt(payload: dict[str, object], reason: str) -> None:
    """A file this code cannot read is CorruptSpoolFile naming why (so it is quarantined)."""
    with pytest.raises(CorruptSpoolFile, match=reason):
        decode(_file(payload))


def test_version_1_file_replays_into_the_store(store: Store, database: str, tmp_path: Path) -> None:
    """A spool directory holding the v1 file is replayed: its rows land, once, and it is gone."""
    spool = tmp_path / "spool"
    spool.mkdir()
    shutil.copy(V1_FILE, spool / f"00000000000000000001000-{V1_FILE.name.split('-', 1)[1]}")
    writer = Writer(store, database=database, spool_dir=spool, flush_interval=0.02)
    assert writer.flush(30)
    writer.stop()
    counts = {
        table: store.query(f"SELECT count() FROM {database}.{table}")[1][0][0]
        for table in ("page_requests", "consent_records", "engagements")
    }
    assert {"page_requests": 2, "consent_records": 2, "engagements": 2} == counts
    assert [] == list(spool.glob("*.batch"))
    _, rows = store.query(
        f"SELECT path, utm_source, ip_prefix, language FROM {database}.page_requests ORDER BY ts"
    )
    assert [
        ("/docs/getting-started", "newsletter", "203.0.113.0/24", "de"),
        ("/pricing", "", "", "en"),
    ] == rows


def test_deeply_nested_json_is_corrupt_not_fatal() -> None:
    """A file that verifies but nests too deep to parse is corrupt (set aside, not retried)."""
    payload = b"[" * 100_000 + b"]" * 100_000
    data = payload + b"\n" + format(zlib.crc32(payload), "08x").encode() + b"\n"
    with pytest.raises(CorruptSpoolFile, match="RecursionError"):
        decode(data)
