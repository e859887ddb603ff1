"""Page-view tokens: how a beacon proves its page view belongs to the visitor's session.

Each page served to a consented visitor gets a page-view id: 8 hex digits of the time
it was issued (unix seconds) and 24 random ones, so the token carries its age without
growing. The page carries the token ``<id>.<mac>.<visitor id>`` (``<id>.<mac>`` when
issued without a visitor id), whose MAC (keyed BLAKE2b, with a key derived from the
site's newest secret key) binds the id, the session id, the visitor id and the path.
The beacon sends the token back; it verifies only with the same session cookie and path
and within ``max_age`` of being issued, and the visitor id it reports under is the one
the token carries — never a cookie read alongside. No lookup is needed.

The path is the page's path as the ASGI server decoded it (``scope["path"]``): whoever
verifies a path the browser sent (``location.pathname`` is %-encoded) decodes it first.
Time is the overridable ``now`` method, so expiry is tested without waiting.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Sequence
from typing import NamedTuple

from consentlog.consent.randomness import random_hex

# A day: a page left open in a tab all day still reports its engagement (the beacon's
# longest engaged time is a day too), while a token copied out of a page is useless
# after that, and nothing needs remembering to refuse it.
TOKEN_MAX_AGE = 24 * 60 * 60
# Tokens a few seconds "from the future" are another worker's slightly different clock.
_CLOCK_SKEW = 60
_HEX = "0123456789abcdef"
# What a visitor id in a token may be made of: url-safe, and safe inside an HTML attribute.
_VISITOR = re.compile(r"[A-Za-z0-9._~-]{0,128}")


class Pageview(NamedTuple):
    """What a verified token proves: its page view, and the visitor it was issued to."""

    pageview_id: str
    visitor_id: str


class PageviewTokens:
    """Issues and verifies page-view tokens."""

    def __init__(self, secret_keys: Sequence[str], *, max_age: int = TOKEN_MAX_AGE) -> None:
        self._keys = [
            hashlib.sha256(b"consentlog.pageview" + key.encode()).digest() for key in secret_keys
        ]
        self.max_age = max_age

    def now(self) -> float:
        """Unix seconds now; a test overrides it."""
        return time.time()

    @staticmethod
    def _message(pageview_id: str, session_id: str, visitor_id: str, path: str) -> bytes:
        # each part length-prefixed: no choice of session id or path can shift a boundary
        message = (
            f"{len(pageview_id)}:{pageview_id}{len(session_id)}:{session_id}"
            f"{len(visitor_id)}:{visitor_id}{len(path)}:{path}"
        )
        # surrogatepass: any path the server decoded has a token, whatever it holds
        return message.encode("utf-8", "surrogatepass")

    def _mac(
        self, key: bytes, pageview_id: str, session_id: str, visitor_id: str, path: str
    ) -> str:
        # keyed BLAKE2b: a MAC in one call, at a third of HMAC-SHA256's cost per page
        message = self._message(pageview_id, session_id, visitor_id, path)
        return hashlib.blake2b(message, key=key, digest_size=16).hexdigest()

    def _hmac(
        self, key: bytes, pageview_id: str, session_id: str, visitor_id: str, path: str
    ) -> str:
        # the MAC of tokens issued before BLAKE2b (until 2026-12): verified, never issued,
        # so that pages open while the site is upgraded still report (for ``max_age``)
        message = self._message(pageview_id, session_id, visitor_id, path)
        return hmac.digest(key, message, "sha256")[:16].hex()

    def issue(self, session_id: str, path: str, visitor_id: str) -> tuple[str, str]:
        """A new page-view id and its token, for the page at ``path`` (as decoded) of this
        session and visitor. ``visitor_id`` must be url-safe (as the ids consentlog mints
        are): it is carried in the token, which the page holds in an attribute."""
        return self.bound(session_id, visitor_id).issue(path)

    def bound(self, session_id: str, visitor_id: str) -> BoundTokens:
        """The issuer of this session's and visitor's tokens, for every page they see
        (a remembered visitor keeps one: a token is then a slice, a hash and a join)."""
        if not _VISITOR.fullmatch(visitor_id):
            raise ValueError("a visitor id in a page-view token must be url-safe")
        return BoundTokens(self, self._keys[-1], session_id, visitor_id)

    def verify(self, token: str, session_id: str, path: str) -> Pageview | None:
        """The page view of ``token`` if it was issued for this session and path and has
        not expired; None otherwise."""
        pageview_id, _, rest = token.partition(".")
        mac, _, visitor_id = rest.partition(".")
        if len(pageview_id) != 32 or len(mac) != 32 or not session_id:
            return None
        if pageview_id.strip(_HEX) or mac.strip(_HEX) or not _VISITOR.fullmatch(visitor_id):
            return None
        age = self.now() - int(pageview_id[:8], 16)
        if not -_CLOCK_SKEW <= age <= self.max_age:
            return None
        for mac_of in (self._mac, self._hmac):
            for key in reversed(self._keys):
                expected = mac_of(key, pageview_id, session_id, visitor_id, path)
                if hmac.compare_digest(mac, expected):
                    return Pageview(pageview_id, visitor_id)
        return None


class BoundTokens:
    """``PageviewTokens.issue`` for one session and visitor, with what does not change
    between their pages (the keyed hash state, the MAC message's middle) worked out once.
    Issues the same tokens ``PageviewTokens.verify`` checks."""

    __slots__ = ("_hash", "_middle", "_stamp", "_suffix", "_tokens")

    def __init__(
        self, tokens: PageviewTokens, key: bytes, session_id: str, visitor_id: str
    ) -> None:
        self._tokens = tokens  # its clock (a test moves it)
        self._hash = hashlib.blake2b(key=key, digest_size=16)
        # the message of ``_message`` between the page-view id and the path
        middle = f"{len(session_id)}:{session_id}{len(visitor_id)}:{visitor_id}"
        self._middle = middle.encode("utf-8", "surrogatepass")
        self._suffix = f".{visitor_id}" if visitor_id else ""
        self._stamp = (-1, "")  # the last second issued in, and the ids' time part for it

    def issue(self, path: str) -> tuple[str, str]:
        """A new page-view id and its token, for the page at ``path`` (as decoded)."""
        second = int(self._tokens.now()) & 0xFFFFFFFF
        stamp = self._stamp  # one read: the second and its digits belong together
        if stamp[0] != second:
            stamp = self._stamp = (second, f"{second:08x}")
        pageview_id = stamp[1] + random_hex(12)
        mac = self._hash.copy()
        mac.update(b"".join((b"32:", pageview_id.encode(), self._middle, _path_part(path))))
        return pageview_id, "".join((pageview_id, ".", mac.hexdigest(), self._suffix))


def _path_part(path: str) -> bytes:
    return f"{len(path)}:{path}".encode("utf-8", "surrogatepass")


# A page's script asks within seconds of the page loading; an hour covers a page loaded in
# a background tab and looked at later, and no more.
CHECK_MAX_AGE = 60 * 60


class CheckTokens:
    """The tokens of pages served without consent, which the banner script sends back once
    it runs (``asgi/checks.py``): ``<page-view id>.<mac>``, the MAC (keyed BLAKE2b, with a
    key of its own derived from the site's keys) over the page-view id alone. It names no
    visitor, session or path: it proves only that this site served that page view, within
    ``max_age``. Time is the overridable ``now`` method."""

    def __init__(self, secret_keys: Sequence[str], *, max_age: int = CHECK_MAX_AGE) -> None:
        self._keys = [
            hashlib.sha256(b"consentlog.check" + key.encode()).digest() for key in secret_keys
        ]
        self._hash = hashlib.blake2b(key=self._keys[-1], digest_size=16)
        self.max_age = max_age

    def now(self) -> float:
        """Unix seconds now; a test overrides it."""
        return time.time()

    def issue(self) -> tuple[str, str]:
        """A new page-view id (its issue time in its first 8 hex digits, as page-view
        tokens' ids) and its token."""
        pageview_id = f"{int(self.now()) & 0xFFFFFFFF:08x}{random_hex(12)}"
        mac = self._hash.copy()
        mac.update(pageview_id.encode())
        return pageview_id, f"{pageview_id}.{mac.hexdigest()}"

    def verify(self, token: str) -> str | None:
        """The page-view id of ``token`` if this site issued it within ``max_age``."""
        pageview_id, _, mac = token.partition(".")
        if len(pageview_id) != 32 or len(mac) != 32 or pageview_id.strip(_HEX) or mac.strip(_HEX):
            return None
        age = self.now() - int(pageview_id[:8], 16)
        if not -_CLOCK_SKEW <= age <= self.max_age:
            return None
        for key in reversed(self._keys):
            expected = hashlib.blake2b(pageview_id.encode(), key=key, digest_size=16).hexdigest()
            if hmac.compare_digest(mac, expected):
                return pageview_id
        return None
