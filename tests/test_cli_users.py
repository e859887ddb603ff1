"""`consentlog users add / remove / role / list`: the users file they write, the password
never taken from the command line, the TOTP secret shown once, and bad input as one line
and a non-zero exit, never a traceback."""

from __future__ import annotations

import getpass
import io
import json
import stat
import subprocess
import sys
from pathlib import Path

import pyotp
import pytest

from consentlog.cli import main
from consentlog.dashboard.users import UserStore
from tests.helpers import cli_env

CLI = [sys.executable, "-m", "consentlog.cli"]
PASSWORD = "a long enough password"


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    return tmp_path / "users.json"


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))


def test_add_with_a_prompt_and_list(
    users_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`add` asks for the password twice; `list` shows name, role and TOTP, never a hash."""
    asked: list[str] = []

    def prompt(text: str = "") -> str:
        asked.append(text)
        return PASSWORD

    monkeypatch.setattr(getpass, "getpass", prompt)
    assert 0 == main(["users", "add", "ana", "--role", "analyst", "--users-file", str(users_file)])
    assert ["Password: ", "Password again: "] == asked
    assert UserStore(users_file).authenticate("ana", PASSWORD) is not None
    assert 0o600 == stat.S_IMODE(users_file.stat().st_mode)
    capsys.readouterr()
    assert 0 == main(["users", "list", "--users-file", str(users_file)])
    out = capsys.readouterr().out
    assert ["name  role     totp", "ana   analyst  no"] == out.splitlines()
    assert 0 == main(["users", "list", "--format", "json", "--users-file", str(users_file)])
    assert [{"name": "ana", "role": "analyst", "totp": False}] == json.loads(
        capsys.readouterr().out
    )


def test_two_different_passwords_add_nobody(
    users_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped confirmation is an error and leaves the file as it was."""
    answers = iter([PASSWORD, PASSWORD + "x"])
    monkeypatch.setattr(getpass, "getpass", lambda text="": next(answers))
    assert 1 == main(["users", "add", "ana", "--role", "viewer", "--users-file", str(users_file)])
    assert "the two passwords differ" in capsys.readouterr().err
    assert not users_file.exists()


def test_add_with_totp_prints_the_secret_once(
    users_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--totp` prints the secret and the otpauth URI when adding, and `list` says yes
    without showing the secret again."""
    _stdin(monkeypatch, PASSWORD + "\n")
    args = ["users", "add", "ana", "--role", "privacy", "--totp", "--password-stdin"]
    assert 0 == main([*args, "--users-file", str(users_file)])
    out = capsys.readouterr().out
    user = UserStore(users_file).get("ana")
    assert user is not None
    assert f"secret: {user.totp_secret}" in out
    assert "otpauth://totp/consentlog:ana?" in out
    assert len(pyotp.TOTP(user.totp_secret).now()) == 6
    assert 0 == main(["users", "list", "--users-file", str(users_file)])
    listed = capsys.readouterr().out
    assert "ana   privacy  yes" in listed
    assert user.totp_secret not in listed
    assert user.password_hash not in listed


def test_remove_role_and_password_change_the_user(
    users_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`role` gives another role (a new stamp, so sessions end); `password` a new
    password; `remove` removes."""
    _stdin(monkeypatch, PASSWORD + "\n")
    where = ["--users-file", str(users_file)]
    assert 0 == main(["users", "add", "ana", "--role", "viewer", "--password-stdin", *where])
    before = UserStore(users_file).get("ana")
    assert 0 == main(["users", "role", "ana", "analyst", *where])
    after = UserStore(users_file).get("ana")
    assert before is not None
    assert after is not None
    assert ("analyst", True) == (after.role, before.stamp != after.stamp)
    _stdin(monkeypatch, "a new long password\n")
    assert 0 == main(["users", "password", "ana", "--password-stdin", *where])
    assert UserStore(users_file).authenticate("ana", "a new long password") is not None
    assert 0 == main(["users", "remove", "ana", *where])
    assert {} == UserStore(users_file).users()
    assert "removed ana" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "Ana", "--role", "viewer", "--password-stdin"], "bad user name 'Ana'"),
        (["add", "../x", "--role", "viewer", "--password-stdin"], "bad user name"),
        (["add", "bob", "--role", "boss", "--password-stdin"], "unknown role 'boss'"),
        (["add", "ana", "--role", "viewer", "--password-stdin"], "exists already"),
        (["add", "carl", "--role", "viewer", "--password-stdin"], "8 to 1024 characters"),
        (["remove", "nobody"], "no user 'nobody'"),
        (["role", "nobody", "viewer"], "no user 'nobody'"),
        (["role", "ana", "root"], "unknown role 'root'"),
        (["password", "nobody", "--password-stdin"], "no user 'nobody'"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(
    users_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    """A bad name or role, a duplicate, a short password or a missing user: one line
    naming the problem on stderr, exit 1, the file unchanged."""
    UserStore(users_file).add("ana", "viewer", PASSWORD)
    before = users_file.read_bytes()
    _stdin(monkeypatch, "short\n" if args[1] == "carl" else PASSWORD + "\n")
    assert 1 == main(["users", *args, "--users-file", str(users_file)])
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1]
    assert err[-1].startswith("consentlog: ")
    assert before == users_file.read_bytes()


def test_the_password_is_not_an_argument(users_file: Path) -> None:
    """There is no option that takes a password on the command line."""
    with pytest.raises(SystemExit):
        main(["users", "add", "ana", "--role", "viewer", "--password", PASSWORD])


def test_the_commands_run_from_the_environment_without_a_traceback(tmp_path: Path) -> None:
    """As a user runs them: CONSENTLOG_USERS_FILE names the file; a missing file for
    `list` is empty, a missing setting one line and exit 1."""
    env = cli_env()
    users_file = tmp_path / "team" / "users.json"
    added = subprocess.run(
        [*CLI, "users", "add", "ana", "--role", "analyst", "--password-stdin"],
        input=PASSWORD + "\n",
        env={**env, "CONSENTLOG_USERS_FILE": str(users_file)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert 0 == added.returncode, added.stderr
    assert "added ana (analyst)" in added.stdout
    assert "$argon2" not in added.stdout + added.stderr
    unset = subprocess.run(
        [*CLI, "users", "list"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert 1 == unset.returncode
    assert "Traceback" not in unset.stderr
    assert "set CONSENTLOG_USERS_FILE or pass --users-file" in unset.stderr


def test_the_dashboard_refuses_a_users_file_without_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`consentlog dashboard` with CONSENTLOG_USERS_FILE naming a missing or empty file
    stops with one line saying how to add a user (nobody could log in)."""
    monkeypatch.setenv("CONSENTLOG_USERS_FILE", str(tmp_path / "none.json"))
    assert 1 == main(["dashboard", "--clickhouse-url", f"chdb://{tmp_path}/store"])
    err = capsys.readouterr().err
    assert "has no users: add one with `consentlog users add NAME --role ROLE`" in err
    assert "Traceback" not in err


def test_the_dashboard_warns_of_a_readable_file_and_an_unused_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A users file others may read, and a password it overrides, are said on stderr
    before the dashboard goes on (here to the store check, which stops it)."""
    users_file = tmp_path / "users.json"
    UserStore(users_file).add("ana", "viewer", PASSWORD)
    users_file.chmod(0o644)
    monkeypatch.setenv("CONSENTLOG_USERS_FILE", str(users_file))
    monkeypatch.setenv("CONSENTLOG_DASHBOARD_PASSWORD", "an old shared password")
    assert 1 == main(["dashboard", "--clickhouse-url", f"chdb://{tmp_path}/store"])
    err = capsys.readouterr().err
    assert f"others may read the users file {users_file}: chmod 600" in err
    assert "the dashboard password and token are not used" in err
    assert "no consentlog store" in err


@pytest.mark.parametrize(
    "typed",
    [
        ["--password", "hunter2-secret"],
        ["--password=hunter2-secret"],
        ["--pass", "hunter2-secret"],
        ["--password-std", "hunter2-secret"],
        ["hunter2-secret"],
    ],
)
@pytest.mark.parametrize("command", [["add", "ana", "--role", "viewer"], ["password", "ana"]])
def test_a_password_typed_on_the_command_line_is_refused_unseen(
    users_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    typed: list[str],
) -> None:
    """``--password``, an abbreviation of ``--password-stdin``, or a stray word: a clean
    error (exit 2), the file unchanged, and the value never repeated."""
    _stdin(monkeypatch, PASSWORD + "\n")
    with pytest.raises(SystemExit) as exited:
        main(["users", *command, *typed, "--users-file", str(users_file)])
    assert 2 == exited.value.code
    err = capsys.readouterr().err
    assert "hunter2" not in err
    assert "Traceback" not in err
    assert not users_file.exists()


def test_no_option_of_the_cli_may_be_abbreviated(capsys: pytest.CaptureFixture[str]) -> None:
    """``--clickhouse`` is not ``--clickhouse-url``: every parser refuses abbreviations."""
    with pytest.raises(SystemExit):
        main(["status", "--clickhouse", "chdb:///nowhere"])
    assert "unrecognized arguments: --clickhouse" in capsys.readouterr().err


def test_the_dashboard_refuses_a_users_file_others_may_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`consentlog dashboard` over a group-writable users file: one line, exit 1."""
    users_file = tmp_path / "users.json"
    UserStore(users_file).add("ana", "viewer", PASSWORD)
    users_file.chmod(0o664)
    monkeypatch.setenv("CONSENTLOG_USERS_FILE", str(users_file))
    assert 1 == main(["dashboard", "--clickhouse-url", f"chdb://{tmp_path}/store"])
    err = capsys.readouterr().err
    assert f"the users file {users_file} is writable by group or others" in err
    assert "Traceback" not in err
