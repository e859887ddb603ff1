"""The users file's hardening: no lock through a planted symbolic link, no file or folder
others may write, no file of another owner, no folder made but by ``users add``, and a
wrong password for an old-parameter hash as slow as any other."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from consentlog.dashboard import create_dashboard
from consentlog.dashboard.users import UserError, UserStore
from consentlog.store import Store
from tests.dashboard.support import SECRET
from tests.dashboard.team import CHEAP, PASSWORDS, team_store


def test_a_planted_lock_symlink_is_not_followed(tmp_path: Path) -> None:
    """A symbolic link where the lock file goes: the write is refused, clearly, and the
    link's target is never created."""
    users = team_store(tmp_path / "users.json")
    (tmp_path / "users.json.lock").unlink()
    target = tmp_path / "elsewhere" / "created-by-the-lock"
    target.parent.mkdir()
    (tmp_path / "users.json.lock").symlink_to(target)
    with pytest.raises(UserError, match="symbolic link"):
        users.set_role("viewer", "analyst")
    assert not target.exists()
    assert "viewer" == users.get("viewer").role  # type: ignore[union-attr]


@pytest.mark.parametrize("what", ["folder", "file"])
def test_a_users_file_others_may_write_is_refused(
    store: Store, dataset: str, tmp_path: Path, what: str
) -> None:
    """A folder or file writable by group or others: ``create_dashboard`` refuses it with
    a message that says how to fix it."""
    folder = tmp_path / "team"
    users = team_store(folder / "users.json")
    (folder if what == "folder" else folder / "users.json").chmod(
        0o777 if what == "folder" else 0o666
    )
    with pytest.raises(UserError, match="writable by group or others"):
        create_dashboard(store, database=dataset, users=users, secret_keys=[SECRET])


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_a_users_file_of_another_owner_is_refused(tmp_path: Path) -> None:
    """A file or folder owned by another user than the process's or root is refused."""
    users = team_store(tmp_path / "users.json")
    os.chown(tmp_path / "users.json", 65534, 65534)
    with pytest.raises(UserError, match="belongs to user id 65534"):
        users.check_safe()
    os.chown(tmp_path / "users.json", 0, 0)
    os.chown(tmp_path, 65534, 65534)
    with pytest.raises(UserError, match=r"folder .* belongs to user id 65534"):
        users.check_safe()


def test_only_adding_a_user_makes_the_folder(tmp_path: Path) -> None:
    """Changing a user of a missing folder is an error and makes no folder; adding one
    makes it, private."""
    users = UserStore(tmp_path / "missing" / "users.json", hasher=CHEAP)
    with pytest.raises(UserError, match="does not exist"):
        users.set_role("ana", "viewer")
    with pytest.raises(UserError, match="does not exist"):
        users.check_safe()
    assert not (tmp_path / "missing").exists()
    users.add("ana", "viewer", PASSWORDS["viewer"])
    assert 0o700 == (tmp_path / "missing").stat().st_mode & 0o777
    users.check_safe()


def _seconds(check: object, *args: str) -> float:
    started = time.perf_counter()
    for _ in range(3):
        check(*args)  # type: ignore[operator]
    return (time.perf_counter() - started) / 3


def test_a_wrong_password_for_an_old_hash_takes_as_long(tmp_path: Path) -> None:
    """A user whose stored hash has other (cheaper) argon2 parameters: a wrong password
    takes at least about as long as for an unknown name, which costs a current hash."""
    path = tmp_path / "users.json"
    team_store(path)  # cheap hashes on disk
    users = UserStore(path, hasher=PasswordHasher(time_cost=2, memory_cost=32 * 1024))
    users.authenticate("nobody", "warm the dummy up")
    unknown = _seconds(users.authenticate, "nobody", "a wrong password")
    old_hash = _seconds(users.authenticate, "viewer", "a wrong password")
    assert old_hash >= 0.5 * unknown, (old_hash, unknown)
    assert users.authenticate("viewer", PASSWORDS["viewer"]) is not None  # and rehashed
    assert not users.hasher.check_needs_rehash(users.get("viewer").password_hash)  # type: ignore[union-attr]
