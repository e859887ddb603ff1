"""``POST /_consent/beacon``: engagement, votes and single-page-app views from the page.

Only for a visitor who accepted analytics and has a session cookie. Every field is
checked: the page-view token must have been issued for this session and path and not have
expired, paths must be paths without control characters or lone surrogates, times and
percentages must be in range, and nothing else may be in the body. The visitor id of the
rows is the one the verified token carries, never a cookie. Paths come %-encoded (the
page's ``location.pathname``) and are decoded, as the ASGI server decodes the page's own
path, which the token binds. Two kinds of body:

- engagement: ``{"pv": token, "path": "/docs", "engaged_ms": 5300, "scroll_pct": 100,
  "useful": true | false | null}`` → a row in ``engagements``; answered 204;
- navigation: ``{"pv": token, "path": "/docs", "nav": "/docs/next"}`` (a single-page app
  changed its URL) → a virtual page view in ``page_requests``; answered 200 with the new
  page view's token ``{"pv": …}``. At most ``NAV_BURST`` of these per session at once,
  then one every ``1 / NAV_RATE`` seconds (429 with ``Retry-After`` beyond);
- goal: ``{"pv": token, "path": "/pricing", "goal": "signup", "props": {"plan": "pro"}}``
  (a ``data-consent-goal`` link or form, or ``consentlog.track``) → a client goal in
  ``goals``; answered 204. A name as server goals have them (``settings.GOAL_NAME``), at
  most ``MAX_PROPS`` properties of short names and texts, at most ``GOAL_BURST`` goals
  per page view at once, then one every ``1 / GOAL_RATE`` seconds (429 beyond).
"""

from __future__ import annotations

import math
import re
import time
from typing import Any
from urllib.parse import unquote

from starlette.responses import JSONResponse, Response
from starlette.types import Receive

from consentlog.asgi.body import json_object, read_body
from consentlog.asgi.core import ConsentCore
from consentlog.asgi.ratelimit import KeyedBuckets, too_many
from consentlog.consent.http import text
from consentlog.consent.visit import Identifiers, Visit
from consentlog.exceptions import BadRequest
from consentlog.ingest.events import (
    MAX_PATH,
    MAX_USER_AGENT,
    Engagement,
    Goal,
    live_agent,
    page_request,
    safe_text,
    unsafe_text,
)
from consentlog.settings import ANALYTICS, GOAL_NAME

MAX_BEACON_BYTES = 2048
MAX_ENGAGED_MS = 24 * 60 * 60 * 1000  # a day: anything longer is a broken clock
# A person clicking through a single-page app: a burst of 30 views, then one every 2 s.
NAV_BURST = 30
NAV_RATE = 0.5  # views per second
NAV_SESSIONS = 10_000  # sessions remembered; the least recent is forgotten first
# Consented copies (the page a visitor accepts on) per client address: a person accepts
# once, a household or an office a few times; beyond that a decision gets no copy (the
# decision itself is taken), so no client mints sessions for pages it never loaded.
COPY_BURST = 10
COPY_RATE = 1 / 60  # copies per second
COPY_CLIENTS = 10_000
# Goals per page view: a person clicks a few tracked links or sends a form or two.
GOAL_BURST = 20
GOAL_RATE = 0.2  # goals per second
GOAL_VIEWS = 10_000
# and per session, whatever page views it names: 100 at once, then one a second
SESSION_GOAL_BURST = 100
SESSION_GOAL_RATE = 1.0
MAX_PROPS = 10  # properties of one custom event
MAX_PROP_VALUE = 200  # characters of a property's value
_PROP_NAME = re.compile("[a-z0-9_]{1,40}")
_ENGAGEMENT_FIELDS = frozenset(("pv", "path", "engaged_ms", "scroll_pct", "useful"))
_NAVIGATION_FIELDS = frozenset(("pv", "path", "nav"))
_GOAL_FIELDS = frozenset(("pv", "path", "goal", "props"))


def page_path(value: object, field: str) -> str:
    """A path the page sent (%-encoded), decoded; 400 naming ``field`` when it is not one."""
    if not isinstance(value, str) or not value.startswith("/"):
        raise BadRequest(400, f"'{field}' must be a path starting with '/'")
    path = unquote(value)
    if len(path) > MAX_PATH:
        raise BadRequest(400, f"'{field}' is longer than {MAX_PATH} characters")
    if unsafe_text(path):
        raise BadRequest(400, f"'{field}' holds a control character or a lone surrogate")
    return path


def goal_name(value: object) -> str:
    """A goal's name as the page sent it; 400 when it is not one."""
    if not isinstance(value, str) or not GOAL_NAME.fullmatch(value):
        raise BadRequest(
            400, "'goal' must be 1-64 letters, digits, spaces or _ . : / - (starting with one)"
        )
    return value


def goal_props(value: object) -> tuple[tuple[str, str], ...]:
    """A custom event's properties: an object of at most ``MAX_PROPS`` names (lowercase
    letters, digits, _) and texts, numbers or booleans (kept as text); 400 otherwise."""
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise BadRequest(400, "'props' must be an object of names and values")
    if len(value) > MAX_PROPS:
        raise BadRequest(400, f"'props' has {len(value)} properties; at most {MAX_PROPS}")
    pairs = []
    for name, raw in sorted(value.items()):
        if not _PROP_NAME.fullmatch(name):
            raise BadRequest(400, f"property {name[:40]!r}: names are 1-40 of a-z, 0-9, _")
        if isinstance(raw, bool):
            raw = "true" if raw else "false"
        elif isinstance(raw, int):
            raw = str(raw) if abs(raw) < 10**MAX_PROP_VALUE else None  # a huge one: refused
        elif isinstance(raw, float) and math.isfinite(raw):
            raw = str(raw)
        if not isinstance(raw, str) or len(raw) > MAX_PROP_VALUE or unsafe_text(raw):
            raise BadRequest(
                400, f"property {name!r}: a text of at most {MAX_PROP_VALUE} printable"
                " characters, a number or a boolean"
            )  # fmt: skip
        pairs.append((name, raw))
    return tuple(pairs)


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
        self.navigations = KeyedBuckets(NAV_RATE, NAV_BURST, NAV_SESSIONS)
        self.copies = KeyedBuckets(COPY_RATE, COPY_BURST, COPY_CLIENTS)
        self.goals = KeyedBuckets(GOAL_RATE, GOAL_BURST, GOAL_VIEWS)
        self.session_goals = KeyedBuckets(SESSION_GOAL_RATE, SESSION_GOAL_BURST, NAV_SESSIONS)

    def clock(self) -> float:
        """Monotonic seconds, for the navigation limit; a test overrides it."""
        return time.monotonic()

    async def __call__(
        self, visit: Visit, receive: Receive, headers: dict[bytes, bytes]
    ) -> Response:
        """Answer one beacon request (cross-site requests are refused before this)."""
        decision, _ = self.core.effective_decision(visit)
        if decision is None or ANALYTICS not in decision.accepted:
            raise BadRequest(403, "the beacon needs analytics consent")
        session_id = visit.cookies.get(self.settings.session_cookie, "")
        if not session_id:
            raise BadRequest(403, "no analytics session: load a page first")
        host = visit.origin.host
        if unsafe_text(host):
            raise BadRequest(400, "the Host header holds a control character")
        content_type = text(headers, b"content-type", 100).split(";", 1)[0].strip().lower()
        if content_type not in {"application/json", "text/plain"}:  # sendBeacon sends text
            raise BadRequest(415, "send the beacon as application/json or text/plain JSON")
        payload = json_object(await read_body(receive, headers, MAX_BEACON_BYTES), "beacon body")
        path = page_path(payload.get("path"), "path")
        token = payload.get("pv")
        pageview = (
            self.core.pageviews.verify(token, session_id, path) if isinstance(token, str) else None
        )
        if pageview is None:
            raise BadRequest(
                403, "'pv' is not a current page view of this session and path: reload the page"
            )
        visitor_id = pageview.visitor_id
        keys = set(payload)
        if keys <= _NAVIGATION_FIELDS and "nav" in keys:
            nav = page_path(payload["nav"], "nav")
            return self._navigate(visit, session_id, visitor_id, nav)
        if "goal" in keys:
            if not keys <= _GOAL_FIELDS:
                raise BadRequest(400, f"unknown field {sorted(keys - _GOAL_FIELDS)[0][:50]!r}")
            goal = Goal(
                time.time(), goal_name(payload["goal"]), "client", host, path,
                pageview.pageview_id, "", 0, "granted", visitor_id, session_id,
                live_agent(safe_text(text(headers, b"user-agent", MAX_USER_AGENT))),
                goal_props(payload.get("props")), "", visit.origin.client_ip,
            )  # fmt: skip
            now = self.clock()  # checked before a token is spent; one page view, one session
            wait = self.goals.take(pageview.pageview_id, now) or self.session_goals.take(
                session_id, now
            )
            if wait:
                return too_many("goals on this page view", wait)
            self.core.sink.submit(goal)
            return Response(status_code=204, headers={"cache-control": "no-store"})
        if not keys <= _ENGAGEMENT_FIELDS:
            raise BadRequest(400, f"unknown field {sorted(keys - _ENGAGEMENT_FIELDS)[0][:50]!r}")
        useful = payload.get("useful")
        if useful is not None and not isinstance(useful, bool):
            raise BadRequest(400, "'useful' must be true, false or null")
        self.core.sink.submit(
            Engagement(
                time.time(),
                pageview.pageview_id,
                visitor_id,
                session_id,
                host,
                path,
                _integer(payload, "engaged_ms", MAX_ENGAGED_MS),
                _integer(payload, "scroll_pct", 100),
                useful,
            )
        )
        return Response(status_code=204, headers={"cache-control": "no-store"})

    def accepted_on(
        self, visit: Visit, ids: Identifiers, path: str, arrival: tuple[str, str] = ("", "")
    ) -> str:
        """The visitor accepted analytics on the page at ``path``, which was served (and
        counted) without a page-view token: log it again with consent — a *consented
        copy*, which view counts leave out and sessions count — and return its token, so
        that the beacon and the vote widget start on that page at once. '' (no copy)
        for a path that is never logged as a page (consentlog's own, such as the
        settings page, or an excluded one), or when this client address has made more
        copies than people do. ``arrival``, the page's referrer and query string as the
        script read them, makes the copy the arrival its page view was: its session gets
        the channel and campaign the anonymous view had."""
        settings = self.settings
        if path.startswith(settings.prefix + "/") or path in settings.exclude_paths:
            return ""
        if self.copies.take(visit.origin.client_ip, self.clock()):
            return ""
        pageview_id, token = self.core.pageviews.issue(ids.session_id, path, ids.visitor_id)
        self.core.sink.submit(
            page_request(
                visit,
                ids,
                consent_state="granted",
                ts=time.time(),
                pageview_id=pageview_id,
                path=path,
                consented_copy=True,
                country=self.core.country_claim(visit),
                referrer=arrival[0],
                query=arrival[1],
            )
        )
        return token

    def _navigate(self, visit: Visit, session_id: str, visitor_id: str, path: str) -> Response:
        """A single-page app moved to ``path``: log a virtual page view, issue its token
        (for the visitor the previous view's token named) — unless the session has been
        navigating faster than a person does."""
        wait = self.navigations.take(session_id, self.clock())
        if wait:
            return too_many("page views in this session", wait)
        pageview_id, token = self.core.pageviews.issue(session_id, path, visitor_id)
        self.core.sink.submit(
            page_request(
                visit,
                Identifiers(visitor_id, session_id),
                consent_state="granted",
                ts=time.time(),
                pageview_id=pageview_id,
                path=path,
                country=self.core.country_claim(visit),
            )
        )
        return JSONResponse({"pv": token}, headers={"cache-control": "no-store"})
