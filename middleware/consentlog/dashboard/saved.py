"""Saved filters: a named user keeps report pages with their filters under a label.

Every report page offers **Saved filters**: the user's saved ones as links, and a form
that saves the page as it is (host, sort, the detail page's path; the dates only when
asked — without them a saved filter opens on the default range, so "last 30 days of
docs.example.org" stays current). They are kept with the user in the users file
(``users.UserStore.save_filter``), so every process sees them, and go with the user when
they are removed. ``POST /saved`` saves, ``POST /saved/delete`` forgets (both behind the
``saved`` permission and the guard's cross-site check). Single-password mode has no user
to keep them with: no saved filters there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from consentlog.consent.http import safe_next
from consentlog.dashboard.filters import base_path, report_query
from consentlog.dashboard.roles import REPORT_PAGES, principal_of
from consentlog.dashboard.users import SavedFilter, UserError, UserStore
from consentlog.exceptions import BadRequest

DATES = frozenset({"start", "end"})


@dataclass(frozen=True, slots=True)
class SavedLink:
    """A saved filter as the page lists it."""

    label: str
    href: str


@dataclass(frozen=True, slots=True)
class SavedBox:
    """What a report page shows of the user's saved filters, and what saving it keeps."""

    links: tuple[SavedLink, ...]
    page: str
    query: str  # the page's current query, without '?'


def _href(base: str, saved: SavedFilter) -> str:
    return f"{base}{saved.page}" + (f"?{urlencode(saved.query)}" if saved.query else "")


class SavedFilters:
    """The saved-filter routes, and the box every report page shows."""

    def __init__(
        self,
        users: UserStore,
        *,
        prefix: str,
        read_form: Callable[[Request], Awaitable[dict[str, str]]],
    ) -> None:
        self.users = users
        self.prefix = prefix
        self._read_form = read_form

    def box(self, request: Request, page: str, query: str) -> SavedBox | None:
        """The saved filters of the logged-in user (those of pages their role opens), or
        None when they may not save any."""
        principal = principal_of(request)
        if principal is None or not principal.name or not principal.allows("saved"):
            return None
        user = self.users.get(principal.name)
        if user is None:
            return None
        base = base_path(request, self.prefix)
        links = tuple(
            SavedLink(saved.label, _href(base, saved))
            for saved in user.saved
            if saved.page in REPORT_PAGES and principal.allows(REPORT_PAGES[saved.page])
        )
        return SavedBox(links, page, query)

    async def save(self, request: Request) -> Response:
        """POST /saved (form: ``label``, ``page``, ``query``, ``dates=1`` to keep the
        range): keep the page's filters, then open them."""
        principal = principal_of(request)
        if principal is None or not principal.name:
            raise BadRequest(400, "saved filters need a named user (CONSENTLOG_USERS_FILE)")
        form = await self._read_form(request)
        page, label = form.get("page", ""), form.get("label", "").strip()
        needed = REPORT_PAGES.get(page)
        if needed is None or not principal.allows(needed):
            raise BadRequest(400, f"page {page!r} is no report you may open: save a report page")
        try:
            params = dict(parse_qsl(form.get("query", ""), max_num_fields=16))
        except ValueError:
            raise BadRequest(400, "query: too many parameters for a report") from None
        query = report_query(page, params)
        if form.get("dates") != "1":
            query = tuple((name, value) for name, value in query if name not in DATES)
        saved = SavedFilter(label, page, query)
        try:
            await run_in_threadpool(self.users.save_filter, principal.name, saved)
        except UserError as exc:
            raise BadRequest(400, str(exc)) from None
        return RedirectResponse(_href(base_path(request, self.prefix), saved), status_code=303)

    async def delete(self, request: Request) -> Response:
        """POST /saved/delete (form: ``label``, ``next``): forget a saved filter."""
        principal = principal_of(request)
        form = await self._read_form(request)
        if principal is not None and principal.name:
            await run_in_threadpool(self.users.delete_filter, principal.name, form.get("label", ""))
        base = base_path(request, self.prefix)
        return RedirectResponse(safe_next(form.get("next", ""), base=base), status_code=303)
