"""Login for the dashboard: a password or an access token, a signed session cookie, and
throttled failures.

The secrets are compared in constant time (``hmac.compare_digest`` over digests, so not
even their lengths leak). A session is an itsdangerous-signed cookie (HttpOnly,
SameSite=Strict, Path = the dashboard's mount) bound to the current credentials: change
the password and every session ends. Every failed attempt waits a little, and a client IP
with ``FAILURE_LIMIT`` failures within ``FAILURE_WINDOW`` is refused (429 with
Retry-After) until the oldest failure ages out. The API also takes the token as
``Authorization: Bearer <token>``, under the same throttle.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import math
import time
from collections.abc import Callable, Sequence
from typing import Literal
from urllib.parse import parse_qs, quote

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from consentlog.consent.http import Origin, cross_site_reason, header_map, origin_of, safe_next
from consentlog.dashboard import templates
from consentlog.dashboard.filters import base_path, route_path

SESSION_COOKIE = "cl_dashboard"
SESSION_MAX_AGE = 12 * 60 * 60  # 12 hours: a working day, then log in again
FAILURE_LIMIT = 5
FAILURE_WINDOW = 5 * 60.0  # seconds
FAILURE_DELAY = 0.25  # seconds every failure waits, so guessing is slow even under the limit
MAX_FORM_BYTES = 4096  # the login form is two short fields
MAX_TRACKED_CLIENTS = 10_000  # bounds the throttle's memory when many addresses fail

Via = Literal["password", "token"]


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


class Credentials:
    """The dashboard's password and/or access token; at least one is required."""

    def __init__(self, password: str | None = None, token: str | None = None) -> None:
        if not password and not token:
            raise ValueError(
                "the dashboard needs a password or a token: set CONSENTLOG_DASHBOARD_PASSWORD "
                "or CONSENTLOG_DASHBOARD_TOKEN"
            )
        self._password = _digest(password) if password else None
        self._token = _digest(token) if token else None

    def check(self, secret: str) -> Via | None:
        """Which credential ``secret`` is, if any; both are always compared."""
        given = _digest(secret)
        # no short-circuit: the time taken must not say which comparison ran
        password = self._password is not None and hmac.compare_digest(given, self._password)
        token = self._token is not None and hmac.compare_digest(given, self._token)
        if password:
            return "password"
        return "token" if token else None

    def check_token(self, secret: str) -> bool:
        """Whether ``secret`` is the access token."""
        given = _digest(secret)
        return self._token is not None and hmac.compare_digest(given, self._token)

    def fingerprint(self, key: str) -> str:
        """A keyed digest of the current credentials: sessions carry it, so changing the
        password or token ends every session."""
        material = (self._password or b"") + b"\0" + (self._token or b"")
        return hmac.new(key.encode("utf-8"), material, hashlib.sha256).hexdigest()[:32]


class Sessions:
    """Signed session cookies: signed with the newest key, verified against all."""

    def __init__(
        self, secret_keys: Sequence[str], credentials: Credentials, *, max_age: int
    ) -> None:
        if not secret_keys or not all(secret_keys):
            raise ValueError(
                "the dashboard needs secret_keys to sign sessions: set CONSENTLOG_SECRET_KEY"
            )
        self.max_age = max_age
        self._serializer = URLSafeTimedSerializer(list(secret_keys), salt="consentlog.dashboard")
        self._fingerprint = credentials.fingerprint(secret_keys[-1])

    def issue(self, via: Via) -> str:
        """A new session cookie value."""
        return self._serializer.dumps({"c": self._fingerprint, "via": via})

    def valid(self, value: str | None) -> bool:
        """Whether ``value`` is a live session for the current credentials."""
        if not value:
            return False
        try:
            data = self._serializer.loads(value, max_age=self.max_age)
        except BadSignature:  # tampered, expired, or signed with a dropped key
            return False
        fingerprint = data.get("c") if isinstance(data, dict) else None
        return isinstance(fingerprint, str) and hmac.compare_digest(fingerprint, self._fingerprint)


class Throttle:
    """Failed logins per client: ``limit`` within ``window`` seconds, then a pause."""

    def __init__(
        self,
        *,
        limit: int = FAILURE_LIMIT,
        window: float = FAILURE_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._failures: collections.OrderedDict[str, collections.deque[float]] = (
            collections.OrderedDict()
        )

    def retry_after(self, client: str) -> int | None:
        """Seconds until ``client`` may try again, or None if it may now."""
        recent = self._recent(client)
        if len(recent) < self.limit:
            return None
        return max(1, math.ceil(recent[0] + self.window - self._clock()))

    def failure(self, client: str) -> None:
        """Count a failed attempt."""
        self._recent(client).append(self._clock())
        self._failures.move_to_end(client)
        while len(self._failures) > MAX_TRACKED_CLIENTS:
            self._failures.popitem(last=False)

    def success(self, client: str) -> None:
        """Forget the client's failures."""
        self._failures.pop(client, None)

    def _recent(self, client: str) -> collections.deque[float]:
        failures = self._failures.setdefault(client, collections.deque())
        horizon = self._clock() - self.window
        while failures and failures[0] <= horizon:
            failures.popleft()
        return failures


def _client(connection: HTTPConnection) -> str:
    """Whom failures are counted against: the socket peer, never a forwarded address — a
    client that can reach the dashboard past the proxy could forge one per attempt."""
    return connection.client.host if connection.client else "unknown"


def _origin(connection: HTTPConnection, trusted_hops: int) -> Origin:
    return origin_of(connection.scope, header_map(connection.scope), trusted_hops)


async def _form(request: Request) -> dict[str, str]:
    """The fields of a small url-encoded form; anything larger or odd reads as empty.

    Parsed here rather than with ``request.form()``: that needs python-multipart, a
    dependency for one two-field form.
    """
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return {}
    try:
        fields = parse_qs(body.decode("utf-8"), max_num_fields=8)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {name: values[-1] for name, values in fields.items()}


class Auth:
    """The login and logout routes, and the session check the guard uses."""

    def __init__(
        self,
        credentials: Credentials,
        sessions: Sessions,
        *,
        prefix: str = "",
        throttle: Throttle | None = None,
        failure_delay: float = FAILURE_DELAY,
        trusted_proxy_hops: int = 0,
    ) -> None:
        self.credentials = credentials
        self.trusted_proxy_hops = trusted_proxy_hops
        self.sessions = sessions
        self.prefix = prefix
        self.throttle = throttle or Throttle()
        self.failure_delay = failure_delay

    def logged_in(self, connection: HTTPConnection) -> bool:
        """Whether the request carries a live session cookie."""
        return self.sessions.valid(connection.cookies.get(SESSION_COOKIE))

    async def login_form(self, request: Request) -> Response:
        """GET /login: the login form (or onwards, when already logged in)."""
        base = base_path(request, self.prefix)
        target = safe_next(request.query_params.get("next", ""), base=base)
        if self.logged_in(request):
            return RedirectResponse(target, status_code=303)
        return HTMLResponse(templates.login(base=base, next_url=target))

    async def login(self, request: Request) -> Response:
        """POST /login: check the secret, start a session, go where the user was going."""
        base = base_path(request, self.prefix)
        origin = _origin(request, self.trusted_proxy_hops)
        if cross_site_reason(header_map(request.scope), origin) is not None:
            return HTMLResponse(
                templates.login(base=base, next_url=base + "/", error="Cross-site login refused."),
                status_code=403,
            )
        client = _client(request)
        wait = self.throttle.retry_after(client)
        if wait is not None:
            return self._too_many(base, wait)
        form = await _form(request)
        target = safe_next(form.get("next", ""), base=base)
        via = self.credentials.check(form.get("secret", ""))
        if via is None:
            self.throttle.failure(client)
            await asyncio.sleep(self.failure_delay)
            return HTMLResponse(
                templates.login(base=base, next_url=target, error="Wrong password or token."),
                status_code=401,
            )
        self.throttle.success(client)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            self.sessions.issue(via),
            max_age=self.sessions.max_age,
            path=base or "/",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        return response

    async def logout(self, request: Request) -> Response:
        """POST /logout: end the session."""
        base = base_path(request, self.prefix)
        response = RedirectResponse(f"{base}/login", status_code=303)
        response.delete_cookie(
            SESSION_COOKIE,
            path=base or "/",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        return response

    async def bearer(self, connection: HTTPConnection, token: str) -> Response | None:
        """Check an API bearer token: None when valid, else the 401/429 answer."""
        client = _client(connection)
        wait = self.throttle.retry_after(client)
        if wait is not None:
            return JSONResponse(
                {"error": f"too many failed logins: retry after {wait} s"},
                status_code=429,
                headers={"Retry-After": str(wait)},
            )
        if self.credentials.check_token(token):
            self.throttle.success(client)
            return None
        self.throttle.failure(client)
        await asyncio.sleep(self.failure_delay)
        return JSONResponse({"error": "invalid token"}, status_code=401)

    def _too_many(self, base: str, wait: int) -> Response:
        minutes = math.ceil(wait / 60)
        message = (
            "Too many failed attempts from your address. "
            f"Try again in {minutes} minute{'s' if minutes != 1 else ''}."
        )
        return HTMLResponse(
            templates.login(base=base, next_url=base + "/", error=message),
            status_code=429,
            headers={"Retry-After": str(wait)},
        )


class LoginRequired:
    """ASGI middleware: every dashboard route but the public ones needs a session.

    Pages redirect to the login form (303), the JSON API answers 401 JSON.
    """

    def __init__(self, app: ASGIApp, *, auth: Auth, public: frozenset[str]) -> None:
        self.app = app
        self.auth = auth
        self.public = public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        path = route_path(connection)
        if path in self.public or self.auth.logged_in(connection):
            await self.app(scope, receive, send)
            return
        response: Response | None
        if path.startswith("/api/"):
            scheme, _, token = connection.headers.get("authorization", "").partition(" ")
            if scheme.lower() == "bearer" and token:
                response = await self.auth.bearer(connection, token.strip())
            else:
                response = JSONResponse(
                    {"error": "login required: log in, or send Authorization: Bearer <token>"},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="consentlog"'},
                )
        else:
            base = base_path(connection, self.auth.prefix)
            query = scope.get("query_string", b"").decode("latin-1")
            target = base + path + (f"?{query}" if query else "")
            response = RedirectResponse(
                f"{base}/login?next={quote(target, safe='/')}", status_code=303
            )
        if response is None:
            await self.app(scope, receive, send)
        else:
            await response(scope, receive, send)
