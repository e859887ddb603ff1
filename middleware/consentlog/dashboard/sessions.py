"""Dashboard credentials and sessions: who may log in, and the signed cookie that says they did.

A session is an itsdangerous-signed cookie value carrying a random session id, how it
logged in, when (``issued``) and when it was last used (``seen``). It is bound to the
current credentials by a keyed fingerprint: change the password or token and every
session ends; add a secret key (rotation, newest last) and sessions signed before stay
valid, because signature and fingerprint are checked against every key.

Sessions end ``max_age`` seconds after login (absolute) or ``idle`` seconds after the last
request (the guard re-issues the cookie with a new ``seen`` at most every
``SESSION_REFRESH`` seconds). Logout revokes the session id in this process: a bounded set
that never forgets a revocation — when it is full, the oldest entry becomes a watermark
that ends every session issued up to it. The time is read through ``Sessions.now``, the
clock seam tests override.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from itsdangerous import BadSignature, URLSafeSerializer

SESSION_COOKIE = "cl_dashboard"
SESSION_MAX_AGE = 12 * 60 * 60  # 12 hours: a working day, then log in again
SESSION_IDLE = 60 * 60  # 1 hour without a request ends the session
SESSION_REFRESH = 5 * 60  # 5 minutes: how stale ``seen`` may get before the cookie is renewed
MAX_REVOKED = 10_000  # bounds the revocation set; overflow ends older sessions, never revives

Via = Literal["password", "token"]


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


class Credentials:
    """The dashboard's password and/or access token; at least one is required."""

    def __init__(self, password: str | None = None, token: str | None = None) -> None:
        if not password and not token:
            raise ValueError(
                "the dashboard needs a password or a token: set CONSENTLOG_DASHBOARD_PASSWORD "
                "or CONSENTLOG_DASHBOARD_TOKEN"
            )
        self._password = _digest(password) if password else None
        self._token = _digest(token) if token else None

    def check(self, secret: str) -> Via | None:
        """Which credential ``secret`` is, if any; both are always compared."""
        given = _digest(secret)
        # no short-circuit: the time taken must not say which comparison ran
        password = self._password is not None and hmac.compare_digest(given, self._password)
        token = self._token is not None and hmac.compare_digest(given, self._token)
        if password:
            return "password"
        return "token" if token else None

    def check_token(self, secret: str) -> bool:
        """Whether ``secret`` is the access token."""
        given = _digest(secret)
        return self._token is not None and hmac.compare_digest(given, self._token)

    def fingerprint(self, key: str) -> str:
        """A keyed digest of the current credentials: sessions carry it, so changing the
        password or token ends every session."""
        material = (self._password or b"") + b"\0" + (self._token or b"")
        return hmac.new(key.encode("utf-8"), material, hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Session:
    """A verified, live session: its id, how it logged in, and its two times (epoch s)."""

    sid: str
    via: Via
    issued: int
    seen: int


class Sessions:
    """Issues, verifies, renews and revokes session cookie values."""

    def __init__(
        self,
        secret_keys: Sequence[str],
        credentials: Credentials,
        *,
        max_age: int = SESSION_MAX_AGE,
        idle: int = SESSION_IDLE,
    ) -> None:
        if not secret_keys or not all(secret_keys):
            raise ValueError(
                "the dashboard needs secret_keys to sign sessions: set CONSENTLOG_SECRET_KEY"
            )
        self.max_age = max_age
        self.idle = idle
        # itsdangerous signs with the last key and verifies against all of them
        self._serializer = URLSafeSerializer(list(secret_keys), salt="consentlog.dashboard")
        self._fingerprints = [credentials.fingerprint(key) for key in secret_keys]
        self._revoked: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._revoked_through = -1  # sessions issued at or before this second are revoked

    def now(self) -> int:
        """The current time in whole epoch seconds (the clock seam)."""
        return int(time.time())

    def issue(self, via: Via) -> str:
        """A new session cookie value."""
        now = self.now()
        return self._dump(Session(secrets.token_urlsafe(16), via, now, now))

    def open(self, value: str | None) -> Session | None:
        """The live session ``value`` carries, or None: unsigned, tampered, signed with a
        dropped key, for other credentials, expired, idle too long, or revoked."""
        if not value:
            return None
        try:
            data = self._serializer.loads(value)
        except BadSignature:
            return None
        session = self._parse(data)
        if session is None:
            return None
        now = self.now()
        expired = now - session.issued > self.max_age or now - session.seen > self.idle
        if expired or self._is_revoked(session):
            return None
        return session

    def valid(self, value: str | None) -> bool:
        """Whether ``value`` is a live session for the current credentials."""
        return self.open(value) is not None

    def renewed(self, session: Session) -> str | None:
        """A cookie value with ``seen`` moved to now, if the session's is stale enough to
        renew (so the idle timeout counts from the last request); else None."""
        now = self.now()
        if now - session.seen < SESSION_REFRESH:
            return None
        return self._dump(replace(session, seen=now))

    def remaining(self, session: Session) -> int:
        """Seconds until the session's absolute expiry: the cookie's Max-Age."""
        return max(0, session.issued + self.max_age - self.now())

    def revoke(self, session: Session) -> None:
        """End ``session`` in this process, whatever copies of its cookie exist."""
        self._revoked[session.sid] = session.issued
        self._prune()
        while len(self._revoked) > MAX_REVOKED:
            _, issued = self._revoked.popitem(last=False)
            self._revoked_through = max(self._revoked_through, issued)

    def _is_revoked(self, session: Session) -> bool:
        return session.issued <= self._revoked_through or session.sid in self._revoked

    def _prune(self) -> None:
        """Forget revocations of sessions that have expired anyway."""
        horizon = self.now() - self.max_age
        for sid in [sid for sid, issued in self._revoked.items() if issued < horizon]:
            del self._revoked[sid]

    def _dump(self, session: Session) -> str:
        fingerprint = self._fingerprints[-1]
        payload = {"c": fingerprint, "sid": session.sid, "via": session.via}
        return self._serializer.dumps({**payload, "iat": session.issued, "seen": session.seen})

    def _parse(self, data: object) -> Session | None:
        """The session in a well-signed payload, if it is one for these credentials."""
        if not isinstance(data, dict):
            return None
        fingerprint, sid, via = data.get("c"), data.get("sid"), data.get("via")
        issued, seen = data.get("iat"), data.get("seen")
        if not isinstance(fingerprint, str) or not any(
            hmac.compare_digest(fingerprint.encode(), known.encode())
            for known in self._fingerprints
        ):
            return None
        if not isinstance(sid, str) or via not in ("password", "token"):
            return None
        if type(issued) is not int or type(seen) is not int:
            return None
        return Session(sid, "password" if via == "password" else "token", issued, seen)
