"""What the team-access tests share: a users file with one user per role (cheap argon2
parameters, so logging in costs microseconds), the dashboard over it, and logging in."""

from __future__ import annotations

from pathlib import Path

import pyotp
from argon2 import PasswordHasher, profiles
from starlette.applications import Starlette
from starlette.testclient import TestClient

from consentlog.dashboard import create_dashboard
from consentlog.dashboard.roles import ROLES
from consentlog.dashboard.users import UserStore
from consentlog.store import Store
from tests.dashboard.support import SECRET

CHEAP = PasswordHasher.from_parameters(profiles.CHEAPEST)
PASSWORDS = {role: f"{role}-password-1234" for role in ROLES}  # user NAME = role NAME


def team_store(path: Path, *, totp: frozenset[str] = frozenset()) -> UserStore:
    """A users file with a user per role, named after it (``totp``: those with TOTP)."""
    users = UserStore(path, hasher=CHEAP)
    for role in ROLES:
        users.add(role, role, PASSWORDS[role], totp=role in totp)
    return users


def team_app(store: Store, database: str, users: UserStore) -> Starlette:
    return create_dashboard(store, database=database, users=users, secret_keys=[SECRET])


def log_in(client: TestClient, name: str, password: str | None = None) -> TestClient:
    """``client`` logged in as user ``name`` (no TOTP)."""
    response = client.post(
        "/login",
        data={"username": name, "secret": password or PASSWORDS[name]},
        follow_redirects=False,
    )
    assert 303 == response.status_code, response.text
    return client


def code_now(users: UserStore, name: str, offset: int = 0) -> str:
    """User ``name``'s TOTP code for the step ``offset`` steps from now."""
    user = users.get(name)
    assert user is not None
    return pyotp.TOTP(user.totp_secret).at(users._clock(), counter_offset=offset)
