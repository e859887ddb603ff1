"""``create_dashboard``: the analyst dashboard as a Starlette app, standalone or mounted.

Routes (relative to where it is mounted): ``/`` Overview, ``/pages`` the usefulness
table, ``/pages/detail?path=`` one page, ``/goals``, ``/funnels``, ``/sources``,
``/countries``, ``/bots``, ``/consent``, ``/errors``, ``/now``, ``/pages.csv``, the JSON API
under ``/api/``,
``/privacy`` (data-subject requests), ``/share`` and ``/shared/{token}`` (read-only share
links), ``/saved`` and ``/saved/delete`` (saved filters, named users only), and
``/login`` / ``/login/totp`` / ``/logout``. Everything but the login forms, the
stylesheet and share links needs a session (``auth.LoginRequired``), and every route a
permission of the session's role (``roles.require``: 403 otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from consentlog.dashboard import share as sharing
from consentlog.dashboard import templates
from consentlog.dashboard.api import Api
from consentlog.dashboard.auth import Auth, LoginRequired, read_form
from consentlog.dashboard.export import Export
from consentlog.dashboard.filters import base_path, route_path
from consentlog.dashboard.headers import SecurityHeaders
from consentlog.dashboard.privacy import PrivacyDesk
from consentlog.dashboard.queries import Reports
from consentlog.dashboard.roles import (
    REPORT_PAGES,
    SHAREABLE,
    Endpoint,
    Forbidden,
    Permission,
    landing,
    principal_of,
)
from consentlog.dashboard.roles import require as needs
from consentlog.dashboard.saved import SavedFilters
from consentlog.dashboard.sessions import Accounts, Credentials, Sessions
from consentlog.dashboard.share import SharedPages, ShareError, ShareLinks
from consentlog.dashboard.style import stylesheet
from consentlog.dashboard.throttle import Throttle
from consentlog.dashboard.users import UserStore
from consentlog.dashboard.views import Views
from consentlog.exceptions import BadRequest, StoreUnavailable
from consentlog.settings import FunnelRule, Settings
from consentlog.store import Store
from consentlog.store.schema import check_identifier

PUBLIC = frozenset({"/login", "/login/totp", "/static/dashboard.css"})
PUBLIC_PREFIXES = ("/shared/",)


def create_dashboard(
    store: Store,
    *,
    database: str,
    password: str | None = None,
    token: str | None = None,
    users: UserStore | None = None,
    secret_keys: Sequence[str],
    prefix: str = "",
    trusted_proxy_hops: int = 0,
    trust_forwarded_host: bool = False,
    throttle: Throttle | None = None,
    funnels: Sequence[FunnelRule] = (),
    site_settings: Settings | None = None,
) -> Starlette:
    """The dashboard over ``database`` on ``store``.

    ``users`` (a users file, ``CONSENTLOG_USERS_FILE``) logs named users in with their
    roles; without it, ``password`` and/or ``token`` are the secrets that log in (at least
    one) as one full-access user, and the token also works as ``Authorization: Bearer``
    for the API. With ``users``, ``password`` and ``token`` are not used. ``secret_keys``
    sign sessions and share links (newest last, like ``CONSENTLOG_SECRET_KEY``).
    ``prefix`` is where the app is mounted (``"/analytics"``); when empty, the mount's
    ``root_path`` is used for links and the session cookie's Path. ``trusted_proxy_hops``
    reverse proxies are trusted for the same-origin check and the client address failed
    logins are counted against, and ``trust_forwarded_host`` for their
    ``X-Forwarded-Host``, as in ``Settings``; ``throttle`` replaces the default
    failed-login limits; a users file or folder that group or others may write, or a file
    of another owner than this process's or root, is refused (``UserError``); ``funnels``
    are the site's funnels (``Settings.funnel_rules``) the Funnels page reports;
    ``site_settings`` are the site's, which the evidence pack states (its retention and
    the like; default: the defaults, over ``database``).
    """
    if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
        raise ValueError(f"prefix={prefix!r}: must start with '/' and not end with '/'")
    credentials: Credentials | None = None
    accounts: Accounts
    if users is not None:
        users.check_safe()  # who may change the file decides who logs in
        accounts = users
    else:
        accounts = credentials = Credentials(password, token)
    auth = Auth(
        Sessions(secret_keys, accounts),
        credentials=credentials,
        users=users,
        prefix=prefix,
        throttle=throttle,
        trusted_proxy_hops=trusted_proxy_hops,
        trust_forwarded_host=trust_forwarded_host,
    )
    reports = Reports(store, check_identifier(database), tuple(funnels))
    saved = SavedFilters(users, prefix=prefix, read_form=read_form) if users else None
    views = Views(reports, prefix=prefix, saved=saved)
    api, export = Api(reports), Export(reports)
    pages = {
        "/": views.overview,
        "/pages": views.pages,
        "/pages/detail": views.detail,
        "/goals": views.goals,
        "/funnels": views.funnels,
        "/sources": views.sources,
        "/countries": views.countries,
        "/bots": views.bots,
        "/consent": views.consent,
        "/errors": views.errors,
        "/now": views.now,
    }
    shared = SharedPages(
        ShareLinks(secret_keys, accounts),
        {page: pages[page] for page in SHAREABLE},
        prefix=prefix,
        read_form=read_form,
        site_url=auth.site_url,
    )
    desk = PrivacyDesk(
        store,
        site_settings or Settings(database=reports.database),
        prefix=prefix,
        read_form=read_form,
    )
    apis: list[tuple[str, Endpoint, Permission]] = [
        ("/api/overview", api.overview, "reports"),
        ("/api/pages", api.pages, "reports"),
        ("/api/pages/detail", api.detail, "reports"),
        ("/api/goals", api.goals, "reports"),
        ("/api/funnels", api.funnels, "reports"),
        ("/api/sources", api.sources, "reports"),
        ("/api/countries", api.countries, "reports"),
        ("/api/bots", api.bots, "reports"),
        ("/api/consent", api.consent, "consent"),
        ("/api/errors", api.errors, "reports"),
        ("/api/now", api.now, "reports"),
    ]
    routes = [
        *(Route(path, needs(REPORT_PAGES[path], page)) for path, page in pages.items()),
        Route("/pages.csv", needs("reports", needs("download", export.pages_csv))),
        # the API needs its own permission and that of the page it mirrors
        *(Route(path, needs(seen, needs("api", endpoint))) for path, endpoint, seen in apis),
        Route("/privacy", needs("privacy", desk.page), methods=["GET"]),
        Route("/privacy/export", needs("privacy", desk.export), methods=["POST"]),
        Route("/privacy/forget", needs("privacy", desk.forget), methods=["POST"]),
        Route("/privacy/evidence", needs("privacy", desk.evidence), methods=["GET"]),
        Route("/share", needs("share", shared.create), methods=["POST"]),
        *(
            [
                Route("/saved", needs("saved", saved.save), methods=["POST"]),
                Route("/saved/delete", needs("saved", saved.delete), methods=["POST"]),
            ]
            if saved
            else []
        ),
        Route("/shared/{token}", shared.open, methods=["GET"]),
        Route("/login", auth.login_form, methods=["GET"]),
        Route("/login", auth.login, methods=["POST"]),
        Route("/login/totp", auth.login_totp, methods=["POST"]),
        Route("/logout", auth.logout, methods=["POST"]),
        Route("/static/dashboard.css", stylesheet),
    ]

    def problem(request: Request, status: int, message: str) -> Response:
        if route_path(request).startswith(PUBLIC_PREFIXES):  # a share link: no way in
            return sharing.failed(request, prefix, status, message)
        if route_path(request).startswith("/api/"):
            return JSONResponse({"error": message}, status_code=status)
        base = base_path(request, prefix)
        principal = principal_of(request)
        home = base + (landing(principal) if principal else "/")
        return HTMLResponse(
            templates.error_page(base=base, status=status, message=message, home=home),
            status_code=status,
        )

    async def forbidden(request: Request, exc: Exception) -> Response:
        return problem(request, 403, str(exc))

    async def share_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, ShareError):
            return sharing.error(request, prefix, exc)
        return problem(request, 400, str(exc))

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
            Middleware(LoginRequired, auth=auth, public=PUBLIC, public_prefixes=PUBLIC_PREFIXES),
        ],
        exception_handlers={
            Forbidden: forbidden,
            ShareError: share_error,
            BadRequest: bad_request,
            StoreUnavailable: unavailable,
            HTTPException: http_error,
        },
    )
