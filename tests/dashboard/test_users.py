"""The users file (dashboard/users.py): adding, removing and re-reading users across
processes, argon2 verification and rehashing, the dummy hash for unknown names, TOTP
codes accepted once, and secrets kept out of reprs and logs."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pyotp
import pytest
import structlog
from argon2 import PasswordHasher, profiles

from consentlog.dashboard.users import TOTP_STEP, UserError, UserStore, totp_uri
from tests.dashboard.team import CHEAP

T0 = 1_800_000_000.0  # a TOTP step boundary: 60_000_000 * 30


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def users(tmp_path: Path, clock: Clock) -> UserStore:
    return UserStore(tmp_path / "users.json", hasher=CHEAP, clock=clock)


def test_added_users_are_read_back_by_another_process(users: UserStore) -> None:
    """A user added through one store is seen by another over the same file."""
    users.add("ana", "analyst", "long enough password")
    other = UserStore(users.path, hasher=CHEAP)
    user = other.get("ana")
    assert user is not None
    assert ("ana", "analyst", False) == (user.name, user.role, user.has_totp)


def test_the_file_is_private_and_replaced_whole(users: UserStore) -> None:
    """The file is 0600, holds argon2id hashes, and no temporary file is left behind."""
    users.add("ana", "analyst", "long enough password")
    assert 0o600 == stat.S_IMODE(users.path.stat().st_mode)
    data = json.loads(users.path.read_text())
    assert data["users"][0]["password"].startswith("$argon2id$")
    assert "long enough password" not in users.path.read_text()
    assert {"users.json", "users.json.lock"} == set(os.listdir(users.path.parent))


def test_a_change_by_another_process_is_read_again(users: UserStore) -> None:
    """A store re-reads the file when another one removed a user or changed a role."""
    users.add("ana", "analyst", "long enough password")
    users.add("vic", "viewer", "long enough password")
    assert {"ana", "vic"} == set(users.users())
    other = UserStore(users.path, hasher=CHEAP)
    other.remove("vic")
    other.set_role("ana", "privacy")
    ana = users.get("ana")
    assert ana is not None
    assert (["ana"], "privacy") == (list(users.users()), ana.role)


def test_a_role_change_replaces_the_stamp_a_rehash_does_not(tmp_path: Path) -> None:
    """Sessions follow the stamp: a new role replaces it; a rehash (new parameters, same
    password) replaces the hash only."""
    path = tmp_path / "users.json"
    old = UserStore(path, hasher=CHEAP)
    first = old.add("ana", "analyst", "long enough password")
    newer = UserStore(path, hasher=PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    assert newer.authenticate("ana", "long enough password") is not None
    rehashed = newer.get("ana")
    assert rehashed is not None
    assert first.password_hash != rehashed.password_hash
    assert "t=2" in rehashed.password_hash
    assert "m=16" in rehashed.password_hash
    assert first.stamp == rehashed.stamp
    assert newer.authenticate("ana", "long enough password") is not None  # the new hash works
    changed = newer.set_role("ana", "viewer")
    assert first.stamp != changed.stamp


def test_a_new_password_replaces_hash_and_stamp(users: UserStore) -> None:
    """A new password logs in, the old one no longer, and the stamp is new (sessions end)."""
    first = users.add("ana", "analyst", "long enough password")
    changed = users.set_password("ana", "another long password")
    assert first.stamp != changed.stamp
    assert None is users.authenticate("ana", "long enough password")
    assert users.authenticate("ana", "another long password") is not None
    with pytest.raises(UserError, match="8 to 1024"):
        users.set_password("ana", "short")
    with pytest.raises(UserError, match="no user 'bob'"):
        users.set_password("bob", "long enough password")


def test_production_parameters_are_argon2_cffi_defaults(tmp_path: Path) -> None:
    """Without a hasher, passwords are hashed with argon2-cffi's default (RFC 9106 low
    memory) parameters."""
    users = UserStore(tmp_path / "users.json")
    user = users.add("ana", "analyst", "long enough password")
    default = profiles.RFC_9106_LOW_MEMORY
    assert f"m={default.memory_cost},t={default.time_cost},p={default.parallelism}" in (
        user.password_hash
    )


def test_authenticate_checks_the_password(users: UserStore) -> None:
    """The right password gives the user; a wrong one, an empty one or another user's
    name gives None."""
    users.add("ana", "analyst", "long enough password")
    assert users.authenticate("ana", "long enough password") is not None
    for name, password in (
        ("ana", "wrong password!"),
        ("ana", ""),
        ("bob", "long enough password"),
    ):
        assert None is users.authenticate(name, password)


class SpyHasher(PasswordHasher):
    """Cheap parameters, and a record of the hashes verified."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1, hash_len=4, salt_len=8)
        self.verified: list[str] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified.append(str(hash)[:9])
        return super().verify(hash, password)


def test_an_unknown_user_costs_a_verification_too(tmp_path: Path) -> None:
    """Unknown names verify a dummy hash, so their answer takes as long as a wrong
    password's (no user enumeration by timing)."""
    spy = SpyHasher()
    users = UserStore(tmp_path / "users.json", hasher=spy)
    users.add("ana", "analyst", "long enough password")
    assert None is users.authenticate("nobody", "long enough password")
    assert None is users.authenticate("ana", "wrong password!")
    assert ["$argon2id", "$argon2id"] == spy.verified


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [
        ("Ana", "long enough password", "bad user name"),
        ("", "long enough password", "bad user name"),
        ("a/b", "long enough password", "bad user name"),
        ("x" * 65, "long enough password", "bad user name"),
        ("ana", "short", "8 to 1024 characters"),
    ],
)
def test_bad_names_and_passwords_are_refused(
    users: UserStore, name: str, password: str, message: str
) -> None:
    """A name outside the rule or a short password is a UserError naming the rule."""
    with pytest.raises(UserError, match=message):
        users.add(name, "viewer", password)
    assert not users.path.exists()


def test_a_duplicate_or_missing_user_is_an_error(users: UserStore) -> None:
    """Adding a name twice, or removing or changing one that is absent, says so."""
    users.add("ana", "analyst", "long enough password")
    with pytest.raises(UserError, match="exists already"):
        users.add("ana", "viewer", "long enough password")
    with pytest.raises(UserError, match="no user 'bob'"):
        users.remove("bob")
    with pytest.raises(UserError, match="no user 'bob'"):
        users.set_role("bob", "viewer")


BOSS = '{"name": "a", "role": "boss", "password": "x", "stamp": "s"}'


@pytest.mark.parametrize(
    "text", ["not json", "[]", '{"format": 2, "users": []}', '{"format": 1, "users": [{}]}',
             '{"format": 1, "users": [' + BOSS + "]}"],
)  # fmt: skip
def test_a_damaged_file_is_an_error_and_logs_nobody_in(users: UserStore, text: str) -> None:
    """A file that is not a users file is a UserError for the CLI, and no principal for
    the dashboard (fail closed)."""
    users.path.write_text(text)
    with pytest.raises(UserError, match="users file"):
        users.users()
    assert None is users.principal("a")
    assert None is users.authenticate("a", "long enough password")


def test_secrets_stay_out_of_reprs_and_logs(users: UserStore) -> None:
    """Neither the hash nor the TOTP secret is in a user's repr or in any log line."""
    with structlog.testing.capture_logs() as logs:
        user = users.add("ana", "analyst", "long enough password", totp=True)
        users.set_role("ana", "viewer")
        users.remove("ana")
    text = repr(user) + repr(user.principal) + repr(logs)
    for secret in (user.password_hash, user.totp_secret, user.stamp, "long enough password"):
        assert secret not in text
    assert ["dashboard_user_added", "dashboard_user_role_changed", "dashboard_user_removed"] == [
        line["event"] for line in logs
    ]


# -- TOTP ---------------------------------------------------------------------------------


def _code(users: UserStore, at: float, offset: int = 0) -> str:
    user = users.get("ana")
    assert user is not None
    return pyotp.TOTP(user.totp_secret).at(at, counter_offset=offset)


def test_a_totp_code_is_accepted_once(users: UserStore, clock: Clock) -> None:
    """The current code logs in once; the same code again is refused (replay), in this
    process and in another that reads the file."""
    users.add("ana", "analyst", "long enough password", totp=True)
    code = _code(users, clock.now)
    assert True is users.accept_totp("ana", code)
    assert False is users.accept_totp("ana", code)
    other = UserStore(users.path, hasher=CHEAP, clock=clock)
    assert False is other.accept_totp("ana", code)


def test_codes_of_older_steps_are_refused_after_a_newer_one(users: UserStore, clock: Clock) -> None:
    """After the next step's code was accepted, the previous step's code is refused
    though it is within the drift window."""
    users.add("ana", "analyst", "long enough password", totp=True)
    previous, following = _code(users, clock.now, -1), _code(users, clock.now, 1)
    assert True is users.accept_totp("ana", following)
    assert False is users.accept_totp("ana", previous)


def test_totp_accepts_one_step_of_drift_and_no_more(users: UserStore, clock: Clock) -> None:
    """Codes one step either side of now are accepted; two steps away are not."""
    users.add("ana", "analyst", "long enough password", totp=True)
    assert False is users.accept_totp("ana", _code(users, clock.now, -2))
    assert False is users.accept_totp("ana", _code(users, clock.now, 2))
    assert True is users.accept_totp("ana", _code(users, clock.now, -1))
    clock.now += TOTP_STEP
    assert True is users.accept_totp("ana", _code(users, clock.now))


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦", "12 34 5"])
def test_malformed_codes_are_refused(users: UserStore, code: str) -> None:
    """Anything but six ASCII digits is no code."""
    users.add("ana", "analyst", "long enough password", totp=True)
    assert False is users.accept_totp("ana", code)


def test_a_user_without_totp_accepts_no_code(users: UserStore, clock: Clock) -> None:
    """A code for a user without TOTP, or for nobody, is refused."""
    users.add("ana", "analyst", "long enough password")
    assert False is users.accept_totp("ana", "123456")
    assert False is users.accept_totp("nobody", "123456")


def test_the_provisioning_uri_names_the_user_and_issuer(users: UserStore) -> None:
    """The otpauth URI carries the secret, the user and the issuer consentlog."""
    user = users.add("ana", "analyst", "long enough password", totp=True)
    uri = totp_uri(user)
    assert uri.startswith("otpauth://totp/consentlog:ana?")
    assert f"secret={user.totp_secret}" in uri
    assert "issuer=consentlog" in uri


def test_a_totp_step_that_cannot_be_recorded_is_refused(users: UserStore, clock: Clock) -> None:
    """When the file cannot be written (here: its lock cannot be opened), a right code is
    refused — it could be replayed otherwise — and the log says why, without secrets."""
    user = users.add("ana", "analyst", "long enough password", totp=True)
    users.path.with_name("users.json.lock").unlink()
    users.path.with_name("users.json.lock").mkdir()
    with structlog.testing.capture_logs() as logs:
        assert False is users.accept_totp("ana", _code(users, clock.now))
    assert ["dashboard_totp_not_recorded"] == [line["event"] for line in logs]
    assert user.totp_secret not in repr(logs)


def test_a_rehash_that_cannot_be_saved_still_logs_in(tmp_path: Path) -> None:
    """A users file that cannot be written keeps the old hash, and the login works."""
    path = tmp_path / "users.json"
    first = UserStore(path, hasher=CHEAP).add("ana", "analyst", "long enough password")
    path.with_name("users.json.lock").unlink()
    path.with_name("users.json.lock").mkdir()
    newer = UserStore(path, hasher=PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    assert newer.authenticate("ana", "long enough password") is not None
    kept = newer.get("ana")
    assert kept is not None
    assert first.password_hash == kept.password_hash
