"""What a returning visitor's pages get, worked out once and remembered.

A browser sends the same ``Cookie`` header on every page until a cookie changes, and the
same ``Accept-Language``. For a visitor whose consent cookie verified and whose ids the
server issued with it, everything the middleware decides from those headers comes out
the same each time: the decision, the ids, the ``Set-Cookie`` values of an HTML answer
(the session cookie's idle timer restarts with the same bytes), what the banner shows.
A ``Plan`` holds those results, keyed by exactly what they were worked out from, so such
a page costs one lookup instead of parsing, verifying and building cookies — and holds
them ready to use: the ``Set-Cookie`` header pairs, the script and stylesheet tags of
the page, the page-view token issuer bound to the visitor's session, the consent state
the page request is logged with.

Only what was proven is remembered: a plan is made from a decision read from a verified
cookie, never from a stranger's junk, a new decision (GPC / DNT) or a request that was
issued new ids (those are set by that response and come back in the next header). A
plan lapses with its decision (``consent_max_age``); the cache is bounded in entries and
bytes like every cache of visitor input (``consent.cache``).
"""

from __future__ import annotations

from typing import NamedTuple

from starlette.types import Scope

from consentlog.asgi.banner import BannerState
from consentlog.consent.cache import BoundedCache
from consentlog.consent.decision import ConsentCodec, Decision
from consentlog.consent.http import forced_language
from consentlog.consent.pageviews import BoundTokens
from consentlog.ingest.events import ConsentState

_ENTRIES = 16_384  # returning visitors (browsers) remembered per process
_BYTES = 32 * 1024 * 1024  # ~1.9 KB a plan with a small Cookie header; larger ones fill it first
_ENTRY_OVERHEAD = 1_400  # the plan's objects (its token issuer ~740 B), beyond the bytes counted

Key = tuple[bytes, bytes, str, str, bytes]


class Plan(NamedTuple):
    """What every HTML page of one returning visitor gets (or of one request, worked out
    for it alone: ``ConsentCore.plan``)."""

    decision: Decision | None  # never None in a remembered plan
    banner: BannerState
    set_cookies: tuple[tuple[bytes, bytes], ...]  # the Set-Cookie headers of an HTML answer
    tags: bytes  # what the page gets before </body> (without a CSP nonce)
    tokens: BoundTokens | None  # page-view tokens, when the beacon may report
    state: ConsentState  # the page requests' consent state
    visitor_id: str  # what page requests are logged with ('' unless granted)
    session_id: str


class Plans:
    """The remembered plans of one middleware."""

    def __init__(self, trusted_proxy_hops: int) -> None:
        self._hops = trusted_proxy_hops
        self._cache: BoundedCache[Key, Plan] = BoundedCache(_ENTRIES, _BYTES)

    def key(self, scope: Scope, headers: dict[bytes, bytes]) -> Key | None:
        """What a plan for this request depends on; None without a cookie (nothing to
        remember a visitor by)."""
        cookie = headers.get(b"cookie")
        if not cookie:
            return None
        return (
            cookie,
            headers.get(b"accept-language", b""),  # the banner's language …
            forced_language(scope),  # … unless the host application chose it
            str(scope.get("scheme", "http")),  # the cookies' Secure flag …
            headers.get(b"x-forwarded-proto", b"") if self._hops else b"",  # … behind a proxy
        )

    def get(self, key: Key | None, codec: ConsentCodec) -> Plan | None:
        """The plan for ``key`` while its decision holds (by ``codec``'s clock)."""
        if key is None:
            return None
        plan = self._cache.get(key)
        if plan is None:
            return None
        if plan.decision is None or not codec.holds(plan.decision):
            self._cache.discard(key)
            return None
        return plan

    def remember(self, key: Key, plan: Plan) -> None:
        """Remember what this request was given, for the next with the same ``key``."""
        size = sum(map(len, key)) + sum(len(value) for _, value in plan.set_cookies)
        self._cache.put(key, plan, size + len(plan.tags) + _ENTRY_OVERHEAD)
