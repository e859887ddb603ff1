"""The events the middleware queues, as raw as the request gave them.

The request path only copies strings out of the ASGI scope into these tuples; everything
that costs time (user-agent parsing, IP masking, URL splitting) happens in the writer,
see ``enrich.py``. Fields that consent does not allow are empty strings from the start.
"""

from __future__ import annotations

from typing import NamedTuple


class PageRequest(NamedTuple):
    """One page request, as seen by the middleware."""

    ts: float  # unix seconds when the request arrived
    pageview_id: str  # uuid4 hex
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
    consent_state: str  # 'granted' | 'denied' | 'unknown'
    visitor_id: str  # '' unless analytics was accepted
    session_id: str  # '' unless analytics was accepted
    client_ip: str  # '' unless analytics was accepted


class ConsentRecord(NamedTuple):
    """One consent decision: the proof that it was given, refused or withdrawn."""

    ts: float
    consent_id: str
    action: str  # accept_all | reject_all | custom | withdraw | gpc | dnt | erase
    categories: tuple[str, ...]
    policy_revision: int
    source: str
    visitor_id: str  # '' unless analytics was accepted
    client_ip: str  # '' unless analytics was accepted
    user_agent: str


class Engagement(NamedTuple):
    """What the beacon reported for one page view of a consented visitor."""

    ts: float
    pageview_id: str
    visitor_id: str
    session_id: str
    host: str
    path: str
    engaged_ms: int  # visible and focused time so far
    scroll_pct: int  # deepest scroll so far, 0-100
    useful: bool | None  # the visitor's "was this page useful?" vote, if any


Event = PageRequest | ConsentRecord | Engagement
