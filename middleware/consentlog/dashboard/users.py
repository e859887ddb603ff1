"""The dashboard's named users: a JSON file every process on the machine reads.

Why a file and not a ClickHouse table: the users must be readable before anyone is
logged in and whatever state the store is in (the dashboard's login works while
ClickHouse is down, and never needs write access to the analytics database), the file
is what the operator already manages (like the secret key and the served store's
credentials), and ``os.replace`` makes every write atomic for all workers of one
machine. Several machines share it the way they share ``CONSENTLOG_SECRET_KEY`` (a
config-management copy, or a shared volume); a TOTP code's replay guard is then per
copy.

The file (``CONSENTLOG_USERS_FILE``) is written 0600 through a temporary file and
``os.replace``, under an exclusive lock (``<file>.lock``) for every read-modify-write,
and re-read by every process when its ``stat`` signature changes. Each user has a name,
a role (``roles``), an argon2id hash of the password (``argon2-cffi``; rehashed at login
when the parameters changed), an optional TOTP secret (``pyotp``) with the last time step
accepted (a code is never accepted twice) and the times of its recent wrong codes (at
most ``TOTP_FAILURE_LIMIT`` within ``TOTP_FAILURE_WINDOW``, counted under the lock: the
limit holds across processes and restarts), and a random ``stamp`` that a new password or
role replaces — sessions and share links carry a digest of it, so they end then.

Who may change the file decides who logs in, so it is refused (``check_safe``) when it or
its folder is writable by group or others, or the file belongs to another user than the
process's or root; the lock file is never opened through a symbolic link, and only
``users add`` creates the folder.

Hashes and TOTP secrets are never logged nor shown: ``User``'s repr leaves them out.
"""

from __future__ import annotations

import contextlib
import fcntl
import hmac
import json
import os
import re
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import pyotp
import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from consentlog.dashboard.roles import Principal, Role, parse_role
from consentlog.exceptions import ConfigError

log = structlog.get_logger("consentlog.dashboard.users")

FORMAT = 1  # the file's layout version
NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")  # lowercase: one spelling per person
MIN_PASSWORD = 8  # characters
MAX_PASSWORD = 1024  # characters: an argon2 input far beyond any password, bounded
TOTP_STEP = 30  # seconds: the authenticator apps' period
TOTP_DRIFT = 1  # steps either side of now accepted (clock skew, typing time)
TOTP_ISSUER = "consentlog"
TOTP_FAILURE_LIMIT = 5  # wrong codes per user within the window, in every process together
TOTP_FAILURE_WINDOW = 5 * 60  # seconds
MAX_SAVED = 50  # saved filters per user
MAX_LABEL = 60  # characters of a saved filter's name


class UserError(ConfigError):
    """A user cannot be added, changed or read as asked; the message says why."""


def check_name(name: str) -> str:
    """``name`` if it is a valid user name, else UserError naming the rule."""
    if not NAME.fullmatch(name):
        raise UserError(
            f"bad user name {name!r}: use 1 to 64 lowercase letters, digits, '.', '_' or '-',"
            " starting with a letter or digit"
        )
    return name


def check_password(password: str) -> str:
    """``password`` if it is long enough and not absurdly long, else UserError."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise UserError(
            f"the password must have {MIN_PASSWORD} to {MAX_PASSWORD} characters"
            f" (it has {len(password)})"
        )
    return password


@dataclass(frozen=True, slots=True)
class SavedFilter:
    """A report page with its filters, saved by a user under a label."""

    label: str
    page: str
    query: tuple[tuple[str, str], ...]

    def as_json(self) -> dict[str, Any]:
        return {"label": self.label, "page": self.page, "query": [list(q) for q in self.query]}


def _saved(entry: object) -> SavedFilter:
    if not isinstance(entry, dict):
        raise ValueError("a saved filter is not an object")
    label, page, query = entry.get("label"), entry.get("page"), entry.get("query")
    if not (isinstance(label, str) and isinstance(page, str) and isinstance(query, list)):
        raise ValueError("a saved filter lacks a label, page or query")
    pairs = tuple(tuple(q) for q in query if isinstance(q, list) and len(q) == 2)
    if len(pairs) != len(query) or not all(isinstance(v, str) for pair in pairs for v in pair):
        raise ValueError("a saved filter's query is not a list of name-value pairs")
    return SavedFilter(label, page, tuple((str(k), str(v)) for k, v in pairs))


@dataclass(frozen=True, slots=True)
class User:
    """One named user (the secrets are left out of its repr)."""

    name: str
    role: Role
    password_hash: str = field(repr=False)
    stamp: str = field(repr=False)
    totp_secret: str = field(default="", repr=False)
    totp_step: int = 0  # the last TOTP time step accepted
    saved: tuple[SavedFilter, ...] = ()
    totp_failures: tuple[int, ...] = ()  # epoch seconds of the recent wrong TOTP codes

    @property
    def has_totp(self) -> bool:
        """Whether login asks this user for a TOTP code after the password."""
        return bool(self.totp_secret)

    @property
    def principal(self) -> Principal:
        """The user as the guard sees them."""
        return Principal(self.name, self.role, self.stamp)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "password": self.password_hash,
            "stamp": self.stamp,
            "totp_secret": self.totp_secret,
            "totp_step": self.totp_step,
            "saved": [saved.as_json() for saved in self.saved],
            "totp_failures": list(self.totp_failures),
        }


def _user(entry: object) -> User:
    if not isinstance(entry, dict):
        raise ValueError("a user entry is not an object")
    step = entry.get("totp_step", 0)
    fields = [entry.get(k) for k in ("name", "role", "password", "stamp")]
    secret = entry.get("totp_secret", "")
    if not all(isinstance(f, str) and f for f in fields) or not isinstance(secret, str):
        raise ValueError("a user entry lacks a name, role, password or stamp")
    if type(step) is not int:
        raise ValueError("a user's totp_step is not a number")
    saved = entry.get("saved", [])
    if not isinstance(saved, list):
        raise ValueError("a user's saved filters are not a list")
    failures = entry.get("totp_failures", [])
    if not isinstance(failures, list) or not all(type(f) is int for f in failures):
        raise ValueError("a user's totp_failures are not a list of times")
    name, role, password, stamp = (str(f) for f in fields)
    return User(
        check_name(name),
        parse_role(role),
        password,
        stamp,
        secret,
        step,
        tuple(_saved(entry) for entry in saved),
        tuple(failures),
    )


TotpOutcome = Literal["accepted", "wrong", "locked"]


@dataclass(frozen=True, slots=True)
class TotpCheck:
    """What a TOTP code did: accepted, wrong (or already used), or not even compared
    because the user has too many recent wrong codes (``retry_after`` seconds left)."""

    outcome: TotpOutcome
    retry_after: int = 0


def totp_uri(user: User) -> str:
    """The ``otpauth://`` provisioning URI an authenticator app reads (as a QR code)."""
    return pyotp.TOTP(user.totp_secret, interval=TOTP_STEP).provisioning_uri(
        name=user.name, issuer_name=TOTP_ISSUER
    )


class UserStore:
    """The users file at ``path``: read when it changed, written atomically under a lock.

    ``hasher`` hashes and verifies passwords (argon2id with argon2-cffi's defaults unless
    given; tests pass cheap parameters). ``clock`` (epoch seconds) is the TOTP clock seam.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        hasher: PasswordHasher | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.hasher = hasher or PasswordHasher()
        self._clock = clock
        self._seen: tuple[int, int, int] | None = None
        self._users: dict[str, User] = {}
        self._dummy = ""

    # -- reading ------------------------------------------------------------------

    def users(self) -> dict[str, User]:
        """Every user by name (none when the file does not exist); UserError when the
        file cannot be read as a users file."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._seen, self._users = None, {}
            return {}
        except OSError as exc:
            raise UserError(f"cannot read the users file {self.path}: {exc.strerror}") from None
        signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if signature != self._seen:
            self._users = self._read()
            self._seen = signature
        return self._users

    def get(self, name: str) -> User | None:
        """The user called ``name``, if any."""
        return self.users().get(name)

    def names(self) -> tuple[str, ...]:
        """Every user's name; none when the file is unreadable (fail closed)."""
        try:
            return tuple(self.users())
        except UserError as exc:
            log.error("users_file_unreadable", error=str(exc))
            return ()

    def principal(self, name: str) -> Principal | None:
        """The live principal of user ``name``; None when there is no such user or the
        file is unreadable (fail closed: nobody is logged in by a broken file)."""
        try:
            user = self.get(name)
        except UserError as exc:
            log.error("users_file_unreadable", error=str(exc))
            return None
        return user.principal if user else None

    def _read(self) -> dict[str, User]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"cannot read the users file {self.path}: {exc}") from None
        try:
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise ValueError(f"not a consentlog users file (format {FORMAT})")
            entries = data.get("users")
            if not isinstance(entries, list):
                raise ValueError("no user list")
            users = [_user(entry) for entry in entries]
        except ValueError as exc:  # UserError is one too
            raise UserError(f"the users file {self.path} is damaged: {exc}") from None
        return {user.name: user for user in users}

    def check_safe(self) -> None:
        """UserError unless only this process's user (or root) can change who logs in:
        the folder and the file (if it exists) must not be writable by group or others,
        and both must belong to this process's user or root."""
        folder = self.path.parent
        try:
            where = folder.stat()
        except FileNotFoundError:
            raise UserError(
                f"the users file's folder {folder} does not exist: `consentlog users add` makes it"
            ) from None
        except OSError as exc:
            raise UserError(
                f"cannot read the users file's folder {folder}: {exc.strerror}"
            ) from None
        if where.st_mode & 0o022:
            raise UserError(
                f"the users file's folder {folder} is writable by group or others (mode"
                f" {where.st_mode & 0o7777:o}): they could replace the users file;"
                f" run chmod go-w {folder}"
            )
        if where.st_uid not in (os.geteuid(), 0):
            raise UserError(
                f"the users file's folder {folder} belongs to user id {where.st_uid}, not to"
                f" this process's user ({os.geteuid()}) or root: its owner could replace the file"
            )
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise UserError(f"cannot read the users file {self.path}: {exc.strerror}") from None
        if info.st_mode & 0o022:
            raise UserError(
                f"the users file {self.path} is writable by group or others (mode"
                f" {info.st_mode & 0o7777:o}): run chmod 600 {self.path}"
            )
        if info.st_uid not in (os.geteuid(), 0):
            raise UserError(
                f"the users file {self.path} belongs to user id {info.st_uid}, not to this"
                f" process's user ({os.geteuid()}) or root: whoever owns it decides who logs in"
            )

    # -- writing ------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, *, create: bool = False) -> Iterator[dict[str, User]]:
        """The users as they are on disk, under the exclusive lock; what the caller leaves
        in the dict is written back (atomically, 0600) if it changed. ``create``: make
        the folder when it is missing (``users add`` only)."""
        if create:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            lock = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except FileNotFoundError:
            raise UserError(
                f"the users file's folder {self.path.parent} does not exist:"
                " `consentlog users add` makes it"
            ) from None
        except OSError as exc:
            raise UserError(
                f"cannot open the lock file {lock_path}: {exc.strerror}"
                " (it must be a plain file, not a symbolic link)"
            ) from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            before = self._read()
            users = dict(before)
            yield users
            if users != before:
                self._write(users)
        finally:
            os.close(lock)  # releases the lock

    def _write(self, users: dict[str, User]) -> None:
        text = json.dumps(
            {"format": FORMAT, "users": [users[name].as_json() for name in sorted(users)]},
            indent=2,
        )
        fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                os.fchmod(out.fileno(), 0o600)
                out.write(text + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        folder = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder)  # the rename itself survives a crash
        finally:
            os.close(folder)
        self._seen = None  # read again, whatever the clock's resolution

    def add(self, name: str, role: Role, password: str, *, totp: bool = False) -> User:
        """Add user ``name``; UserError when the name is taken or bad, or the password
        too short."""
        check_name(name)
        password_hash = self.hasher.hash(check_password(password))
        user = User(
            name,
            role,
            password_hash,
            secrets.token_urlsafe(16),
            pyotp.random_base32(32) if totp else "",
        )
        with self._locked(create=True) as users:
            if name in users:
                raise UserError(f"user {name!r} exists already: remove it first, or pick another")
            users[name] = user
        log.info("dashboard_user_added", user=name, role=role, totp=totp)
        return user

    def remove(self, name: str) -> None:
        """Remove user ``name`` (their sessions and share links end); UserError if absent."""
        with self._locked() as users:
            if users.pop(name, None) is None:
                raise UserError(f"no user {name!r}: `consentlog users list` shows who exists")
        log.info("dashboard_user_removed", user=name)

    def set_role(self, name: str, role: Role) -> User:
        """Give user ``name`` another role; their sessions and share links end."""
        with self._locked() as users:
            user = users.get(name)
            if user is None:
                raise UserError(f"no user {name!r}: `consentlog users list` shows who exists")
            users[name] = replace(user, role=role, stamp=secrets.token_urlsafe(16))
        log.info("dashboard_user_role_changed", user=name, role=role)
        return users[name]

    def set_password(self, name: str, password: str) -> User:
        """Give user ``name`` a new password; their sessions and share links end."""
        password_hash = self.hasher.hash(check_password(password))
        with self._locked() as users:
            user = users.get(name)
            if user is None:
                raise UserError(f"no user {name!r}: `consentlog users list` shows who exists")
            users[name] = replace(
                user, password_hash=password_hash, stamp=secrets.token_urlsafe(16)
            )
        log.info("dashboard_user_password_changed", user=name)
        return users[name]

    def save_filter(self, name: str, saved: SavedFilter) -> None:
        """Keep ``saved`` for user ``name`` (replacing one with the same label); UserError
        for a label outside 1 to ``MAX_LABEL`` printable characters or beyond
        ``MAX_SAVED`` filters."""
        if not (0 < len(saved.label) <= MAX_LABEL and saved.label.isprintable()):
            raise UserError(f"name the saved filter with 1 to {MAX_LABEL} printable characters")
        with self._locked() as users:
            user = users.get(name)
            if user is None:
                raise UserError(f"no user {name!r}: `consentlog users list` shows who exists")
            kept = [s for s in user.saved if s.label != saved.label]
            if len(kept) >= MAX_SAVED:
                raise UserError(f"at most {MAX_SAVED} saved filters: delete one first")
            users[name] = replace(user, saved=(*kept, saved))

    def delete_filter(self, name: str, label: str) -> None:
        """Forget user ``name``'s saved filter ``label`` (nothing when there is none)."""
        with self._locked() as users:
            user = users.get(name)
            if user is not None:
                users[name] = replace(user, saved=tuple(s for s in user.saved if s.label != label))

    # -- logging in ---------------------------------------------------------------

    def authenticate(self, name: str, password: str) -> User | None:
        """The user ``name`` if ``password`` is theirs, else None. An unknown name still
        costs one argon2 verification (of a dummy hash), so the time taken does not tell
        whether the user exists. A hash made with other parameters is replaced; when it
        fails (which may take far less time than a current hash) the dummy is verified
        too, so the time does not tell which users have old hashes."""
        dummy = self._dummy_hash()  # made before the lookup: the first miss costs no more
        try:
            user = self.get(name) if len(password) <= MAX_PASSWORD else None
        except UserError as exc:
            log.error("users_file_unreadable", error=str(exc))
            user = None
        if user is None:
            self._verify(dummy, password)
            return None
        verified = self._verify(user.password_hash, password)
        stale = self._needs_rehash(user.password_hash)
        if not verified:
            if stale:
                self._verify(dummy, password)
            return None
        if stale:
            self._rehash(user, password)
        return user

    def _needs_rehash(self, password_hash: str) -> bool:
        try:
            return self.hasher.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError):
            return True

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password[:MAX_PASSWORD])
        except (VerificationError, InvalidHashError):
            return False

    def _dummy_hash(self) -> str:
        if not self._dummy:
            self._dummy = self.hasher.hash(secrets.token_urlsafe(16))
        return self._dummy

    def _rehash(self, user: User, password: str) -> None:
        try:
            with self._locked() as users:
                current = users.get(user.name)
                if current is not None and current.password_hash == user.password_hash:
                    # the stamp stays: a rehash changes no password, ends no session
                    new_hash = self.hasher.hash(password)
                    users[user.name] = replace(current, password_hash=new_hash)
        except (OSError, UserError) as exc:  # a read-only file: the old hash still works
            log.warning("dashboard_rehash_not_saved", user=user.name, error=str(exc))
            return
        log.info("dashboard_password_rehashed", user=user.name)

    def accept_totp(self, name: str, code: str) -> bool:
        """Whether ``code`` is accepted (``check_totp``)."""
        return self.check_totp(name, code).outcome == "accepted"

    def check_totp(self, name: str, code: str) -> TotpCheck:
        """Whether ``code`` is user ``name``'s TOTP code for a time step within
        ``TOTP_DRIFT`` of now and later than the last one accepted; accepting records
        the step, so the same code (or an older one) is refused from then on, in every
        process that reads the file. A wrong code is recorded too, and after
        ``TOTP_FAILURE_LIMIT`` of them within ``TOTP_FAILURE_WINDOW`` no code is compared
        (``locked``) until the oldest ages out — in every process, across restarts. When
        the file cannot be written (it or its folder is read-only) the code is refused."""
        code = code.replace(" ", "")
        if not (len(code) == 6 and code.isascii() and code.isdigit()):
            return TotpCheck("wrong")
        try:
            return self._check_totp(name, code)
        except (OSError, UserError) as exc:
            # without recording the step a code could be replayed: refuse (fail closed)
            log.error("dashboard_totp_not_recorded", user=name, error=str(exc))
            return TotpCheck("wrong")

    def _check_totp(self, name: str, code: str) -> TotpCheck:
        with self._locked() as users:
            user = users.get(name)
            if user is None or not user.totp_secret:
                return TotpCheck("wrong")
            now = int(self._clock())
            recent = tuple(t for t in user.totp_failures if now - TOTP_FAILURE_WINDOW < t <= now)
            if len(recent) >= TOTP_FAILURE_LIMIT:
                return TotpCheck("locked", max(1, recent[0] + TOTP_FAILURE_WINDOW - now))
            totp = pyotp.TOTP(user.totp_secret, interval=TOTP_STEP)
            step_now = now // TOTP_STEP
            matched = [
                step
                for step in range(step_now - TOTP_DRIFT, step_now + TOTP_DRIFT + 1)
                # every step compared, in constant time: no early exit
                if hmac.compare_digest(totp.generate_otp(step), code)
            ]
            if not matched or max(matched) <= user.totp_step:
                users[name] = replace(user, totp_failures=(*recent, now))
                return TotpCheck("wrong")
            users[name] = replace(user, totp_step=max(matched), totp_failures=recent)
        return TotpCheck("accepted")
