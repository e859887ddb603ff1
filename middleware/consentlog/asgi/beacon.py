"""``POST /_consent/beacon``: engagement, votes and single-page-app views from the page.

Only for a visitor who accepted analytics and has a session cookie. Every field is
checked: the page-view token must have been issued for this session and path, times and
percentages must be in range, and nothing else may be in the body. Two kinds of body:

- engagement: ``{"pv": token, "path": "/docs", "engaged_ms": 5300, "scroll_pct": 100,
  "useful": true | false | null}`` → a row in ``engagements``; answered 204;
- navigation: ``{"pv": token, "path": "/docs", "nav": "/docs/next"}`` (a single-page app
  changed its URL) → a virtual page view in ``page_requests``; answered 200 with the new
  page view's token ``{"pv": …}``.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.types import Receive

from consentlog.asgi.body import json_object, read_body
from consentlog.asgi.core import ConsentCore
from consentlog.consent.http import text
from consentlog.consent.visit import Identifiers, Visit
from consentlog.exceptions import BadRequest
from consentlog.ingest.events import Engagement, page_request
from consentlog.settings import ANALYTICS

MAX_BEACON_BYTES = 2048
MAX_ENGAGED_MS = 24 * 60 * 60 * 1000  # a day: anything longer is a broken clock
_ENGAGEMENT_FIELDS = frozenset(("pv", "path", "engaged_ms", "scroll_pct", "useful"))
_NAVIGATION_FIELDS = frozenset(("pv", "path", "nav"))


def _path(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.startswith("/") or len(value) > 1024:
        raise BadRequest(400, f"'{field}' must be a path starting with '/' (≤ 1024 characters)")
    return value


def _integer(payload: dict[str, Any], field: str, high: int) -> int:
    value = payload.get(field)
    if type(value) is not int or not 0 <= value <= high:
        raise BadRequest(400, f"'{field}' must be an integer from 0 to {high}")
    return value


class Beacon:
    """Validates beacon bodies and queues what they report."""

    def __init__(self, core: ConsentCore) -> None:
        self.core = core
        self.settings = core.settings

    async def __call__(
        self, visit: Visit, receive: Receive, headers: dict[bytes, bytes]
    ) -> Response:
        """Answer one beacon request (cross-site requests are refused before this)."""
        decision, _ = self.core.effective_decision(visit)
        if decision is None or ANALYTICS not in decision.accepted:
            raise BadRequest(403, "the beacon needs analytics consent")
        session_id = visit.cookies.get(self.settings.session_cookie, "")
        visitor_id = visit.cookies.get(self.settings.visitor_cookie, "")
        if not session_id or not visitor_id:
            raise BadRequest(403, "no analytics session: load a page first")
        content_type = text(headers, b"content-type", 100).split(";", 1)[0].strip().lower()
        if content_type not in {"application/json", "text/plain"}:  # sendBeacon sends text
            raise BadRequest(415, "send the beacon as application/json or text/plain JSON")
        payload = json_object(await read_body(receive, headers, MAX_BEACON_BYTES), "beacon body")
        path = _path(payload.get("path"), "path")
        token = payload.get("pv")
        pageview_id = (
            self.core.pageviews.verify(token, session_id, path) if isinstance(token, str) else None
        )
        if pageview_id is None:
            raise BadRequest(403, "'pv' is not a page view of this session and path")
        keys = set(payload)
        if keys <= _NAVIGATION_FIELDS and "nav" in keys:
            return self._navigate(visit, session_id, visitor_id, _path(payload["nav"], "nav"))
        if not keys <= _ENGAGEMENT_FIELDS:
            raise BadRequest(400, f"unknown field {sorted(keys - _ENGAGEMENT_FIELDS)[0][:50]!r}")
        useful = payload.get("useful")
        if useful is not None and not isinstance(useful, bool):
            raise BadRequest(400, "'useful' must be true, false or null")
        self.core.sink.submit(
            Engagement(
                time.time(),
                pageview_id,
                visitor_id,
                session_id,
                visit.origin.host,
                path,
                _integer(payload, "engaged_ms", MAX_ENGAGED_MS),
                _integer(payload, "scroll_pct", 100),
                useful,
            )
        )
        return Response(status_code=204, headers={"cache-control": "no-store"})

    def _navigate(self, visit: Visit, session_id: str, visitor_id: str, path: str) -> Response:
        """A single-page app moved to ``path``: log a virtual page view, issue its token."""
        pageview_id, token = self.core.pageviews.issue(session_id, path)
        self.core.sink.submit(
            page_request(
                visit,
                Identifiers(visitor_id, session_id),
                consent_state="granted",
                ts=time.time(),
                pageview_id=pageview_id,
                path=path,
            )
        )
        return JSONResponse({"pv": token}, headers={"cache-control": "no-store"})
