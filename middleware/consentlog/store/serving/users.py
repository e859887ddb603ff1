"""The two users of a served store and where their passwords live.

``consentlog`` reads and writes (the site's workers, the CLI); ``analyst`` reads only —
the engine enforces it with ``readonly = 1``, which also refuses the table functions that
reach files or the network (``file``, ``url``, ``remote``…), so an analyst cannot read
this very file through a query. Passwords come from the caller (``consentlog serve``
takes them from its environment) or are generated once and kept, mode 0600, in
``<store>/consentlog-credentials.json``, so a BI tool configured once keeps working.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from consentlog.exceptions import StoreError

CREDENTIALS_FILE = "consentlog-credentials.json"
WRITER = "consentlog"
ANALYST = "analyst"


@dataclass(frozen=True, slots=True)
class User:
    """A name, its password and the ``readonly`` level its queries run at."""

    name: str
    password: str = field(repr=False)
    readonly: int  # 0 read-write; 1 read-only


@dataclass(frozen=True, slots=True)
class Users:
    """The users a served store accepts."""

    by_name: Mapping[str, User]

    def authenticate(self, name: str, password: str) -> User | None:
        """The user when ``password`` is theirs (compared in constant time), else None."""
        user = self.by_name.get(name)
        # compare even for an unknown name, so timing does not tell which names exist
        expected = user.password if user is not None else secrets.token_urlsafe(24)
        if hmac.compare_digest(expected.encode(), password.encode()) and user is not None:
            return user
        return None


def write_private(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` readable by this user only (0600), atomically."""
    temporary = target.with_name(f".{target.name}.{os.getpid()}.writing")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except OSError as exc:  # a full disk: no half-written secret left behind
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise StoreError(f"cannot write {target}: {exc.strerror or exc}") from None


def stored_passwords(directory: Path) -> tuple[dict[str, str], bool]:
    """The store's generated passwords, made (0600) on first use; and whether they were
    made just now."""
    target = directory / CREDENTIALS_FILE
    try:
        stored = json.loads(target.read_text(encoding="utf-8"))
        if isinstance(stored, dict) and all(
            isinstance(stored.get(name), str) and stored[name] for name in (WRITER, ANALYST)
        ):
            return {WRITER: stored[WRITER], ANALYST: stored[ANALYST]}, False
    except (OSError, ValueError):
        pass
    made = {WRITER: secrets.token_urlsafe(24), ANALYST: secrets.token_urlsafe(24)}
    write_private(target, json.dumps(made))
    return made, True


def store_users(
    directory: Path, writer_password: str = "", analyst_password: str = ""
) -> tuple[Users, bool]:
    """The two users, with the given passwords or the store's generated ones; and whether
    a password was generated just now (to be shown once)."""
    stored: dict[str, str] = {}
    made = False
    if not (writer_password and analyst_password):
        stored, made = stored_passwords(directory)
    users = Users(
        {
            WRITER: User(WRITER, writer_password or stored[WRITER], 0),
            ANALYST: User(ANALYST, analyst_password or stored[ANALYST], 1),
        }
    )
    return users, made
