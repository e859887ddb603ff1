"""``POST /_consent/check``: the banner script ran on a page served without consent.

A page served without analytics consent carries a check token (``#cl-pv[data-check]``,
``consent.pageviews.CheckTokens``); the script sends it back as its first request, as
the body and nothing else (``navigator.sendBeacon``, text). A token this site issued
within the hour becomes a ``BrowserCheck`` — a time and the page-view id, no visitor, no
address, no user agent —, which makes that page view a *verified browser view* in the
reports (``bots.sql``): a browser loaded the page and ran its script, which crawlers that
only fetch HTML never do.

Answered 204 (also for a token already checked: once per page view); 400 for a body that
is not a live token of this site; 403 for a request that a page of this site did not
send (a browser's beacon carries ``Sec-Fetch-Site: same-origin``, or, in browsers before
fetch metadata, an ``Origin`` naming the site; a client sending neither is not a
page's script). A client that fetches pages and copies those headers can still check
them: "verified" means a client that ran the script or acts as one, and docs/bots.md
says so.

No per-address limit: a check needs a token, a token needs a page view served (and
stored), and a page view is stored as checked at most once a process — so checks never
outnumber the page rows a client already made, and a limit would only cost the people
behind one shared address (an office, a carrier's NAT) their verified views.
"""

from __future__ import annotations

import time

from starlette.responses import Response
from starlette.types import Receive

from consentlog.asgi.body import read_body
from consentlog.asgi.core import ConsentCore
from consentlog.asgi.ratelimit import KeyedBuckets
from consentlog.consent.http import text
from consentlog.consent.pageviews import CHECK_MAX_AGE
from consentlog.exceptions import BadRequest
from consentlog.ingest.events import BrowserCheck

MAX_CHECK_BYTES = 128  # a token is 65 characters
VIEWS = 10_000  # page views remembered as checked, about 2.5 MB (the least recent forgotten)


class Checks:
    """The check route of one mounted consentlog."""

    def __init__(self, core: ConsentCore) -> None:
        self.core = core
        # a page view counts once: a second check of it within the token's life is ignored
        self.checked = KeyedBuckets(1 / CHECK_MAX_AGE, 1, VIEWS)

    def clock(self) -> float:
        """Monotonic seconds; a test overrides it."""
        return time.monotonic()

    async def __call__(self, receive: Receive, headers: dict[bytes, bytes]) -> Response:
        if not _from_a_page(headers):
            raise BadRequest(
                403,
                "a check comes from a page of this site: its browser sends Sec-Fetch-Site "
                "or Origin",
            )
        body = await read_body(receive, headers, MAX_CHECK_BYTES)
        try:
            token = body.decode("ascii").strip()
        except UnicodeDecodeError:
            token = ""
        pageview_id = self.core.checks.verify(token)
        if pageview_id is None:
            raise BadRequest(400, "the body is not a page's check token issued in the last hour")
        if not self.checked.take(pageview_id, self.clock()):
            self.core.sink.submit(BrowserCheck(time.time(), pageview_id))
        return Response(status_code=204)


def _from_a_page(headers: dict[bytes, bytes]) -> bool:
    """Whether a browser sent the request from a page of this site (the route's cross-site
    check has refused other origins already)."""
    fetch_site = text(headers, b"sec-fetch-site", 32).lower()
    return fetch_site == "same-origin" or (not fetch_site and bool(text(headers, b"origin", 512)))
