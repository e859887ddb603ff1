"""Dashboard credentials and sessions: who may log in, and the signed cookie that says they did.

A session is an itsdangerous-signed cookie value carrying a random session id, the user
it belongs to ('' for the single password), how it logged in, when (``issued``) and when
it was last used (``seen``). It is bound to that principal by a keyed digest of the
principal's name, role and stamp (``Accounts.principal`` looks them up on every request):
remove the user, change their role or password — or, in single-password mode, change the
password or token — and every session of theirs ends; add a secret key (rotation, newest
last) and sessions signed before stay valid, because signature and binding are checked
against every key.

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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from itsdangerous import BadSignature, URLSafeSerializer

from consentlog.dashboard.roles import Principal

SESSION_COOKIE = "cl_dashboard"
SESSION_MAX_AGE = 12 * 60 * 60  # 12 hours: a working day, then log in again
SESSION_IDLE = 60 * 60  # 1 hour without a request ends the session
SESSION_REFRESH = 5 * 60  # 5 minutes: how stale ``seen`` may get before the cookie is renewed
PENDING_MAX_AGE = 5 * 60  # 5 minutes between a right password and its TOTP code
MAX_REVOKED = 10_000  # bounds the revocation set; overflow ends older sessions, never revives

Via = Literal["password", "token"]


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


class Accounts(Protocol):
    """Who exists now: the single password's ``Credentials``, or the users file."""

    def principal(self, name: str) -> Principal | None:
        """The live principal called ``name``, or None."""
        ...

    def names(self) -> Iterable[str]:
        """Every principal's name now (a share link names its creator by a digest)."""
        ...


def binding(key: str, principal: Principal) -> str:
    """A keyed digest of ``principal``'s name, role and stamp: what a session or share
    link carries to stay valid only while the three are unchanged."""
    material = "\0".join((principal.name, principal.role, principal.stamp)).encode("utf-8")
    return hmac.new(key.encode("utf-8"), material, hashlib.sha256).hexdigest()[:32]


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

    def names(self) -> tuple[str, ...]:
        """The single password's principal is the only one, named ''."""
        return ("",)

    def principal(self, name: str) -> Principal | None:
        """The single password's principal (name '', full access): its stamp is the
        current password and token, so changing either ends every session."""
        if name:
            return None
        material = (self._password or b"") + b"\0" + (self._token or b"")
        return Principal("", "admin", material.hex())


@dataclass(frozen=True, slots=True)
class Session:
    """A verified, live session: its id, how it logged in, its two times (epoch s), and
    whose it is (as they are now)."""

    sid: str
    via: Via
    issued: int
    seen: int
    principal: Principal


class Sessions:
    """Issues, verifies, renews and revokes session cookie values."""

    def __init__(
        self,
        secret_keys: Sequence[str],
        accounts: Accounts,
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
        self._pending = URLSafeSerializer(list(secret_keys), salt="consentlog.dashboard.totp")
        self._keys = list(secret_keys)
        self.accounts = accounts
        self._revoked: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._revoked_through = -1  # sessions issued at or before this second are revoked

    @property
    def keys(self) -> list[str]:
        """The secret keys, newest last."""
        return list(self._keys)

    def now(self) -> int:
        """The current time in whole epoch seconds (the clock seam)."""
        return int(time.time())

    def issue(self, principal: Principal, via: Via) -> str:
        """A new session cookie value for ``principal`` (always a new session id: a
        cookie planted before login never becomes a session)."""
        now = self.now()
        return self._dump(Session(secrets.token_urlsafe(16), via, now, now, principal))

    def open(self, value: str | None) -> Session | None:
        """The live session ``value`` carries, or None: unsigned, tampered, signed with a
        dropped key, for a removed or changed principal, expired, idle too long, or revoked."""
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
        """Whether ``value`` is a live session of a principal as it is now."""
        return self.open(value) is not None

    def renewed(self, session: Session) -> str | None:
        """A cookie value with ``seen`` moved to now, if the session's is stale enough to
        renew (so the idle timeout counts from the last request); else None."""
        now = self.now()
        if now - session.seen < SESSION_REFRESH:
            return None
        return self._dump(replace(session, seen=now))

    def pending(self, principal: Principal, next_url: str) -> str:
        """A signed token saying ``principal`` gave the right password just now: the
        TOTP step's hidden field, valid ``PENDING_MAX_AGE`` seconds, bound to the
        principal as sessions are."""
        return self._pending.dumps(
            {"u": principal.name, "b": binding(self._keys[-1], principal), "n": next_url,
             "iat": self.now()}
        )  # fmt: skip

    def open_pending(self, value: str) -> tuple[Principal, str] | None:
        """The principal and destination of a pending login, or None: damaged, stale,
        or the principal changed since."""
        try:
            data = self._pending.loads(value)
        except BadSignature:
            return None
        if not isinstance(data, dict):
            return None
        name, bound, next_url, issued = (data.get(k) for k in ("u", "b", "n", "iat"))
        if not (isinstance(name, str) and isinstance(bound, str) and isinstance(next_url, str)):
            return None
        if type(issued) is not int or not 0 <= self.now() - issued <= PENDING_MAX_AGE:
            return None
        principal = self.accounts.principal(name)
        if principal is None or not self._bound(bound, principal):
            return None
        return principal, next_url

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

    def _bound(self, bound: str, principal: Principal) -> bool:
        """Whether ``bound`` is ``principal``'s binding under any of the keys."""
        return any(
            hmac.compare_digest(bound.encode(), binding(key, principal).encode())
            for key in self._keys
        )

    def _dump(self, session: Session) -> str:
        payload = {"u": session.principal.name, "b": binding(self._keys[-1], session.principal)}
        return self._serializer.dumps(
            {**payload, "sid": session.sid, "via": session.via, "iat": session.issued,
             "seen": session.seen}
        )  # fmt: skip

    def _parse(self, data: object) -> Session | None:
        """The session in a well-signed payload, if its principal is unchanged."""
        if not isinstance(data, dict):
            return None
        name, bound, sid, via = data.get("u"), data.get("b"), data.get("sid"), data.get("via")
        issued, seen = data.get("iat"), data.get("seen")
        if not isinstance(name, str) or not isinstance(bound, str):
            return None
        if not isinstance(sid, str) or via not in ("password", "token"):
            return None
        if type(issued) is not int or type(seen) is not int:
            return None
        principal = self.accounts.principal(name)
        if principal is None or not self._bound(bound, principal):
            return None
        return Session(sid, "password" if via == "password" else "token", issued, seen, principal)
