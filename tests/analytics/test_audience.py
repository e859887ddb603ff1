"""Differential tests of the audience reports — countries — against an independent
computation in Python over the raw events of the generated data set."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import pytest

from consentlog.analytics import reports
from consentlog.ingest.events import Engagement, PageRequest
from consentlog.ingest.geo import country_code
from consentlog.ingest.writer import Writer
from consentlog.store import Store
from tests.helpers import BOT, DAY, generate


@pytest.fixture(scope="module")
def loaded(
    store: Store, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, list[PageRequest], list[Engagement]]:
    database = "audience_differential"
    store.command(f"DROP DATABASE IF EXISTS {database} SYNC")
    pages, engagements = generate()
    writer = Writer(
        store, database=database, spool_dir=tmp_path_factory.mktemp("spool"),
        batch_size=5000, flush_interval=0.05,
    )  # fmt: skip
    for event in [*pages, *engagements]:
        writer.submit(event)
    assert writer.stop(60)
    return database, pages, engagements


def _human_views(pages: list[PageRequest], path: str = "") -> list[PageRequest]:
    return [
        p for p in pages
        if p.user_agent != BOT and not p.consented_copy and (not path or p.path == path)
    ]  # fmt: skip


@pytest.mark.parametrize("path", ["", "/pricing"])
def test_countries_equal_an_independent_count(store: Store, loaded: Any, path: str) -> None:
    database, pages, _ = loaded
    views: Counter[str] = Counter()
    anonymous: Counter[str] = Counter()
    visitors: dict[str, set[str]] = defaultdict(set)
    for p in _human_views(pages, path):
        code = country_code(p.country)  # the CDN header as the writer keeps it
        views[code] += 1
        anonymous[code] += p.consent_state != "granted"
        if p.visitor_id:
            visitors[code].add(p.visitor_id)
    want = sorted(
        (reports.Country(c, n, len(visitors[c]), anonymous[c]) for c, n in views.items()),
        key=lambda r: (-r.views, r.country),
    )
    assert "" in views
    assert "DE" in views
    assert want == reports.countries(store, database, DAY, DAY, path=path)
    assert want[:2] == reports.countries(store, database, DAY, DAY, path=path, limit=2)
