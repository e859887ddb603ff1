"""The Privacy page: a data subject's rows exported or erased from the dashboard, and the
audit of every such request (``subject_requests``: when, what, who acted, how many rows,
whether it finished — never whom it was about).

``GET /privacy`` shows the forms and the audit of the range; ``POST /privacy/export``
answers the subject's rows as a JSON download; ``POST /privacy/forget`` (with
``confirm=erase``) erases them (``privacy.subject``, channel ``dashboard``; the actor is
the logged-in user's name, or ``shared password`` in single-password mode); ``GET
/privacy/evidence`` downloads the range's evidence pack (``privacy.evidence``). The ids
travel in POST bodies only, never in a URL (URLs end up in logs and histories). Which
dashboard user acted is logged (never the subject's ids). Events still spooled by the
site's writer during a store outage are not reached from here: ``consentlog forget``
also erases those.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import structlog
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from consentlog.analytics import reports
from consentlog.dashboard import templates
from consentlog.dashboard.filters import Filters, base_path, parse_filters
from consentlog.dashboard.queries import fetch
from consentlog.dashboard.roles import principal_of
from consentlog.exceptions import BadRequest
from consentlog.privacy.evidence import evidence, file_name
from consentlog.privacy.subject import Subject, erase, export
from consentlog.settings import Settings
from consentlog.store import Store

log = structlog.get_logger("consentlog.dashboard.privacy")

MAX_ID = 200  # characters: ids are 32 to 64


def _subject(form: dict[str, str]) -> Subject:
    """The subject a form names; BadRequest when it names none or a malformed id."""
    visitor, consent = form.get("visitor", "").strip(), form.get("consent", "").strip()
    for name, value in (("visitor id", visitor), ("consent id", consent)):
        if len(value) > MAX_ID or not value.isascii() or not value.isprintable():
            raise BadRequest(400, f"the {name} is not one: paste it as the cookie or record has it")
    if not visitor and not consent:
        raise BadRequest(400, "name the data subject: a visitor id or a consent id")
    return Subject(visitor_ids=(visitor,) if visitor else (), consent_id=consent)


def _actor(request: Request) -> str:
    """Who acts, as the audit records it."""
    principal = principal_of(request)
    if principal is None:  # the role guard lets no one here without one
        raise BadRequest(401, "log in to handle data-subject requests")
    return principal.name or "shared password"


class PrivacyDesk:
    """The routes of the Privacy page."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        prefix: str,
        read_form: Callable[[Request], Awaitable[dict[str, str]]],
    ) -> None:
        self.store = store
        self.settings = settings
        self.database = settings.database
        self.prefix = prefix
        self._read_form = read_form

    async def page(self, request: Request) -> Response:
        """GET /privacy: the export and erase forms, the audit of the range."""
        return await self._render(request, parse_filters(request.query_params))

    async def export(self, request: Request) -> Response:
        """POST /privacy/export: every row about the subject, as a JSON download."""
        subject = _subject(await self._read_form(request))
        data = await fetch(export, self.store, self.database, subject, "dashboard", _actor(request))
        self._log(request, "export")
        return Response(
            json.dumps(data, indent=2),
            media_type="application/json",
            headers={"Content-Disposition": 'attachment; filename="consentlog-subject.json"'},
        )

    async def forget(self, request: Request) -> Response:
        """POST /privacy/forget: erase every row about the subject (``confirm=erase``)."""
        form = await self._read_form(request)
        if form.get("confirm") != "erase":
            raise BadRequest(400, "tick the box that confirms the erasure")
        subject = _subject(form)
        removed = await fetch(
            erase, self.store, self.database, subject, "dashboard", _actor(request)
        )
        self._log(request, "erase")
        total = sum(removed.values())
        result = (
            f"Erased {total:,} rows: "
            + ", ".join(f"{count:,} {table}" for table, count in removed.items())
            + "."
            if total
            else "Nothing is stored about this subject: nothing was erased."
        )
        return await self._render(request, parse_filters({}), result=result)

    async def evidence(self, request: Request) -> Response:
        """GET /privacy/evidence?start=&end=: the evidence pack of the range, as a ZIP
        download (``privacy.evidence``; without visitor ids or addresses)."""
        filters = parse_filters(request.query_params)
        pack = await fetch(evidence, self.store, self.settings, filters.start, filters.end)
        self._log(request, "evidence")
        name = file_name(filters.start, filters.end)
        return Response(
            pack,
            media_type="application/zip",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Cache-Control": "no-store",
            },
        )

    def _log(self, request: Request, action: str) -> None:
        principal = principal_of(request)
        log.info("dashboard_subject_request", action=action, user=principal and principal.name)

    async def _render(self, request: Request, filters: Filters, result: str = "") -> Response:
        requests = await fetch(
            reports.subject_requests, self.store, self.database, filters.start, filters.end
        )
        return HTMLResponse(
            templates.page(
                "privacy.html",
                base=base_path(request, self.prefix),
                here="/privacy",
                active="/privacy",
                filters=filters,
                principal=principal_of(request),
                requests=requests,
                result=result,
            )
        )
