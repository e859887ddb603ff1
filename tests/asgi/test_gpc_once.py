"""A GPC refusal is recorded once per browser, so the GPC share is a share of browsers."""

from __future__ import annotations

from starlette.testclient import TestClient

from consentlog.testing import MemorySink
from tests.helpers import MakeApp

GPC = {"sec-gpc": "1"}
ENTRY = GPC | {"sec-fetch-site": "none", "sec-fetch-dest": "document"}
FOLLOW = GPC | {"sec-fetch-site": "same-origin", "sec-fetch-dest": "document"}


def _records(client: TestClient) -> int:
    sink = client.app.writer  # type: ignore[attr-defined]
    assert isinstance(sink, MemorySink)
    return len(sink.consents)


def test_a_browser_keeping_the_cookie_is_recorded_once(make_app: MakeApp) -> None:
    """Ten pages with the consent cookie the first one set: one gpc record."""
    client = TestClient(make_app())
    client.get("/", headers=ENTRY)
    for i in range(9):
        assert 200 == client.get(f"/docs/{i}", headers=FOLLOW).status_code
    assert 1 == _records(client)
    assert ["gpc"] == [r.source for r in client.app.writer.consents]  # type: ignore[attr-defined]


def test_a_browser_dropping_the_cookie_is_recorded_once_per_entry(make_app: MakeApp) -> None:
    """Without the returned cookie, pages following one of this site (Sec-Fetch-Site or,
    without it, the Referer) are the same browser: only the entry page records."""
    client = TestClient(make_app(), cookies=None)
    for _ in range(3):
        client.get("/", headers=ENTRY)
        client.cookies.clear()
        for i in range(4):
            client.get(f"/docs/{i}", headers=FOLLOW)
            client.get(f"/docs/{i}", headers=GPC | {"referer": f"http://testserver/docs/{i}"})
            client.cookies.clear()
    assert 3 == _records(client)


def test_embedded_frames_and_fetches_are_not_visits(make_app: MakeApp) -> None:
    """A cross-site frame (whose Lax cookie is never kept) and an HTML fetch record
    nothing; a navigation from another site records once."""
    client = TestClient(make_app())
    for destination in ("iframe", "empty"):
        headers = GPC | {"sec-fetch-site": "cross-site", "sec-fetch-dest": destination}
        client.get("/", headers=headers)
        client.cookies.clear()
    assert 0 == _records(client)
    client.get("/", headers=GPC | {"sec-fetch-site": "cross-site", "sec-fetch-dest": "document"})
    assert 1 == _records(client)


def test_a_renewed_decision_is_recorded(make_app: MakeApp) -> None:
    """A browser that sends a consent cookie which no longer counts (a policy revision
    later) gets its new gpc decision recorded, even on a follow-up page."""
    first = TestClient(make_app(policy_revision=1))
    first.get("/", headers=ENTRY)
    second = TestClient(make_app(policy_revision=2), cookies=first.cookies)
    second.get("/docs/a", headers=FOLLOW)
    second.get("/docs/b", headers=FOLLOW)
    assert (1, 1) == (_records(first), _records(second))
