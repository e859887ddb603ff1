"""Login for the dashboard: the login and logout routes and the guard in front of the rest.

The secrets and the session cookie are ``sessions``' (constant-time checks, a signed
cookie bound to the credentials, absolute and idle expiry, revocation on logout); the
failure throttle is ``throttle``'s (per client, and paced for everyone under attack).
The cookie is HttpOnly, SameSite=Strict, Path = the dashboard's mount, Secure over
https. The API also takes the token as ``Authorization: Bearer <token>``, under the same
throttle.
"""

from __future__ import annotations

import math
from urllib.parse import parse_qs, quote

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consentlog.consent.http import Origin, cross_site_reason, header_map, origin_of, safe_next
from consentlog.dashboard import templates
from consentlog.dashboard.filters import base_path, route_path
from consentlog.dashboard.sessions import SESSION_COOKIE, Credentials, Session, Sessions
from consentlog.dashboard.throttle import Throttle

MAX_FORM_BYTES = 4096  # the login form is two short fields


def _origin(connection: HTTPConnection, trusted_hops: int, forwarded_host: bool) -> Origin:
    return origin_of(
        connection.scope, header_map(connection.scope), trusted_hops, forwarded_host=forwarded_host
    )


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
        trusted_proxy_hops: int = 0,
        trust_forwarded_host: bool = False,
    ) -> None:
        self.credentials = credentials
        self.trusted_proxy_hops = trusted_proxy_hops
        self.trust_forwarded_host = trust_forwarded_host
        self.sessions = sessions
        self.prefix = prefix
        self.throttle = throttle or Throttle()

    def session(self, connection: HTTPConnection) -> Session | None:
        """The live session the request's cookie carries, if any."""
        return self.sessions.open(connection.cookies.get(SESSION_COOKIE))

    def logged_in(self, connection: HTTPConnection) -> bool:
        """Whether the request carries a live session cookie."""
        return self.session(connection) is not None

    def client(self, connection: HTTPConnection) -> str:
        """Whom failures are counted against: the client address as the site resolves it,
        trusting ``trusted_proxy_hops`` proxies. A client that forges a new address per
        attempt (reaching the dashboard past the proxy) meets the global limit instead."""
        return (
            _origin(connection, self.trusted_proxy_hops, self.trust_forwarded_host).client_ip
            or "unknown"
        )

    def session_cookie(self, connection: HTTPConnection, value: str, max_age: int) -> str:
        """The ``Set-Cookie`` value that stores session ``value`` for ``max_age`` s."""
        carrier = Response()
        carrier.set_cookie(
            SESSION_COOKIE,
            value,
            max_age=max_age,
            path=base_path(connection, self.prefix) or "/",
            secure=_origin(connection, self.trusted_proxy_hops, self.trust_forwarded_host).https,
            httponly=True,
            samesite="strict",
        )
        return carrier.headers["set-cookie"]

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
        origin = _origin(request, self.trusted_proxy_hops, self.trust_forwarded_host)
        if cross_site_reason(header_map(request.scope), origin) is not None:
            return HTMLResponse(
                templates.login(base=base, next_url=base + "/", error="Cross-site login refused."),
                status_code=403,
            )
        client = self.client(request)
        wait = self.throttle.retry_after(client)
        if wait is not None:
            return self._too_many(base, wait)
        form = await _form(request)
        target = safe_next(form.get("next", ""), base=base)
        await self.throttle.pace()
        via = self.credentials.check(form.get("secret", ""))
        if via is None:
            await self.throttle.failed(client)
            return HTMLResponse(
                templates.login(base=base, next_url=target, error="Wrong password or token."),
                status_code=401,
            )
        self.throttle.success(client)
        response = RedirectResponse(target, status_code=303)
        cookie = self.session_cookie(request, self.sessions.issue(via), self.sessions.max_age)
        response.headers.append("set-cookie", cookie)
        return response

    async def logout(self, request: Request) -> Response:
        """POST /logout: revoke the session on the server and expire the cookie."""
        session = self.session(request)
        if session is not None:
            self.sessions.revoke(session)
        base = base_path(request, self.prefix)
        response = RedirectResponse(f"{base}/login", status_code=303)
        response.headers.append("set-cookie", self.session_cookie(request, "", 0))
        return response

    async def bearer(self, connection: HTTPConnection, token: str) -> Response | None:
        """Check an API bearer token: None when valid, else the 401/429 answer."""
        client = self.client(connection)
        wait = self.throttle.retry_after(client)
        if wait is not None:
            return JSONResponse(
                {"error": f"too many failed logins: retry after {wait} s"},
                status_code=429,
                headers={"Retry-After": str(wait)},
            )
        await self.throttle.pace()
        if self.credentials.check_token(token):
            self.throttle.success(client)
            return None
        await self.throttle.failed(client)
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

    Pages redirect to the login form (303), the JSON API answers 401 JSON. A live session
    whose last-seen time is stale gets its cookie renewed on the response, so the idle
    timeout counts from the last request.
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
        session = self.auth.session(connection)
        if session is not None:
            await self.app(scope, receive, self._renewing(connection, session, send))
            return
        if path in self.public:
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

    def _renewing(self, connection: HTTPConnection, session: Session, send: Send) -> Send:
        """``send``, adding the renewed session cookie to the response start if due."""
        sessions = self.auth.sessions
        value = sessions.renewed(session)
        if value is None:
            return send
        cookie = self.auth.session_cookie(connection, value, sessions.remaining(session))

        async def renew(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                # logout answers with its own expired cookie, which must win
                if "set-cookie" not in headers:
                    headers.append("set-cookie", cookie)
            await send(message)

        return renew
