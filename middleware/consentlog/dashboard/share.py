"""Read-only share links: one report page, with its filters, without a login.

A link is ``<dashboard>/shared/<token>``; the token is itsdangerous-signed with the
site's secret keys (salt ``consentlog.dashboard.share``, newest key signs, every key
verifies) and holds the page, its query parameters (only the filters a report reads),
its expiry and its creator — not by name (the token is readable base64 JSON, and a link
travels): by ``creator_id``, a keyed digest of the name, which opening the link matches
against the users there are — with a digest of their name, role and stamp
(``sessions.binding``). It opens that page and nothing else: the page is rendered from
the token alone (the request's own path and query are never read), without navigation,
range picker, sort, detail or CSV links; every other route still needs a login. The
answer carries ``X-Robots-Tag: noindex`` and ``Referrer-Policy: no-referrer`` (the token
must not leak into another site's logs).

A link dies at its expiry (``SHARE_DAYS`` by default, at most ``MAX_SHARE_DAYS``), or
when its creator is removed, changes role or password (single-password mode: when the
password or token changes), or loses the permission to share or to see the page.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from urllib.parse import parse_qsl, urlencode

import structlog
from itsdangerous import BadSignature, URLSafeSerializer
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from consentlog.dashboard import templates
from consentlog.dashboard.filters import REPORT_PARAMETERS, base_path, report_query
from consentlog.dashboard.roles import (
    REPORT_PAGES,
    SHAREABLE,
    SHARED_KEY,
    Endpoint,
    Principal,
    principal_of,
)
from consentlog.dashboard.sessions import Accounts, binding
from consentlog.exceptions import BadRequest

log = structlog.get_logger("consentlog.dashboard.share")

DAY = 24 * 60 * 60
SHARE_DAYS = 7  # how long a link lives unless its creator picks another
MAX_SHARE_DAYS = 30
MAX_TOKEN = 2048  # characters: a real token is a few hundred
DAMAGED = "this share link is damaged: check that it was copied whole"
UNAVAILABLE = "This report cannot be shown right now: try the link again later."
HEADERS = {
    "x-robots-tag": "noindex, nofollow",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def creator_id(key: str, name: str) -> str:
    """The opaque id a share link names its creator ``name`` by (keyed: the name cannot
    be read or guessed from it without the site's key)."""
    material = b"consentlog.dashboard.share.creator\0" + name.encode("utf-8")
    return hmac.new(key.encode("utf-8"), material, hashlib.sha256).hexdigest()[:32]


class ShareError(BadRequest):
    """A share link that opens nothing: damaged, expired or revoked (``status`` 4xx)."""


@dataclass(frozen=True, slots=True)
class Share:
    """What a valid link opens: ``page`` with ``query``, until ``expires`` (epoch s)."""

    page: str
    query: tuple[tuple[str, str], ...]
    creator: str
    expires: int


class ShareLinks:
    """Signs and opens share tokens; ``now`` (epoch seconds) is the clock seam."""

    def __init__(
        self,
        secret_keys: Sequence[str],
        accounts: Accounts,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._serializer = URLSafeSerializer(list(secret_keys), salt="consentlog.dashboard.share")
        self._keys = list(secret_keys)
        self.accounts = accounts
        self._clock = clock

    def now(self) -> int:
        """The current time in whole epoch seconds."""
        return int(self._clock())

    def sign(
        self, principal: Principal, page: str, query: Mapping[str, str], days: int = SHARE_DAYS
    ) -> str:
        """A token opening ``page`` with ``query`` for ``days`` days; BadRequest when the
        page cannot be shared, its filters are bad, or ``days`` is out of range."""
        needed = REPORT_PAGES.get(page)
        if needed is None or page not in SHAREABLE:
            raise BadRequest(400, f"page {page!r} cannot be shared: share a report page")
        if not principal.allows("share") or not principal.allows(needed):
            raise BadRequest(403, f"role {principal.role} may not share {page!r}")
        if not 1 <= days <= MAX_SHARE_DAYS:
            raise BadRequest(400, f"a share link lives 1 to {MAX_SHARE_DAYS} days, not {days}")
        kept = report_query(page, query)  # bad filters refused now, not when the link is opened
        return self._serializer.dumps(
            {
                "p": page,
                "q": [list(pair) for pair in kept],
                "c": creator_id(self._keys[-1], principal.name),
                "b": binding(self._keys[-1], principal),
                "x": self.now() + days * DAY,
            }
        )

    def open(self, token: str) -> Share:
        """The share ``token`` opens; ShareError (400 damaged, 410 expired or revoked)."""
        if len(token) > MAX_TOKEN:
            raise ShareError(400, DAMAGED)
        try:
            data = self._serializer.loads(token)
        except BadSignature:
            raise ShareError(400, DAMAGED) from None
        share, bound = _parse(data)
        if share.expires <= self.now():
            expired = datetime.datetime.fromtimestamp(share.expires, datetime.UTC)
            raise ShareError(
                410, f"this share link expired on {expired:%Y-%m-%d %H:%M} UTC: ask for a new one"
            )
        name = self._creator(share.creator)
        creator = None if name is None else self.accounts.principal(name)
        if (
            name is None
            or creator is None
            or not creator.allows("share")
            or not creator.allows(REPORT_PAGES[share.page])
            or not any(
                hmac.compare_digest(bound.encode(), binding(key, creator).encode())
                for key in self._keys
            )
        ):
            raise ShareError(
                410, "this share link was revoked (its creator's access changed): ask for a new one"
            )
        return replace(share, creator=name)

    def _creator(self, opaque: str) -> str | None:
        """The name of the principal whose ``creator_id`` (under any key) is ``opaque``."""
        found = None
        for name in self.accounts.names():
            for key in self._keys:  # every comparison made: no early exit
                if hmac.compare_digest(opaque.encode(), creator_id(key, name).encode()):
                    found = name
        return found


def _parse(data: object) -> tuple[Share, str]:
    """The share in a well-signed payload, and its creator binding."""
    damaged = ShareError(400, DAMAGED)
    if not isinstance(data, dict):
        raise damaged
    page, query, creator, bound, expires = (data.get(k) for k in ("p", "q", "c", "b", "x"))
    if not isinstance(page, str) or page not in SHAREABLE or type(expires) is not int:
        raise damaged
    if not isinstance(creator, str) or not isinstance(bound, str) or not isinstance(query, list):
        raise damaged
    pairs = tuple((k, v) for k, v in (p for p in query if isinstance(p, list) and len(p) == 2))
    if len(pairs) != len(query) or not all(
        isinstance(k, str) and k in REPORT_PARAMETERS and isinstance(v, str) for k, v in pairs
    ):
        raise damaged
    return Share(page, pairs, creator, expires), bound


class SharedPages:
    """The routes of share links: ``POST /share`` makes one, ``GET /shared/{token}``
    opens it. ``pages`` are the report endpoints by route (unguarded: the link is the
    permission); ``site_url`` gives ``scheme://host`` as the user reached the dashboard
    (after trusted proxies), for the absolute link shown."""

    def __init__(
        self,
        links: ShareLinks,
        pages: Mapping[str, Endpoint],
        *,
        prefix: str,
        read_form: Callable[[Request], Awaitable[dict[str, str]]],
        site_url: Callable[[Request], str],
    ) -> None:
        self.links = links
        self.pages = pages
        self.prefix = prefix
        self._read_form = read_form
        self._site_url = site_url

    async def create(self, request: Request) -> Response:
        """POST /share (form: ``page``, ``query``, ``days``): a page with the new link."""
        principal = principal_of(request)
        if principal is None:  # the guard lets no one here without a session
            raise BadRequest(401, "log in to share a report")
        form = await self._read_form(request)
        page, query, days = (form.get(k, "") for k in ("page", "query", "days"))
        if not (days.isascii() and days.isdigit() and len(days) <= 3):
            raise BadRequest(400, f"days: {days!r} is not a number of days")
        try:
            params = dict(parse_qsl(query, max_num_fields=16))
        except ValueError:
            raise BadRequest(400, "query: too many parameters for a report") from None
        token = self.links.sign(principal, page, params, int(days))
        log.info("dashboard_share_created", user=principal.name, page=page, days=int(days))
        base = base_path(request, self.prefix)
        path = f"{base}/shared/{token}"
        expires = datetime.datetime.fromtimestamp(self.links.now() + int(days) * DAY, datetime.UTC)
        return HTMLResponse(
            templates.render(
                "share.html",
                base=base,
                url=self._site_url(request) + path,
                path=path,
                back=f"{base}{page}?{urlencode(params)}",
                expires=expires,
                shared=False,
            )
        )

    async def open(self, request: Request) -> Response:
        """GET /shared/{token}: the one report the token names, read-only."""
        token = request.path_params.get("token", "")
        share = self.links.open(token if isinstance(token, str) else "")
        root: str = request.scope.get("root_path", "")
        scope = {
            **request.scope,
            "path": root + share.page,
            "raw_path": (root + share.page).encode(),
            "query_string": urlencode(share.query).encode(),
            "state": {SHARED_KEY: True},
        }
        response = await self.pages[share.page](Request(scope, request.receive))
        response.headers.update(HEADERS)
        return response


def error(request: Request, prefix: str, exc: ShareError) -> Response:
    """The 4xx page of a link that opens nothing (no way into the dashboard offered)."""
    return failed(request, prefix, exc.status, str(exc))


def failed(request: Request, prefix: str, status: int, message: str) -> Response:
    """The error page of a share link: ``message`` (a fixed text for a store error — the
    reader has no login and must not see the store's address or the driver's words), no
    way into the dashboard."""
    if status >= 500:
        message = UNAVAILABLE
    return HTMLResponse(
        templates.render(
            "share_error.html", base=base_path(request, prefix), status=status, message=message
        ),
        status_code=status,
        headers=HEADERS,
    )
