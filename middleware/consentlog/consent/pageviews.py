"""Page-view tokens: how a beacon proves its page view belongs to the visitor's session.

Each page served to a consented visitor gets a random page-view id; the page carries a
token binding that id to the session id and the path (HMAC with the site's newest secret
key). The beacon sends the token back; it verifies only with the same session cookie and
path, so a beacon cannot report on somebody else's page view, and no lookup is needed.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Sequence

_HEX = "0123456789abcdef"


class PageviewTokens:
    """Issues and verifies page-view tokens (``<id>.<mac>``)."""

    def __init__(self, secret_keys: Sequence[str]) -> None:
        self._keys = [
            hashlib.sha256(b"consentlog.pageview" + key.encode()).digest() for key in secret_keys
        ]

    def _mac(self, key: bytes, pageview_id: str, session_id: str, path: str) -> str:
        message = f"{pageview_id}|{session_id}|{path}".encode("utf-8", "surrogateescape")
        return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]

    def issue(self, session_id: str, path: str) -> tuple[str, str]:
        """A new page-view id and its token."""
        pageview_id = os.urandom(16).hex()
        return (
            pageview_id,
            f"{pageview_id}.{self._mac(self._keys[-1], pageview_id, session_id, path)}",
        )

    def verify(self, token: str, session_id: str, path: str) -> str | None:
        """The page-view id of ``token`` if it was issued for this session and path."""
        pageview_id, _, mac = token.partition(".")
        if len(pageview_id) != 32 or len(mac) != 32 or not session_id:
            return None
        if pageview_id.strip(_HEX) or mac.strip(_HEX):
            return None
        for key in reversed(self._keys):
            if hmac.compare_digest(mac, self._mac(key, pageview_id, session_id, path)):
                return pageview_id
        return None
