"""The consent HTTP surface under the route prefix (default ``/_consent``).

``GET``: the current decision as JSON. ``POST``: record a decision (JSON or an HTML form,
which is answered with 303 back to a same-origin ``next``). ``DELETE`` or
``POST …/withdraw``: withdraw. ``POST …/beacon``: engagement (see ``beacon.py``).
``POST …/check``: the script ran on a page served without consent (``checks.py``). Plus
the banner's assets, ``GET …/banner.html`` (the banner markup, for a page that includes
the script by hand and for the script to fetch when a decided visitor reopens it),
``GET …/settings`` (the cookie settings page a ``data-consent-open`` link leads to without
JavaScript) and ``/.well-known/gpc.json``.
State changes refuse cross-site requests; bad input gets a 4xx naming the problem.
``GET …/my-data`` and ``POST …/forget`` (``selfservice.py``) are rate-limited per client
and site-wide (429 with ``Retry-After``). A decision or withdrawal never waits on the
store: with ``erase_on_withdraw`` an erasure the store cannot take now is kept (202).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import MutableHeaders
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Receive, Scope, Send

from consentlog.asgi.assets import asset_response
from consentlog.asgi.banner import settings_page
from consentlog.asgi.beacon import Beacon, page_path
from consentlog.asgi.body import json_object, last, parse_form, read_body
from consentlog.asgi.checks import Checks
from consentlog.asgi.core import ConsentCore
from consentlog.asgi.ratelimit import SelfServiceLimits
from consentlog.asgi.selfservice import (
    PRIVATE,
    RETRY_AFTER,
    Erasure,
    erase_or_keep,
    forget,
    keep,
    my_data,
    store_down,
    subject_of,
)
from consentlog.consent.decision import NO_COOKIE, Decision, Source
from consentlog.consent.http import cross_site_reason, header_map, safe_next, text, web_origin
from consentlog.consent.visit import Visit, cookie_changes
from consentlog.exceptions import BadRequest
from consentlog.ingest.events import MAX_QUERY, MAX_REFERRER, unsafe_text
from consentlog.ingest.writer import Writer
from consentlog.settings import ANALYTICS

GPC_PATH = "/.well-known/gpc.json"
GPC_LAST_UPDATE = "2026-11-28"
ACTIONS = frozenset(("accept_all", "reject_all", "custom", "allow"))
# "allow" (an embed's "Always allow"): the categories posted are added to the decision the
# visitor already has, whatever was accepted since the page was made; it is recorded as
# a "custom" decision, the categories then accepted being what it holds


def _text_field(payload: dict[str, Any], name: str, limit: int) -> str:
    """An optional text field of a JSON body, at most ``limit`` characters; 400 otherwise."""
    value = payload.get(name, "")
    if not isinstance(value, str) or len(value) > limit:
        raise BadRequest(400, f"'{name}' must be a text of at most {limit} characters")
    if unsafe_text(value):
        raise BadRequest(400, f"'{name}' holds a control character or a lone surrogate")
    return value


@dataclass(frozen=True, slots=True)
class Submission:
    """A decision as the visitor submitted it."""

    accepted: frozenset[str]
    action: str
    form: bool
    next_url: str = "/"
    page: str = ""  # the path of the page the decision was made on (JSON), decoded
    arrival: tuple[str, str] = ("", "")  # that page's referrer and query string (JSON)


class ConsentRoutes:
    """Answers every request under the prefix (and the GPC well-known file)."""

    def __init__(self, core: ConsentCore) -> None:
        self.core = core
        self.settings = core.settings
        self._assets = {
            asset.name: asset for asset in (core.script, core.stylesheet, *core.embed_assets)
        }
        self._beacon = Beacon(core)
        self._checks = Checks(core)
        self.limits = SelfServiceLimits()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            response = await self._dispatch(scope, receive)
        except BadRequest as exc:
            response = error(exc.status, exc.message)
        await response(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive) -> Response:
        path, method = scope["path"], scope["method"]
        if path == GPC_PATH:
            _allow(method, ("GET", "HEAD"))
            return JSONResponse({"gpc": True, "lastUpdate": GPC_LAST_UPDATE})
        tail = path[len(self.settings.prefix) :]
        headers = header_map(scope)
        visit = self.core.visit(scope)
        if tail in {"", "/"}:
            _allow(method, ("GET", "HEAD", "POST", "DELETE"))
            if method in {"GET", "HEAD"}:
                return JSONResponse(self._state(visit))
            self._refuse_cross_site(visit)
            if method == "DELETE":
                return await self._withdraw(visit, form=False)
            submission = await self._read_decision(visit, receive, headers)
            return self._decide(visit, submission)
        if tail == "/withdraw":
            _allow(method, ("POST",))
            self._refuse_cross_site(visit)
            content_type = text(headers, b"content-type", 200)
            if content_type.startswith("application/x-www-form-urlencoded"):
                fields = parse_form(await read_body(receive, headers, self.settings.max_body_bytes))
                return await self._withdraw(visit, form=True, next_url=_next(fields))
            return await self._withdraw(visit, form=False)
        if tail == "/my-data":
            _allow(method, ("GET",))
            self._refuse_cross_site(visit)
            return self._limited(visit) or await my_data(visit, self.core)
        if tail == "/forget":
            _allow(method, ("POST",))
            self._refuse_cross_site(visit)
            return self._limited(visit) or await self._forget(visit, receive, headers)
        if tail == "/beacon":
            _allow(method, ("POST",))
            self._refuse_cross_site(visit)
            return await self._beacon(visit, receive, headers)
        if tail == "/check":
            _allow(method, ("POST",))
            self._refuse_cross_site(visit)
            return await self._checks(receive, headers)
        if tail == "/banner.html":
            _allow(method, ("GET", "HEAD"))
            return self._banner_fragment(visit, scope)
        if tail == "/settings":
            _allow(method, ("GET", "HEAD"))
            return self._settings_page(visit, scope)
        if tail == "/consent-mode.js":
            _allow(method, ("GET", "HEAD"))
            return self._consent_mode(visit)
        asset = self._assets.get(tail.lstrip("/"))
        if asset is not None:
            _allow(method, ("GET", "HEAD"))
            return asset_response(asset, scope, headers)
        raise BadRequest(404, f"no consent route {path[:100]!r}")

    # -- reading --------------------------------------------------------------------------

    def _refuse_cross_site(self, visit: Visit) -> None:
        reason = cross_site_reason(visit.headers, visit.origin)
        if reason is not None:
            raise BadRequest(403, reason)

    def _limited(self, visit: Visit) -> Response | None:
        """A 429 when this client, or the site as a whole, asks for data too often."""
        reaches_store = subject_of(visit, self.core) is not None
        wait = self.limits.admit(visit.origin.client_ip, reaches_store=reaches_store)
        if not wait:
            return None
        response = error(429, f"too many requests for stored data; try again in {wait} s")
        response.headers["retry-after"] = str(wait)
        return response

    async def _read_decision(
        self, visit: Visit, receive: Receive, headers: dict[bytes, bytes]
    ) -> Submission:
        """What a decision request asks for."""
        content_type = text(headers, b"content-type", 200).split(";", 1)[0].strip().lower()
        if content_type not in {"application/json", "application/x-www-form-urlencoded"}:
            raise BadRequest(
                415, "send the decision as application/json or an urlencoded HTML form"
            )
        body = await read_body(receive, headers, self.settings.max_body_bytes)
        if content_type == "application/json":
            accepted, action, page, arrival = self._parse_json(body)
            return Submission(accepted, action, form=False, page=page, arrival=arrival)
        fields = parse_form(body)
        action = last(fields, "action")
        if action not in ACTIONS:
            raise BadRequest(400, f"form field 'action' must be one of {sorted(ACTIONS)}")
        requested = dict.fromkeys(fields.get("category", []), True)
        if action == "allow":
            if not requested:
                raise BadRequest(400, "action 'allow' needs a form field 'category'")
            current, _ = self.core.effective_decision(visit)
            optional = {c.name for c in self.settings.optional_categories}
            kept = current.accepted & optional if current is not None else frozenset()
            requested |= dict.fromkeys(kept, True)  # a category since removed is not kept
            action = "custom"
        return Submission(
            self._accepted(action, requested),
            action,
            form=True,
            next_url=_next(fields),
        )

    def _parse_json(self, body: bytes) -> tuple[frozenset[str], str, str, tuple[str, str]]:
        """The categories accepted, the action, the page's path ('' when not sent), and how
        the page was reached (its referrer and query string, for its consented copy)."""
        payload = json_object(body, "request body")
        unknown = sorted(set(payload) - {"action", "categories", "path", "referrer", "query"})
        if unknown:
            raise BadRequest(400, f"unknown field {unknown[0][:50]!r}")
        page = page_path(payload["path"], "path") if "path" in payload else ""
        arrival = (
            _text_field(payload, "referrer", MAX_REFERRER),
            _text_field(payload, "query", MAX_QUERY),
        )
        accepted, action = self._chosen(payload)
        return accepted, action, page, arrival

    def _chosen(self, payload: dict[str, Any]) -> tuple[frozenset[str], str]:
        if "categories" in payload:
            requested = payload["categories"]
            if not isinstance(requested, dict) or not all(
                isinstance(v, bool) for v in requested.values()
            ):
                raise BadRequest(400, "'categories' must map category names to true/false")
            action = payload.get("action", "custom")
            if action != "custom":
                raise BadRequest(400, "'categories' goes with action 'custom' (or no action)")
            return self._accepted("custom", requested), "custom"
        action = payload.get("action")
        if action not in ("accept_all", "reject_all"):  # a tuple: action may be a list
            raise BadRequest(
                400, 'send {"action": "accept_all"|"reject_all"} or {"categories": {…}}'
            )
        return self._accepted(action, {}), action

    def _accepted(self, action: str, requested: dict[str, bool]) -> frozenset[str]:
        optional = {c.name for c in self.settings.optional_categories}
        required = {c.name for c in self.settings.categories} - optional
        if action == "accept_all":
            return frozenset(optional)
        if action == "reject_all":
            return frozenset()
        for name, wanted in requested.items():
            if name in required:
                if not wanted:
                    raise BadRequest(400, f"category {name!r} is necessary and cannot be declined")
            elif name not in optional:
                raise BadRequest(400, f"unknown category {name[:50]!r}")
        return frozenset(name for name, wanted in requested.items() if wanted and name in optional)

    # -- answering ------------------------------------------------------------------------

    def _state(self, visit: Visit, decision: Decision | None = None) -> dict[str, Any]:
        if decision is None:
            decision, _ = self.core.effective_decision(visit)
        accepted = decision.accepted if decision is not None else frozenset()
        return {
            "decided": decision is not None,
            "categories": {
                c.name: c.required or c.name in accepted for c in self.settings.categories
            },
            "policy_revision": self.settings.policy_revision,
            "consent_id": decision.consent_id if decision else None,
            "decided_at": decision.decided_at if decision else None,
            "source": decision.source if decision else None,
            "gpc": visit.signal == "gpc",
            "policy_changed": visit.cookie.stale,
        }

    def _decide(self, visit: Visit, submission: Submission) -> Response:
        source: Source = "form" if submission.form else "banner"
        decision = self.core.codec.new_decision(submission.accepted, source, visit.cookie)
        return self._answer(visit, decision, submission.action, submission)

    async def _withdraw(self, visit: Visit, *, form: bool, next_url: str = "/") -> Response:
        source: Source = "form" if form else "banner"
        previous = visit.cookie
        erasure = None
        if self.settings.erase_on_withdraw:
            erasure = await self._erase_on_withdraw(visit)
            previous = NO_COOKIE  # the erased consent id is not carried on
        decision = self.core.codec.new_decision((), source, previous)
        submission = Submission(frozenset(), "withdraw", form, next_url)
        return self._answer(visit, decision, "withdraw", submission, erasure)

    async def _erase_on_withdraw(self, visit: Visit) -> Erasure | None:
        """Erase at withdrawal without making the visitor wait for the store: with the
        background writer the request is kept on disk and carried out on its thread
        (``ErasureHook``) after its next cycle; another sink erases within
        ``STORE_WAIT`` or keeps it. What the visitor must be told of (the store is down,
        or nothing could be kept), or None."""
        subject = subject_of(visit, self.core)
        if subject is None:
            return None
        if not isinstance(self.core.sink, Writer):
            erasure = await erase_or_keep(subject, self.core)
        else:
            erasure = await keep(subject, self.core)
            if erasure.state == "failed":  # no disk: erasing now is all that is left
                erasure = await erase_or_keep(subject, self.core)
            elif not store_down(self.core):
                return None  # carried out within a cycle: nothing to tell
        return None if erasure.state == "done" else erasure

    def _answer(
        self,
        visit: Visit,
        decision: Decision,
        action: str,
        submission: Submission,
        erasure: Erasure | None = None,
    ) -> Response:
        core = self.core
        changes, ids = cookie_changes(
            visit, decision, self.settings, core.cookie_writer, core.cookie_filter
        )
        changes.append(core.consent_cookie(visit, decision))
        core.record_decision(visit, decision, action, ids)
        pageview = ""
        if submission.page and ANALYTICS in decision.accepted and ids.session_id:
            before, _ = core.effective_decision(visit)
            if before is None or ANALYTICS not in before.accepted:  # no token on that page
                pageview = self._beacon.accepted_on(visit, ids, submission.page, submission.arrival)
        if submission.form:
            response: Response = Response(
                status_code=303,
                headers={"location": submission.next_url, "cache-control": "no-store"},
            )
        else:
            state = self._state(visit, decision)
            if pageview:
                state["pv"] = pageview  # the page-view token of the page decided on
            status = 200
            if erasure is not None:  # the choice is taken; the erasure waits for the store
                state["erasure"] = self._erasure_sentence(visit, erasure)
                status = 202 if erasure.state == "pending" else 200
            response = JSONResponse(
                state, status_code=status, headers={"cache-control": "no-store"}
            )
        _add_cookies(response.headers, changes)
        return response

    async def _forget(
        self, visit: Visit, receive: Receive, headers: dict[bytes, bytes]
    ) -> Response:
        """Erase this browser's data, expire all its consentlog cookies (the banner
        returns), and answer JSON — or 303 back for the banner's HTML form."""
        form = text(headers, b"content-type", 200).startswith("application/x-www-form-urlencoded")
        next_url = "/"
        if form:
            fields = parse_form(await read_body(receive, headers, self.settings.max_body_bytes))
            next_url = _next(fields)
        erasure = await forget(visit, self.core)
        s, writer = self.settings, self.core.cookie_writer
        secure = visit.secure(s)
        names = [s.visitor_cookie, s.session_cookie, s.consent_cookie]
        names += self.core.cookie_filter.governed(visit.cookies, frozenset())
        response: Response
        if form and erasure.state != "done":
            # no script to show a message: the sentence itself, in plain text
            sentence = self._erasure_sentence(visit, erasure)
            response = Response(
                sentence + "\n",
                status_code=202 if erasure.state == "pending" else 503,
                media_type="text/plain; charset=utf-8",
                headers=PRIVATE,
            )
        elif form:
            response = Response(status_code=303, headers={"location": next_url, **PRIVATE})
        elif erasure.state == "done":
            response = JSONResponse({"erased": erasure.removed}, headers=PRIVATE)
        elif erasure.state == "pending":
            response = JSONResponse(
                {"erased": {}, "message": self._erasure_sentence(visit, erasure)},
                status_code=202,
                headers=PRIVATE,
            )
        else:
            response = JSONResponse(
                {"error": self._erasure_sentence(visit, erasure)},
                status_code=503,
                headers={**PRIVATE, "retry-after": str(RETRY_AFTER)},
            )
        if erasure.state != "failed":  # kept or done; after a failure the ids must stay for
            # the retry the answer asks for, or nothing would prove whose data to erase
            _add_cookies(response.headers, [writer.expire(n, secure=secure) for n in names])
        return response

    def _erasure_sentence(self, visit: Visit, erasure: Erasure) -> str:
        """What the visitor is told of an erasure that waits (or could not be kept), in
        their language; '' for one carried out."""
        texts = self.core.texts_for(visit)
        return {"pending": texts.erasure_pending, "failed": texts.erasure_failed}.get(
            erasure.state, ""
        )

    def _banner_fragment(self, visit: Visit, scope: Scope) -> Response:
        """The banner for a page that includes it by hand: that page already loaded the
        script, so the fragment is the markup and the stylesheet only."""
        decision, _ = self.core.effective_decision(visit)
        markup = self.core.banner.render(
            self.core.banner_state(visit, decision),
            _next(parse_qs(scope.get("query_string", b"").decode("latin-1"))),
            script=False,
        )
        return Response(markup, media_type="text/html", headers={"cache-control": "no-store"})

    def _consent_mode(self, visit: Visit) -> Response:
        """The Consent Mode script for this visitor, for a page that cannot get it inline
        (``<script src="/_consent/consent-mode.js">`` first in its ``<head>``, not
        deferred); it holds their decision, so it is never cached."""
        renderer = self.core.consent_mode
        if renderer is None:
            raise BadRequest(404, "Consent Mode is off (consent_mode='off'): use 'auto' or 'on'")
        decision, _ = self.core.effective_decision(visit)
        source = renderer.source(decision.accepted if decision is not None else None)
        return Response(
            source,
            media_type="text/javascript",
            headers={"cache-control": "private, no-store", "x-content-type-options": "nosniff"},
        )

    def _settings_page(self, visit: Visit, scope: Scope) -> Response:
        """The cookie settings page, where a ``data-consent-open`` link leads without
        JavaScript. It returns to ``?next=``, else to the page it was followed from (a
        same-origin ``Referer``), else to ``/``."""
        decision, _ = self.core.effective_decision(visit)
        fields = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if "next" not in fields:
            try:
                referer = urlsplit(text(visit.headers, b"referer", 2048))
            except ValueError:  # not a URL (``http://[x/``): no page to return to
                referer = urlsplit("")
            own = web_origin(visit.origin.scheme, visit.origin.host)
            if referer.netloc and f"{referer.scheme}://{referer.netloc}".lower() == own:
                fields["next"] = [referer.path + (f"?{referer.query}" if referer.query else "")]
        page = settings_page(
            self.core.banner, self.core.banner_state(visit, decision), _next(fields)
        )
        return HTMLResponse(page, headers={"cache-control": "no-store"})


# -- helpers ------------------------------------------------------------------------------


def error(status: int, message: str) -> Response:
    """A JSON error that names the problem."""
    return JSONResponse(
        {"error": message}, status_code=status, headers={"cache-control": "no-store"}
    )


def _allow(method: str, allowed: tuple[str, ...]) -> None:
    if method not in allowed:
        raise BadRequest(405, f"method {method[:20]} not allowed here; use {', '.join(allowed)}")


def _next(fields: dict[str, list[str]]) -> str:
    """The same-origin path a form or query asks to return to (``/`` when it asks for none)."""
    return safe_next(last(fields, "next", "/"))


def _add_cookies(headers: MutableHeaders, cookies: list[bytes]) -> None:
    for cookie in cookies:
        headers.append("set-cookie", cookie.decode("latin-1"))
