"""``POST /_consent/check``: the banner script ran on a page served without consent.

A page served without analytics consent carries a check token (``#cl-pv[data-check]``,
``consent.pageviews.CheckTokens``); the script sends it back as its first request, as
the body and nothing else (``navigator.sendBeacon``, text). A token this site issued
within the hour becomes a ``BrowserCheck`` — a time and the page-view id, no visitor, no
address, no user agent —, which makes that page view a *verified browser view* in the
reports (``bots.sql``): a browser loaded the page and ran its script, which crawlers that
only fetch HTML never do.

Answered 204 (also for a token already checked: once per page view); 400 for a body that
is not a live token of this site; 429 when one client address sends more checks than
people browsing do.
"""

from __future__ import annotations

import time

from starlette.responses import Response
from starlette.types import Receive

from consentlog.asgi.body import read_body
from consentlog.asgi.core import ConsentCore
from consentlog.asgi.ratelimit import KeyedBuckets, too_many
from consentlog.consent.pageviews import CHECK_MAX_AGE
from consentlog.consent.visit import Visit
from consentlog.exceptions import BadRequest
from consentlog.ingest.events import BrowserCheck

MAX_CHECK_BYTES = 128  # a token is 65 characters
# Checks per client address: a person opens a few pages a minute, an office behind one
# address many more: 120 at once, then two a second.
CLIENT_BURST = 120
CLIENT_RATE = 2.0  # checks per second
CLIENTS = 10_000
VIEWS = 100_000  # page views remembered as checked (the least recent forgotten first)


class Checks:
    """The check route of one mounted consentlog."""

    def __init__(self, core: ConsentCore) -> None:
        self.core = core
        self.clients = KeyedBuckets(CLIENT_RATE, CLIENT_BURST, CLIENTS)
        # a page view counts once: a second check of it within the token's life is ignored
        self.checked = KeyedBuckets(1 / CHECK_MAX_AGE, 1, VIEWS)

    def clock(self) -> float:
        """Monotonic seconds; a test overrides it."""
        return time.monotonic()

    async def __call__(
        self, visit: Visit, receive: Receive, headers: dict[bytes, bytes]
    ) -> Response:
        body = await read_body(receive, headers, MAX_CHECK_BYTES)
        try:
            token = body.decode("ascii").strip()
        except UnicodeDecodeError:
            token = ""
        pageview_id = self.core.checks.verify(token)
        if pageview_id is None:
            raise BadRequest(400, "the body is not a page's check token issued in the last hour")
        now = self.clock()
        wait = self.clients.take(visit.origin.client_ip, now)
        if wait:
            return too_many("checks from this address", wait)
        if not self.checked.take(pageview_id, now):
            self.core.sink.submit(BrowserCheck(time.time(), pageview_id))
        return Response(status_code=204)
