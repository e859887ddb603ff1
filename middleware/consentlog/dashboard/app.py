"""``create_dashboard``: the analyst dashboard as a Starlette app, standalone or mounted.

Routes (relative to where it is mounted): ``/`` Overview, ``/pages`` the usefulness
table, ``/pages/detail?path=`` one page, ``/goals``, ``/funnels``, ``/sources``,
``/countries``, ``/bots``, ``/consent``, ``/errors``, ``/now``, ``/pages.csv``, the JSON API
under ``/api/``, and ``/login`` / ``/logout``. Everything but the login form and the
stylesheet needs a session (``auth.LoginRequired``).
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from consentlog.dashboard import templates
from consentlog.dashboard.api import Api
from consentlog.dashboard.auth import Auth, LoginRequired
from consentlog.dashboard.export import Export
from consentlog.dashboard.filters import base_path, route_path
from consentlog.dashboard.headers import SecurityHeaders
from consentlog.dashboard.queries import Reports
from consentlog.dashboard.sessions import Credentials, Sessions
from consentlog.dashboard.style import stylesheet
from consentlog.dashboard.throttle import Throttle
from consentlog.dashboard.views import Views
from consentlog.exceptions import BadRequest, StoreUnavailable
from consentlog.settings import FunnelRule
from consentlog.store import Store
from consentlog.store.schema import check_identifier

PUBLIC = frozenset({"/login", "/static/dashboard.css"})


def create_dashboard(
    store: Store,
    *,
    database: str,
    password: str | None = None,
    token: str | None = None,
    secret_keys: Sequence[str],
    prefix: str = "",
    trusted_proxy_hops: int = 0,
    trust_forwarded_host: bool = False,
    throttle: Throttle | None = None,
    funnels: Sequence[FunnelRule] = (),
) -> Starlette:
    """The dashboard over ``database`` on ``store``.

    ``password`` and/or ``token`` are the secrets that log in (at least one); the token
    also works as ``Authorization: Bearer`` for the API. ``secret_keys`` sign sessions
    (newest last, like ``CONSENTLOG_SECRET_KEY``). ``prefix`` is where the app is mounted
    (``"/analytics"``); when empty, the mount's ``root_path`` is used for links and the
    session cookie's Path. ``trusted_proxy_hops`` reverse proxies are trusted for the
    same-origin check and the client address failed logins are counted against, and
    ``trust_forwarded_host`` for their ``X-Forwarded-Host``, as in ``Settings``;
    ``throttle`` replaces the default failed-login limits; ``funnels`` are the site's
    funnels (``Settings.funnel_rules``) the Funnels page reports.
    """
    if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
        raise ValueError(f"prefix={prefix!r}: must start with '/' and not end with '/'")
    credentials = Credentials(password, token)
    auth = Auth(
        credentials,
        Sessions(secret_keys, credentials),
        prefix=prefix,
        throttle=throttle,
        trusted_proxy_hops=trusted_proxy_hops,
        trust_forwarded_host=trust_forwarded_host,
    )
    reports = Reports(store, check_identifier(database), tuple(funnels))
    views, api, export = Views(reports, prefix=prefix), Api(reports), Export(reports)
    routes = [
        Route("/", views.overview),
        Route("/pages", views.pages),
        Route("/pages/detail", views.detail),
        Route("/goals", views.goals),
        Route("/funnels", views.funnels),
        Route("/sources", views.sources),
        Route("/countries", views.countries),
        Route("/bots", views.bots),
        Route("/consent", views.consent),
        Route("/errors", views.errors),
        Route("/now", views.now),
        Route("/pages.csv", export.pages_csv),
        Route("/api/overview", api.overview),
        Route("/api/pages", api.pages),
        Route("/api/pages/detail", api.detail),
        Route("/api/goals", api.goals),
        Route("/api/funnels", api.funnels),
        Route("/api/sources", api.sources),
        Route("/api/countries", api.countries),
        Route("/api/bots", api.bots),
        Route("/api/consent", api.consent),
        Route("/api/errors", api.errors),
        Route("/api/now", api.now),
        Route("/login", auth.login_form, methods=["GET"]),
        Route("/login", auth.login, methods=["POST"]),
        Route("/logout", auth.logout, methods=["POST"]),
        Route("/static/dashboard.css", stylesheet),
    ]

    def problem(request: Request, status: int, message: str) -> Response:
        if route_path(request).startswith("/api/"):
            return JSONResponse({"error": message}, status_code=status)
        base = base_path(request, prefix)
        return HTMLResponse(
            templates.error_page(base=base, status=status, message=message), status_code=status
        )

    async def bad_request(request: Request, exc: Exception) -> Response:
        status = exc.status if isinstance(exc, BadRequest) else 400
        return problem(request, status, str(exc))

    async def unavailable(request: Request, exc: Exception) -> Response:
        return problem(request, 503, f"the store did not answer: {exc}")

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "error"
        return problem(request, status, "no such page" if status == 404 else str(detail))

    return Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(LoginRequired, auth=auth, public=PUBLIC),
        ],
        exception_handlers={
            BadRequest: bad_request,
            StoreUnavailable: unavailable,
            HTTPException: http_error,
        },
    )
