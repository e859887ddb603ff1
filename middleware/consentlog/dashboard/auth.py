"""Login for the dashboard: the login and logout routes and the guard in front of the rest.

Two modes. Named users (a users file, ``users.UserStore``): a user name and password
(argon2), then a TOTP code for users who have one (``POST /login/totp``, the password
step's result carried in a signed, five-minute, principal-bound token). Every attempt of
either step is counted in the throttle per client and per user name *before* its secret
is checked, and only that attempt is taken back when it succeeds (``throttle``); the TOTP
failures are also kept in the users file, so their limit holds across processes. At most
a few argon2 checks run at once (``gate``): beyond them a login is answered 503 at once.
Single password (no users file): the dashboard password or access token, a full-access
(``admin``) principal; the API also takes the token as ``Authorization: Bearer <token>``.

Security events are logged (``consentlog.dashboard.auth``): logins, failures, lockouts
(429), TOTP failures, with the user name (only of users that exist: a made-up name may be
a mistyped password) and the throttle's client key — never a password, code or hash.

The session cookie is ``sessions``' (a signed cookie bound to the principal, absolute
and idle expiry, revocation on logout); the failure throttle is ``throttle``'s (per
client, and paced for everyone under attack). The cookie is HttpOnly, SameSite=Strict,
Path = the dashboard's mount, Secure over https. The guard (``LoginRequired``) refuses
cross-site state-changing requests to every route, and leaves the principal in the
request's state for the role checks (``roles.require``).
"""

from __future__ import annotations

import math
from urllib.parse import parse_qs, quote

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consentlog.consent.http import Origin, cross_site_reason, header_map, origin_of, safe_next
from consentlog.dashboard import templates
from consentlog.dashboard.devices import DEVICE_COOKIE, DEVICE_MAX_AGE, Devices
from consentlog.dashboard.filters import base_path, route_path
from consentlog.dashboard.gate import BUSY_RETRY, GateBusy, HashGate
from consentlog.dashboard.roles import STATE_KEY, Principal, landing
from consentlog.dashboard.sessions import SESSION_COOKIE, Credentials, Session, Sessions, Via
from consentlog.dashboard.throttle import Step, Throttle
from consentlog.dashboard.users import NAME, UserStore

log = structlog.get_logger("consentlog.dashboard.auth")

MAX_FORM_BYTES = 4096  # the dashboard's forms are a few short fields
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _origin(connection: HTTPConnection, trusted_hops: int, forwarded_host: bool) -> Origin:
    return origin_of(
        connection.scope, header_map(connection.scope), trusted_hops, forwarded_host=forwarded_host
    )


async def read_form(request: Request) -> dict[str, str]:
    """The fields of a small url-encoded form; anything larger or odd reads as empty.

    Parsed here rather than with ``request.form()``: that needs python-multipart, a
    dependency for a few short forms.
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
    """The login and logout routes, and the session check the guard uses.

    ``users`` (named users) or ``credentials`` (single password), not both: with a
    users file the single password and token are not used.
    """

    def __init__(
        self,
        sessions: Sessions,
        *,
        credentials: Credentials | None = None,
        users: UserStore | None = None,
        prefix: str = "",
        throttle: Throttle | None = None,
        gate: HashGate | None = None,
        trusted_proxy_hops: int = 0,
        trust_forwarded_host: bool = False,
    ) -> None:
        if (credentials is None) == (users is None):
            raise ValueError("the dashboard logs in with a users file or with credentials")
        self.credentials = credentials
        self.users = users
        self.trusted_proxy_hops = trusted_proxy_hops
        self.trust_forwarded_host = trust_forwarded_host
        self.sessions = sessions
        self.prefix = prefix
        self.throttle = throttle or Throttle()
        self.gate = gate or HashGate()
        self.devices = Devices(sessions.keys, sessions.accounts)

    @property
    def named(self) -> bool:
        """Whether users log in by name (a users file)."""
        return self.users is not None

    def site_url(self, connection: HTTPConnection) -> str:
        """``scheme://host`` of the dashboard as the user reached it (after trusted
        proxies): what an absolute link, such as a share link, starts with."""
        origin = _origin(connection, self.trusted_proxy_hops, self.trust_forwarded_host)
        return f"{origin.scheme}://{origin.host}"

    def cross_site(self, connection: HTTPConnection) -> bool:
        """Whether the request comes from another site (Origin / ``Sec-Fetch-Site``)."""
        origin = _origin(connection, self.trusted_proxy_hops, self.trust_forwarded_host)
        return cross_site_reason(header_map(connection.scope), origin) is not None

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

    def session_cookie(
        self, connection: HTTPConnection, value: str, max_age: int, name: str = SESSION_COOKIE
    ) -> str:
        """The ``Set-Cookie`` value that stores session ``value`` for ``max_age`` s (or
        another dashboard cookie called ``name``, with the same flags)."""
        carrier = Response()
        carrier.set_cookie(
            name,
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
        session = self.session(request)
        if session is not None:
            return RedirectResponse(self._landing(base, target, session.principal), 303)
        return HTMLResponse(templates.login(base=base, next_url=target, named=self.named))

    def _refused(
        self, client: str, user: str | None = None, step: Step = "password", *, known: bool = False
    ) -> int | None:
        """Seconds the client, or the user's ``step``, must wait; logged when refused."""
        wait = self.throttle.retry_after(client)
        who = "client"
        if wait is None and user is not None:
            wait = self.throttle.user_retry_after(user, step, known=known)
            who = "user"
        if wait is not None:
            log.warning(
                "dashboard_login_throttled",
                client=client,
                user=user if known else None,
                step=step,
                limit=who,
                retry_after=wait,
            )
        return wait

    async def login(self, request: Request) -> Response:
        """POST /login: check the secret; start a session (or ask for the TOTP code) and
        go where the user was going."""
        base = base_path(request, self.prefix)
        if self.cross_site(request):
            return self._login_page(base, base + "/", "Cross-site login refused.", 403)
        client = self.client(request)
        wait = self._refused(client)
        if wait is not None:
            return self._too_many(base, wait)
        form = await read_form(request)
        target = safe_next(form.get("next", ""), base=base)
        await self.throttle.pace()
        if self.users is None:
            return await self._login_single(request, base, client, form.get("secret", ""), target)
        name = form.get("username", "").strip().lower()
        known = NAME.fullmatch(name) is not None and self.users.principal(name) is not None
        key = name[:64]  # a made-up name is counted too, so a 429 tells no one who exists
        # a browser the user logged in from before: its own count instead of the user's
        device = self.devices.vouch(request.cookies.get(DEVICE_COOKIE), name) if known else None
        if device is not None:
            key, known = f"device:{device}", False
        # no await from these checks to the count: a concurrent burst meets the limit
        wait = self._refused(client, key, known=known)
        if wait is not None:
            return self._too_many(base, wait)
        attempt = self.throttle.begin(client, key, known=known)
        try:
            async with self.gate.slot():
                user = await run_in_threadpool(
                    self.users.authenticate, name, form.get("secret", "")
                )
        except GateBusy:
            self.throttle.settle(attempt)  # nothing was checked
            log.warning("dashboard_login_busy", client=client)
            return self._busy(base, target)
        if user is None:
            log.warning("dashboard_login_failed", client=client, user=name if known else None)
            await self.throttle.failed(attempt)
            return self._login_page(base, target, "Wrong user name or password.", 401)
        self.throttle.settle(attempt)
        if user.has_totp:
            log.info("dashboard_login_password_accepted", client=client, user=user.name)
            pending = self.sessions.pending(user.principal, target)
            return HTMLResponse(templates.totp(base=base, pending=pending))
        log.info("dashboard_login", client=client, user=user.name)
        return self._start(request, user.principal, "password", target)

    async def _login_single(
        self, request: Request, base: str, client: str, secret: str, target: str
    ) -> Response:
        """The single password's login (no users file)."""
        wait = self._refused(client)
        if wait is not None or self.credentials is None:
            return self._too_many(base, wait or 1)
        attempt = self.throttle.begin(client)
        checked = self.credentials.check(secret)
        principal = self.credentials.principal("") if checked else None
        if principal is None:
            log.warning("dashboard_login_failed", client=client, user=None)
            await self.throttle.failed(attempt)
            return self._login_page(base, target, "Wrong password or token.", 401)
        self.throttle.settle(attempt)
        log.info("dashboard_login", client=client, user="", via=checked)
        return self._start(request, principal, checked or "password", target)

    async def login_totp(self, request: Request) -> Response:
        """POST /login/totp: the second step of a user with TOTP. A wrong, stale or
        already used code counts as a failure for the client and for the user."""
        base = base_path(request, self.prefix)
        if self.cross_site(request):
            return self._login_page(base, base + "/", "Cross-site login refused.", 403)
        client = self.client(request)
        wait = self._refused(client, step="totp")
        if wait is not None:
            return self._too_many(base, wait)
        form = await read_form(request)
        await self.throttle.pace()
        opened = self.sessions.open_pending(form.get("pending", ""))
        if self.users is None or opened is None:
            await self.throttle.failed(self.throttle.begin(client, step="totp"))
            message = "This login step expired or is not valid: log in again."
            return self._login_page(base, base + "/", message, 400)
        principal, target = opened
        name = principal.name
        # no await from these checks to the count: a concurrent burst meets the limit
        wait = self._refused(client, name, "totp", known=True)
        if wait is not None:
            return self._too_many(base, wait)
        attempt = self.throttle.begin(client, name, "totp", known=True)
        check = await run_in_threadpool(self.users.check_totp, name, form.get("code", ""))
        if check.outcome == "locked":  # the users file's count: other processes' failures
            log.warning(
                "dashboard_login_throttled",
                client=client,
                user=name,
                step="totp",
                limit="users file",
                retry_after=check.retry_after,
            )
            return self._too_many(base, check.retry_after)
        if check.outcome == "wrong":
            log.warning("dashboard_totp_failed", client=client, user=name)
            await self.throttle.failed(attempt)
            return HTMLResponse(
                templates.totp(
                    base=base,
                    pending=form.get("pending", ""),
                    error="Wrong code, or one already used: enter the code your app shows now.",
                ),
                status_code=401,
            )
        self.throttle.settle(attempt)
        log.info("dashboard_login", client=client, user=name, totp=True)
        return self._start(request, principal, "password", target)

    def _start(self, request: Request, principal: Principal, via: Via, target: str) -> Response:
        """The answer to a completed login: a new session, and onwards."""
        base = base_path(request, self.prefix)
        response = RedirectResponse(self._landing(base, target, principal), status_code=303)
        cookie = self.session_cookie(
            request, self.sessions.issue(principal, via), self.sessions.max_age
        )
        response.headers.append("set-cookie", cookie)
        device = self.devices.issue(principal.name) if self.named else None
        if device is not None:
            response.headers.append(
                "set-cookie", self.session_cookie(request, device, DEVICE_MAX_AGE, DEVICE_COOKIE)
            )
        return response

    @staticmethod
    def _landing(base: str, target: str, principal: Principal) -> str:
        """``target``, or the principal's first page instead of the overview they may
        not open."""
        return base + landing(principal) if target == base + "/" else target

    def _login_page(self, base: str, target: str, error: str, status: int) -> Response:
        return HTMLResponse(
            templates.login(base=base, next_url=target, error=error, named=self.named),
            status_code=status,
        )

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
        wait = self._refused(client)
        if wait is None:
            await self.throttle.pace()
            wait = self._refused(client)  # again, with no await before the count
        if wait is not None:
            return JSONResponse(
                {"error": f"too many failed logins: retry after {wait} s"},
                status_code=429,
                headers={"Retry-After": str(wait)},
            )
        attempt = self.throttle.begin(client)
        if self.credentials is not None and self.credentials.check_token(token):
            self.throttle.settle(attempt)
            return None
        log.warning("dashboard_token_failed", client=client)
        await self.throttle.failed(attempt)
        return JSONResponse({"error": "invalid token"}, status_code=401)

    def _busy(self, base: str, target: str) -> Response:
        """The 503 answer when too many password checks are running already."""
        return HTMLResponse(
            templates.login(
                base=base,
                next_url=target,
                error="The login is busy: try again in a moment.",
                named=self.named,
            ),
            status_code=503,
            headers={"Retry-After": str(BUSY_RETRY)},
        )

    def _too_many(self, base: str, wait: int) -> Response:
        minutes = math.ceil(wait / 60)
        message = (
            "Too many failed attempts from your address or for this user. "
            f"Try again in {minutes} minute{'s' if minutes != 1 else ''}."
        )
        return HTMLResponse(
            templates.login(base=base, next_url=base + "/", error=message, named=self.named),
            status_code=429,
            headers={"Retry-After": str(wait)},
        )


class LoginRequired:
    """ASGI middleware: every dashboard route but the public ones needs a session.

    Pages redirect to the login form (303), the JSON API answers 401 JSON. A state-changing
    request from another site is refused (403) on every route that is not public (login
    checks its own). The live session's principal goes into the request's state
    (``roles.principal_of``). A live session whose last-seen time is stale gets its cookie
    renewed on the response, so the idle timeout counts from the last request.
    ``public_prefixes`` are path prefixes served without a login (share links).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        auth: Auth,
        public: frozenset[str],
        public_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.auth = auth
        self.public = public
        self.public_prefixes = public_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        path = route_path(connection)
        public = path in self.public or path.startswith(self.public_prefixes)
        if not public and scope["method"] not in SAFE_METHODS and self.auth.cross_site(connection):
            refusal = _refusal(path, base_path(connection, self.auth.prefix))
            await refusal(scope, receive, send)
            return
        session = self.auth.session(connection)
        if session is not None:
            _enter(scope, session.principal)
            await self.app(scope, receive, self._renewing(connection, session, send))
            return
        if public:
            await self.app(scope, receive, send)
            return
        response: Response | None
        if path.startswith("/api/"):
            scheme, _, token = connection.headers.get("authorization", "").partition(" ")
            credentials = self.auth.credentials
            if scheme.lower() == "bearer" and token and credentials is not None:
                response = await self.auth.bearer(connection, token.strip())
                principal = credentials.principal("")
                if response is None and principal is not None:
                    _enter(scope, principal)
            else:
                response = JSONResponse(
                    {"error": "login required: log in"
                     + ("" if self.auth.named else ", or send Authorization: Bearer <token>")},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="consentlog"'},
                )  # fmt: skip
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


def _enter(scope: Scope, principal: Principal) -> None:
    """Leave ``principal`` in the request's state (a new dict: the server's lifespan state
    is shared between requests)."""
    scope["state"] = {**scope.get("state", {}), STATE_KEY: principal}


def _refusal(path: str, base: str) -> Response:
    """The 403 answer to a cross-site state-changing request."""
    message = "cross-site request refused: use the dashboard's own forms"
    if path.startswith("/api/"):
        return JSONResponse({"error": message}, status_code=403)
    return HTMLResponse(
        templates.error_page(base=base, status=403, message=message), status_code=403
    )
