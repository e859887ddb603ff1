"""One visitor's request as consentlog sees it: cookies, consent, privacy signals.

``Visit.read`` does the only work the request path needs: parse the ``Cookie`` header,
verify the consent cookie's signature, look for ``Sec-GPC`` / ``DNT``. ``cookie_changes``
says which ``Set-Cookie`` headers bring the browser in line with the decision.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from starlette.types import Scope

from consentlog.consent.cookies import CookieFilter, CookieWriter, is_token, parse_cookie_header
from consentlog.consent.decision import ConsentCodec, CookieState, Decision, Source
from consentlog.consent.http import Origin, first_language, origin_of, text
from consentlog.settings import ANALYTICS, Settings

_NONE: Mapping[str, str] = MappingProxyType({})


def new_token() -> str:
    """A fresh random identifier, 128 bits."""
    return secrets.token_urlsafe(16)


class Visit:
    """The consent-relevant facts of one request."""

    __slots__ = ("_hops", "_origin", "_scope", "cookie", "cookies", "headers", "signal")

    def __init__(
        self,
        scope: Scope,
        headers: dict[bytes, bytes],
        cookies: Mapping[str, str],
        cookie: CookieState,
        signal: Source | None,
        trusted_hops: int,
    ) -> None:
        self.headers = headers
        self.cookies = cookies
        self.cookie = cookie
        self.signal = signal  # 'gpc' / 'dnt' when the browser refuses tracking by header
        self._scope = scope
        self._hops = trusted_hops
        self._origin: Origin | None = None

    @classmethod
    def read(
        cls, scope: Scope, headers: dict[bytes, bytes], settings: Settings, codec: ConsentCodec
    ) -> Visit:
        """What this request proves about consent."""
        raw_cookie = headers.get(b"cookie")
        cookies = parse_cookie_header(raw_cookie[:8192].decode("latin-1")) if raw_cookie else _NONE
        signal: Source | None = None
        if settings.honor_gpc and headers.get(b"sec-gpc", b"").strip() == b"1":
            signal = "gpc"
        elif settings.honor_dnt and headers.get(b"dnt", b"").strip() == b"1":
            signal = "dnt"
        state = codec.loads(cookies.get(settings.consent_cookie))
        return cls(scope, headers, cookies, state, signal, settings.trusted_proxy_hops)

    @property
    def origin(self) -> Origin:
        """Scheme, host and client address (computed on first use)."""
        if self._origin is None:
            self._origin = origin_of(self._scope, self.headers, self._hops)
        return self._origin

    @property
    def decision(self) -> Decision | None:
        """The visitor's valid decision from their cookie, or None."""
        return self.cookie.decision

    def language(self, settings: Settings) -> str:
        """The banner language: the visitor's first preference that has texts."""
        header = text(self.headers, b"accept-language", 256)
        return first_language(header, settings.languages) or settings.default_language

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

    With analytics accepted: the visitor id is kept or created (never extended), the
    session id is kept or created and its idle timer restarted. Otherwise every
    traffic-log cookie and every governed host cookie the browser sent is expired.
    """
    secure = visit.secure(settings)
    cookies = visit.cookies
    changes: list[bytes] = []
    accepted = decision.accepted if decision is not None else frozenset()
    if ANALYTICS in accepted:
        ids = Identifiers(
            cookies.get(settings.visitor_cookie, ""), cookies.get(settings.session_cookie, "")
        )
        if not is_token(ids.visitor_id):
            ids.visitor_id = new_token()
            changes.append(
                writer.set(settings.visitor_cookie, ids.visitor_id,
                           max_age=settings.visitor_max_age, secure=secure, http_only=True)
            )  # fmt: skip
        if not is_token(ids.session_id):
            ids.session_id = new_token()
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
