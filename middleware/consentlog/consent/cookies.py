"""Reading the ``Cookie`` header and writing ``Set-Cookie`` headers.

Also the server-side enforcement: ``CookieFilter`` drops ``Set-Cookie`` headers the host
application emits for categories the visitor has not accepted.
"""

from __future__ import annotations

import fnmatch
import functools
import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from consentlog.settings import Category

_UNKNOWN = object()
MAX_EXPIRIES = 16  # host cookies expired per response; the rest go with the next ones
_MEMO_NAMES = 10_000  # cookie names whose category is remembered
_MEMO_NAME_LENGTH = 64  # longer names are matched each time, not remembered


def parse_cookie_header(raw: str) -> Mapping[str, str]:
    """Cookie name → value; malformed pairs are skipped, the first of a repeated name wins.

    The mapping is read-only, so that a caller may share it (``visit`` memoises the
    headers of visitors whose consent verified).
    """
    cookies: dict[str, str] = {}
    for chunk in raw.split(";"):
        name, sep, value = chunk.partition("=")
        name = name.strip()
        if sep and name and name not in cookies:
            cookies[name] = value.strip().strip('"')
    return MappingProxyType(cookies)


@dataclass(frozen=True, slots=True)
class CookieWriter:
    """Builds ``Set-Cookie`` values with consentlog's flags."""

    domain: str | None = None

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - the session cookie repeats per visitor
    def set(self, name: str, value: str, *, max_age: int, secure: bool, http_only: bool) -> bytes:
        """A ``Set-Cookie`` header value that sets ``name``."""
        parts = [f"{name}={value}", "Path=/", f"Max-Age={max_age}", "SameSite=Lax"]
        if self.domain:
            parts.append(f"Domain={self.domain}")
        if secure:
            parts.append("Secure")
        if http_only:
            parts.append("HttpOnly")
        return "; ".join(parts).encode("latin-1")

    def expire(self, name: str, *, secure: bool) -> bytes:
        """A ``Set-Cookie`` header value that deletes ``name`` now."""
        parts = [f'{name}=""', "Path=/", "Max-Age=0", "Expires=Thu, 01 Jan 1970 00:00:00 GMT"]
        if self.domain:
            parts.append(f"Domain={self.domain}")
        parts.append("SameSite=Lax")
        if secure:
            parts.append("Secure")
        return "; ".join(parts).encode("latin-1")


class CookieFilter:
    """Decides which host-application cookies a visitor's consent allows."""

    def __init__(self, categories: Iterable[Category]) -> None:
        self._known: dict[str, str | None] = {}  # cookie name → category, memoised
        self._rules = [
            (category.name, re.compile(fnmatch.translate(pattern)))
            for category in categories
            if not category.required
            for pattern in category.cookie_patterns
        ]

    def category_of(self, cookie_name: str) -> str | None:
        """The optional category a cookie name belongs to, or None if it is not governed."""
        known = self._known.get(cookie_name, _UNKNOWN)
        if known is not _UNKNOWN:
            return known  # type: ignore[return-value]
        category = next((c for c, pattern in self._rules if pattern.match(cookie_name)), None)
        # names come from visitors: the memo is bounded in entries and in their length
        if len(self._known) < _MEMO_NAMES and len(cookie_name) <= _MEMO_NAME_LENGTH:
            self._known[cookie_name] = category
        return category

    def allows(self, set_cookie: bytes, accepted: frozenset[str]) -> bool:
        """True if the ``Set-Cookie`` header value may reach a visitor who accepted ``accepted``."""
        name = set_cookie.split(b"=", 1)[0].strip().decode("latin-1")
        category = self.category_of(name)
        return category is None or category in accepted

    def governed(self, names: Iterable[str], accepted: frozenset[str]) -> list[str]:
        """Of the cookie names a browser sent, the first ``MAX_EXPIRIES`` its consent no
        longer allows. A browser stops sending what a response expired, so hundreds of
        such cookies go a few responses at a time, never in one header block."""
        refused = (n for n in names if (c := self.category_of(n)) is not None and c not in accepted)
        return list(itertools.islice(refused, MAX_EXPIRIES))
