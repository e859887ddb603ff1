"""Visitor and session ids the server issued, and the proof that it did.

An id is ``<nonce>.<mac>``: 128 random bits, and an HMAC binding them to the kind of id
and to the consent id of the decision they were issued with (a key derived from the
newest secret key; every key verifies). A ``cl_vid`` set by hand, tossed from a sibling
subdomain or copied without the consent cookie it belongs to does not verify, so it is
replaced, never adopted — and never opens the visitor's stored data.

A returning visitor sends the same ids on every page, so an id that verified is
remembered (bounded, and only ids that verified: a stranger's junk never takes the room
of the visitors who come back).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from typing import Literal

from consentlog.consent.cache import BoundedCache

Kind = Literal["visitor", "session"]

_VERIFIED_ENTRIES = 65_536  # visitors whose ids a process remembers
_VERIFIED_BYTES = 16 * 1024 * 1024
_SHAPE = re.compile(r"[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class IdentifierSigner:
    """Issues and verifies visitor and session ids bound to a consent id."""

    def __init__(self, secret_keys: Sequence[str]) -> None:
        self._keys = [
            hashlib.sha256(b"consentlog.identifier" + key.encode()).digest() for key in secret_keys
        ]
        self._verified: BoundedCache[tuple[str, str, str], bool] = BoundedCache(
            _VERIFIED_ENTRIES, _VERIFIED_BYTES
        )

    def _mac(self, key: bytes, kind: Kind, nonce: str, consent_id: str) -> str:
        message = f"{kind}|{nonce}|{consent_id}".encode("utf-8", "surrogateescape")
        return _b64(hmac.digest(key, message, "sha256")[:16])

    def issue(self, kind: Kind, consent_id: str) -> str:
        """A new id of ``kind`` for the visitor whose decision has ``consent_id``."""
        nonce = _b64(secrets.token_bytes(16))
        return f"{nonce}.{self._mac(self._keys[-1], kind, nonce, consent_id)}"

    def verify(self, value: str | None, kind: Kind, consent_id: str | None) -> bool:
        """True if ``value`` is an id of ``kind`` this server issued with ``consent_id``."""
        if not value or not consent_id:
            return False
        memo = (kind, value, consent_id)
        if self._verified.get(memo):
            return True
        if _SHAPE.fullmatch(value) is None:
            return False
        nonce, _, mac = value.partition(".")
        verified = any(
            hmac.compare_digest(mac, self._mac(key, kind, nonce, consent_id))
            for key in reversed(self._keys)
        )
        if verified:
            self._verified.put(memo, True, 64 + len(value) + len(consent_id))
        return verified
