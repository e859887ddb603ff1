"""One visitor's request as consentlog sees it: cookies, consent, privacy signals.

``Visit.read`` does the only work the request path needs: parse the ``Cookie`` header,
verify the consent cookie's signature, look for ``Sec-GPC`` / ``DNT``. ``cookie_changes``
says which ``Set-Cookie`` headers bring the browser in line with the decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from starlette.types import Scope

from consentlog.consent.cache import BoundedCache
from consentlog.consent.cookies import CookieFilter, CookieWriter, parse_cookie_header
from consentlog.consent.decision import ConsentCodec, CookieState, Decision, Source
from consentlog.consent.http import Origin, best_language, forced_language, origin_of, text
from consentlog.consent.identifiers import IdentifierSigner, Kind
from consentlog.settings import ANALYTICS, Settings

_NONE: Mapping[str, str] = MappingProxyType({})
MAX_COOKIE_HEADER = 8192  # characters of a Cookie header read; browsers send at most ~4 KB
# A browser sends the same header until a cookie changes: the headers of visitors whose
# consent verified are remembered parsed, within a bound of entries and bytes.
_PARSED: BoundedCache[str, Mapping[str, str]] = BoundedCache(4096, 8 * 1024 * 1024)


class Visit:
    """The consent-relevant facts of one request."""

    __slots__ = (
        "_forced",
        "_forwarded_host",
        "_hops",
        "_ids",
        "_origin",
        "_scope",
        "_signer",
        "cookie",
        "cookies",
        "headers",
        "signal",
    )

    def __init__(
        self,
        scope: Scope,
        headers: dict[bytes, bytes],
        cookies: Mapping[str, str],
        cookie: CookieState,
        signal: Source | None,
        settings: Settings,
        signer: IdentifierSigner,
    ) -> None:
        self.headers = headers
        self.cookies = cookies
        self.cookie = cookie
        self.signal = signal  # 'gpc' / 'dnt' when the browser refuses tracking by header
        self._scope = scope
        # read now, as the plan cache's key is (asgi/plans.py): set later, it would apply
        # to some answers and not others
        self._forced = forced_language(scope)
        self._hops = settings.trusted_proxy_hops
        self._forwarded_host = settings.trust_forwarded_host
        self._signer = signer
        self._origin: Origin | None = None
        self._ids: Identifiers | None = None

    @classmethod
    def read(
        cls, scope: Scope, headers: dict[bytes, bytes], settings: Settings, codec: ConsentCodec
    ) -> Visit:
        """What this request proves about consent."""
        raw_cookie = headers.get(b"cookie")
        raw = raw_cookie[:MAX_COOKIE_HEADER].decode("latin-1") if raw_cookie else ""
        known = _PARSED.get(raw) if raw else None
        cookies = known if known is not None else parse_cookie_header(raw) if raw else _NONE
        signal: Source | None = None
        if settings.honor_gpc and headers.get(b"sec-gpc", b"").strip() == b"1":
            signal = "gpc"
        elif settings.honor_dnt and headers.get(b"dnt", b"").strip() == b"1":
            signal = "dnt"
        state = codec.loads(cookies.get(settings.consent_cookie))
        if known is None and state.decision is not None:  # never a stranger's junk
            _PARSED.put(raw, cookies, 2 * len(raw) + 64 * len(cookies))
        return cls(scope, headers, cookies, state, signal, settings, codec.identifiers)

    @property
    def origin(self) -> Origin:
        """Scheme, host and client address (computed on first use)."""
        if self._origin is None:
            self._origin = origin_of(
                self._scope, self.headers, self._hops, forwarded_host=self._forwarded_host
            )
        return self._origin

    def proven_ids(self, settings: Settings) -> Identifiers:
        """The visitor and session ids of this browser that the server issued together
        with its verified consent cookie ('' for any that does not verify)."""
        if self._ids is None:
            consent_id = self.cookie.previous_id
            vid = self.cookies.get(settings.visitor_cookie)
            sid = self.cookies.get(settings.session_cookie)
            verify = self._signer.verify
            self._ids = Identifiers(
                vid if vid is not None and verify(vid, "visitor", consent_id) else "",
                sid if sid is not None and verify(sid, "session", consent_id) else "",
            )
        return self._ids

    def issue_id(self, kind: Kind, consent_id: str) -> str:
        """A new id of ``kind`` for this browser, bound to its decision's ``consent_id``."""
        return self._signer.issue(kind, consent_id)

    @property
    def decision(self) -> Decision | None:
        """The visitor's valid decision from their cookie, or None."""
        return self.cookie.decision

    def language(self, known: frozenset[str], default: str) -> str:
        """The visitor's language among ``known``: the one the host application set for
        this request (``scope["state"]["consent_language"]``), else the best match of
        ``Accept-Language``, else ``default``."""
        forced = self._forced
        if forced and (tag := best_language(forced, known)):
            return tag
        header = text(self.headers, b"accept-language", 256)
        return best_language(header, known) or default

    def secure(self, settings: Settings) -> bool:
        """Whether cookies get the Secure flag."""
        if settings.secure_cookies == "auto":
            scheme = self._scope.get("scheme", "http")
            return scheme in {"https", "wss"} if not self._hops else self.origin.https
        return settings.secure_cookies == "always"


@dataclass(slots=True)
class Identifiers:
    """The traffic-log identifiers of a consented visitor ('' without consent)."""

    visitor_id: str = ""
    session_id: str = ""


def cookie_changes(
    visit: Visit,
    decision: Decision | None,
    settings: Settings,
    writer: CookieWriter,
    cookie_filter: CookieFilter,
) -> tuple[list[bytes], Identifiers]:
    """The ``Set-Cookie`` values that make the browser's cookies match ``decision``, and
    the identifiers the request may be logged with.

    With analytics accepted: the visitor id is kept (never extended) if the server issued
    it with this decision's consent id, else a new one is issued; likewise the session id,
    whose idle timer restarts. Otherwise every traffic-log cookie and the first governed
    host cookies the browser sent are expired.
    """
    secure = visit.secure(settings)
    cookies = visit.cookies
    changes: list[bytes] = []
    accepted = decision.accepted if decision is not None else frozenset()
    if decision is not None and ANALYTICS in accepted:
        proven = visit.proven_ids(settings)
        if decision.consent_id != visit.cookie.previous_id:
            proven = Identifiers()  # ids issued with another consent are not this one's
        ids = Identifiers(proven.visitor_id, proven.session_id)
        if not ids.visitor_id:
            ids.visitor_id = visit.issue_id("visitor", decision.consent_id)
            changes.append(
                writer.set(settings.visitor_cookie, ids.visitor_id,
                           max_age=settings.visitor_max_age, secure=secure, http_only=True)
            )  # fmt: skip
        if not ids.session_id:
            ids.session_id = visit.issue_id("session", decision.consent_id)
        changes.append(
            writer.set(settings.session_cookie, ids.session_id,
                       max_age=settings.session_idle, secure=secure, http_only=True)
        )  # fmt: skip
    else:
        ids = Identifiers()
        for name in (settings.visitor_cookie, settings.session_cookie):
            if name in cookies:
                changes.append(writer.expire(name, secure=secure))
    for name in cookie_filter.governed(cookies, accepted):
        changes.append(writer.expire(name, secure=secure))
    if (
        visit.cookie.present
        and visit.decision is None
        and not visit.cookie.stale
        and decision is None
    ):
        # a consent cookie that does not verify is worthless: stop the browser sending it
        changes.append(writer.expire(settings.consent_cookie, secure=secure))
    return changes, ids
