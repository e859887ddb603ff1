"""An erasure that can be neither carried out nor kept leaves the visitor able to retry."""

from __future__ import annotations

import asyncio
from pathlib import Path

from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.testing import call, http_scope, visitor_cookies
from tests.helpers import SECRET, host_app


def test_a_failed_erasure_keeps_the_ids_it_needs(tmp_path: Path) -> None:
    """Store down and the spool unwritable: 503 asking to retry, and the visitor and
    consent cookies are not expired (a retry must still prove whose data it is)."""
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("x")
    app = ConsentMiddleware(
        host_app(),
        secret_keys=[SECRET],
        clickhouse_url="http://127.0.0.1:9/",
        spool_dir=str(blocked / "spool"),
        flush_interval=0.05,
    )
    headers = [(b"cookie", visitor_cookies(app).encode()), (b"sec-fetch-site", b"same-origin")]
    try:
        answer = asyncio.run(
            call(app, http_scope("/_consent/forget", method="POST", headers=headers))
        )
    finally:
        app.writer.stop(1)
    assert 503 == answer.status
    assert [] == answer.header_values(b"set-cookie")
