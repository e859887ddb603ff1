"""Who may open what: the dashboard's roles, their permissions, and the route guard.

Every route needs one permission (or only a session); ``require`` wraps a route's
endpoint so the check runs where the route is served — whatever path spelling reached
it — and the navigation shows only what ``allows`` says the role may open.

| role    | reports | consent | download | api | share | saved | privacy |
|---------|---------|---------|----------|-----|-------|-------|---------|
| viewer  | yes     | yes     |          |     |       |       |         |
| analyst | yes     | yes     | yes      | yes | yes   | yes   |         |
| privacy |         | yes     |          |     |       |       | yes     |
| admin   | yes     | yes     | yes      | yes | yes   | yes   | yes     |

(reports: the analytics pages; consent: the Consent page; download: CSV; api: the JSON
API; share: read-only share links; saved: saved filters; privacy: consent records and
subject requests.)

``privacy`` sees the consent decisions and the subject-request tools, not the
analytics: a privacy officer's work needs no page usefulness, and fewer people seeing
traffic data is the smaller risk. ``admin`` is the single-password (and token) login, or
a named user given every permission.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, get_args

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

Role = Literal["viewer", "analyst", "privacy", "admin"]
Permission = Literal["reports", "consent", "download", "api", "share", "saved", "privacy"]

ROLES: tuple[Role, ...] = get_args(Role)
PERMISSIONS: dict[Role, frozenset[Permission]] = {
    "viewer": frozenset({"reports", "consent"}),
    "analyst": frozenset({"reports", "consent", "download", "api", "share", "saved"}),
    "privacy": frozenset({"consent", "privacy"}),
    "admin": frozenset(get_args(Permission)),
}
WHAT = {  # what a permission opens, for the 403 message
    "reports": "the analytics reports",
    "consent": "the consent report",
    "download": "CSV downloads",
    "api": "the JSON API",
    "share": "share links",
    "saved": "saved filters",
    "privacy": "the data-subject requests",
}
# each report page → the permission that opens it (its CSV and API need more)
REPORT_PAGES: dict[str, Permission] = {
    "/": "reports",
    "/pages": "reports",
    "/pages/detail": "reports",
    "/goals": "reports",
    "/funnels": "reports",
    "/sources": "reports",
    "/countries": "reports",
    "/bots": "reports",
    "/consent": "consent",
    "/errors": "reports",
    "/now": "reports",
}
SHAREABLE = frozenset(REPORT_PAGES) - {"/now"}  # a live page is no report to hand on
STATE_KEY = "principal"  # where the guard leaves the logged-in principal in the scope state
SHARED_KEY = "shared"  # set in the scope state when a share link renders a page


def parse_role(text: str) -> Role:
    """``text`` as a role; ValueError naming the roles otherwise."""
    for role in ROLES:
        if text == role:
            return role
    raise ValueError(f"unknown role {text!r}: use one of {', '.join(ROLES)}")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is logged in: a user name ('' for the single password), a role, and the
    stamp that changes whenever the user's password or role does (sessions and share
    links carry a digest of it, so such a change ends them)."""

    name: str
    role: Role
    stamp: str = field(repr=False)

    @property
    def label(self) -> str:
        """How the page header names them."""
        return f"{self.name} ({self.role})" if self.name else "shared password"

    def allows(self, permission: Permission) -> bool:
        """Whether the principal's role grants ``permission``."""
        return permission in PERMISSIONS[self.role]


class Forbidden(Exception):
    """The logged-in principal may not open this route (answered 403)."""

    def __init__(self, principal: Principal, permission: Permission) -> None:
        who = f"user {principal.name!r}" if principal.name else "this login"
        super().__init__(
            f"{who} (role {principal.role}) may not open {WHAT[permission]}: "
            "ask an administrator for another role"
        )


def principal_of(connection: HTTPConnection) -> Principal | None:
    """The principal the guard found for this request, if it is logged in."""
    found = connection.scope.get("state", {}).get(STATE_KEY)
    return found if isinstance(found, Principal) else None


def shared_view(connection: HTTPConnection) -> bool:
    """Whether the request renders a share link's page (read-only, no navigation)."""
    return bool(connection.scope.get("state", {}).get(SHARED_KEY))


def landing(principal: Principal) -> str:
    """The first page ``principal`` may open: where login and the brand link go."""
    for page, permission in REPORT_PAGES.items():
        if principal.allows(permission):
            return page
    return "/privacy"


Endpoint = Callable[[Request], Awaitable[Response]]


def require(permission: Permission, endpoint: Endpoint) -> Endpoint:
    """``endpoint``, answering 403 (``Forbidden``) unless the principal may ``permission``.
    A request without a principal never reaches it (the login guard turned it away)."""

    async def guarded(request: Request) -> Response:
        principal = principal_of(request)
        if principal is None:
            raise PermissionError("no principal on a guarded route: the login guard is missing")
        if not principal.allows(permission):
            raise Forbidden(principal, permission)
        return await endpoint(request)

    guarded.__doc__ = endpoint.__doc__
    return guarded
