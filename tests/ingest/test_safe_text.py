"""Headers with control characters (UTF-8 read as latin-1 gives C1 controls) are kept
with the characters replaced: the page view and the proof of a decision are written."""

from __future__ import annotations

import asyncio

from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.ingest.enrich import Enricher
from consentlog.ingest.events import safe_text
from consentlog.ingest.spool import Batch
from consentlog.testing import MemorySink, call, http_scope, visitor_cookies
from tests.helpers import SECRET, host_app

UTF8_AGENT = "Mozilla/5.0 (X11; Linux) Ā Браузер".encode()  # bytes 0x80-0x9f among them


def test_safe_text_replaces_only_what_no_row_may_hold() -> None:
    """Control characters and lone surrogates become U+FFFD; the rest is kept."""
    assert "plain /docs?a=1" == safe_text("plain /docs?a=1")
    assert "é ☃" == safe_text("é ☃")
    assert "a\ufffdb\ufffdc\ufffd" == safe_text("a\x01b\x85c\ud800")


def test_odd_headers_cost_no_page_view_and_no_consent_record() -> None:
    """A consent POST and pages with a UTF-8 user agent and a control character in the
    path all become rows; none is rejected by the writer."""
    sink = MemorySink()
    app = ConsentMiddleware(host_app(), secret_keys=[SECRET], writer=sink)
    agent = [(b"user-agent", UTF8_AGENT)]

    async def run() -> list[int]:
        decided = await call(
            app,
            http_scope("/_consent", method="POST", headers=[
                (b"content-type", b"application/json"), *agent]),
            b'{"action": "accept_all"}',
        )  # fmt: skip
        cookies = [(b"cookie", visitor_cookies(app).encode())]
        pages = [
            await call(app, http_scope(path, headers=[*cookies, *agent]))
            for path in ("/", "/docs/a\x01b")
        ]
        return [decided.status, *(p.status for p in pages)]

    assert [200, 200, 200] == asyncio.run(run())
    rows = Enricher().tables(Batch("t" * 32, pages=sink.pages, consents=sink.consents))
    assert 0 == rows.rejected
    assert 2 == rows.tables["page_requests"].num_rows
    assert 1 == rows.tables["consent_records"].num_rows
