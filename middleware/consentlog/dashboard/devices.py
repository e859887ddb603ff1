"""Device cookies: a browser a user logged in from before is not locked out with them.

The per-user limit (``throttle``) lets anyone who fails ten times at a name, from several
addresses, refuse that user's login for minutes — a lockout an attacker can renew without
end. After a complete login the browser gets a device cookie (``cl_dashboard_device``,
signed with the site's keys, 30 days, bound to the user's name, role and stamp like a
session, with a random id of its own). A login that carries a valid device cookie for
the name it tries skips the per-user limit; its failures count against the device
instead (the same limit, per device id), and per client and for everyone as any other.
So the lockout stops strangers, not the user at a browser they used before (the scheme
OWASP calls device cookies). A new password or role, or removing the user, ends every
device cookie of theirs.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from consentlog.dashboard.sessions import Accounts, binding

DEVICE_COOKIE = "cl_dashboard_device"
DEVICE_MAX_AGE = 30 * 24 * 60 * 60  # 30 days


class Devices:
    """Issues and checks device cookie values."""

    def __init__(self, secret_keys: Sequence[str], accounts: Accounts) -> None:
        self._serializer = URLSafeTimedSerializer(
            list(secret_keys), salt="consentlog.dashboard.device"
        )
        self._keys = list(secret_keys)
        self.accounts = accounts

    def issue(self, name: str) -> str | None:
        """A device cookie value for user ``name`` (None when there is no such user)."""
        principal = self.accounts.principal(name)
        if principal is None:
            return None
        return self._serializer.dumps(
            {"u": name, "b": binding(self._keys[-1], principal), "d": secrets.token_urlsafe(12)}
        )

    def vouch(self, value: str | None, name: str) -> str | None:
        """The device id of ``value`` when it is a live device cookie of user ``name``."""
        if not value or len(value) > 512:
            return None
        try:
            data = self._serializer.loads(value, max_age=DEVICE_MAX_AGE)
        except (BadSignature, SignatureExpired):
            return None
        if not isinstance(data, dict):
            return None
        who, bound, device = data.get("u"), data.get("b"), data.get("d")
        if not (isinstance(who, str) and isinstance(bound, str) and isinstance(device, str)):
            return None
        principal = self.accounts.principal(name) if who == name else None
        if principal is None or not any(
            hmac.compare_digest(bound.encode(), binding(key, principal).encode())
            for key in self._keys
        ):
            return None
        return device
