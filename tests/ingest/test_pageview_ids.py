"""Which page-view ids the writer keeps: UUIDs as issued or in their canonical form."""

from __future__ import annotations

import uuid

import pytest

from consentlog.ingest.events import page_view_ids


@pytest.mark.parametrize(
    "ids",
    [
        [uuid.uuid4().hex],
        [str(uuid.uuid4())],
        [uuid.uuid4().hex.upper(), str(uuid.uuid4())],
    ],
)
def test_uuids_arepage_view_ids(ids: list[str]) -> None:
    """32 hex digits and the 8-4-4-4-12 form (either case) are both kept."""
    assert page_view_ids(ids)


@pytest.mark.parametrize(
    "bad",
    ["", "x" * 32, uuid.uuid4().hex[:31], str(uuid.uuid4()).replace("-", "_"), "-" * 36, 42],
)
def test_anything_else_is_not(bad: object) -> None:
    """A string that is no UUID (or no string at all) is refused."""
    assert not page_view_ids([uuid.uuid4().hex, bad])
