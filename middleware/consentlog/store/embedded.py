"""The embedded store: the real ClickHouse engine, through chDB, shared by every process.

``chdb:///abs/path`` or ``chdb:relative/path``. chDB opens a directory in one process
only, so the first process to need the store becomes its *owner* (``ownership``): it
opens chDB, serves the store over the ClickHouse HTTP interface on loopback
(``serving``) and says where in the store directory. Every other process — more web
workers, the CLI, a standalone dashboard — is a *guest*: it reads where the owner is and
works through it with clickhouse-connect's HTTP client. When a guest's call finds the
owner gone, it reconnects (taking the store over if the lock is free) and runs the call
once more: inserts carry deduplication tokens, so a retried batch is written once.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import ssl
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote

import clickhouse_connect
import structlog
from clickhouse_connect.driver.exceptions import OperationalError

from consentlog.exceptions import StoreError, StoreLockedError
from consentlog.store import ownership
from consentlog.store.client import ClientStore
from consentlog.store.deduplication import repair_store
from consentlog.store.serving.server import BackgroundServer, bind, parse_listen
from consentlog.store.serving.users import WRITER, Users, store_users

if TYPE_CHECKING:
    from consentlog.store.serving.app import Limits

SCHEME = "chdb:"
TAKEOVER_SECONDS = 15.0  # how long a guest waits for a new owner to serve the store
T = TypeVar("T")
log = structlog.get_logger("consentlog.store.embedded")


def embedded_path(url: str) -> Path | None:
    """The directory of a ``chdb:`` URL (made absolute), or None for a server URL."""
    if not url.startswith(SCHEME):
        return None
    rest = url[len(SCHEME) :]
    if rest.startswith("//"):
        rest = rest[2:]
    return Path(unquote(rest) or ".consentlog").expanduser().resolve()


@dataclass(frozen=True, slots=True)
class Serving:
    """How an owner serves its store: where, with which passwords, within which limits."""

    listen: str = ""  # HOST:PORT; '' = loopback, a free port
    writer_password: str = field(default="", repr=False)  # '' = the store's generated one
    analyst_password: str = field(default="", repr=False)
    limits: Limits | None = None  # None: the interface's defaults
    tls_certfile: str = ""  # https instead of http (consentlog serve --tls-cert)
    tls_keyfile: str = ""


def _chdb_locked(path: Path) -> bool:
    """Is chDB's own lock on ``<path>/status`` held (by a process that is not an owner)?"""
    import fcntl

    status = path / "status"
    if not status.exists():
        return False
    with open(status, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


_calling_owner = threading.local()  # set while a guest's call goes to the owner


class _QuietOnTakeover(logging.Filter):
    """clickhouse-connect (and urllib3 under it) warns of every dropped connection, one
    with a traceback; a guest whose owner went away handles that itself (it reconnects,
    and a call that still fails raises to its caller), so the warnings are noise in the
    site's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_calling_owner, "active", False)


# (a filter applies to the logger it is on: these are the ones that warn — a dropped
# request, an answer cut short mid-stream, urllib3's own retry of a refused connection)
for _logger in (
    "clickhouse_connect.driver._backend.http_sync",
    "clickhouse_connect.driver.httputil",
    "urllib3.connectionpool",
):
    logging.getLogger(_logger).addFilter(_QuietOnTakeover())


_live_stores: weakref.WeakSet[EmbeddedStore] = weakref.WeakSet()
_inherited: list[Any] = []  # a forked child's copies of its parent's clients, never closed


def _answers(owner: ownership.Owner) -> bool:
    """Does the owner answer ``/ping`` within a few seconds (a stopped one does not)?"""
    connection: http.client.HTTPConnection
    if owner.scheme == "https":  # this machine's owner, by address: no certificate name
        context = ssl._create_unverified_context()  # noqa: S323
        connection = http.client.HTTPSConnection(owner.host, owner.port, timeout=3, context=context)
    else:
        connection = http.client.HTTPConnection(owner.host, owner.port, timeout=3)
    try:
        connection.request("GET", "/ping")
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def _make_private(path: Path) -> None:
    """The store holds personal data: no one but this user may enter its directory."""
    with contextlib.suppress(OSError):
        if path.stat().st_mode & 0o077:
            path.chmod(0o700)


def _after_fork_in_child() -> None:
    """A child forked from an owner closes what would keep the store from a new owner:
    the listening socket it inherited (chDB's own locks: ``ownership``)."""
    for store in list(_live_stores):
        server = store._server
        if server is not None:
            with contextlib.suppress(OSError):
                os.close(server.listener.detach())


os.register_at_fork(after_in_child=_after_fork_in_child)


def _reachable(host: str) -> str:
    """The address a process on this machine uses to reach a server listening on ``host``."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104


class EmbeddedStore(ClientStore):
    """A chDB store in a directory of this machine, owned here or reached through its owner."""

    def __init__(self, url: str, path: Path, serving: Serving | None = None) -> None:
        super().__init__(url)
        self.path = path
        self.serving = serving or Serving()
        self.role = ""  # 'owner' or 'guest' once connected
        self._server: BackgroundServer | None = None
        self.users: Users | None = None
        self.passwords_generated = False  # this process made the store's passwords
        self._pid = os.getpid()  # the process that connected (a forked child must not use it)
        self._owner_pid = 0  # a guest's owner
        _live_stores.add(self)

    @property
    def description(self) -> str:
        """``chdb:<absolute path>``."""
        return f"chdb:{self.path}"

    def _connect(self) -> Any:
        path = self.path
        assert path is not None
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        _make_private(path)
        self._pid = os.getpid()
        deadline = time.monotonic() + TAKEOVER_SECONDS
        while True:
            if ownership.take(path):
                return self._become_owner(path)
            owner = ownership.read_owner(path)
            if owner is not None and owner.pid != os.getpid() and owner.alive():
                client = self._guest_client(owner)
                if client is not None:
                    self.role = "guest"
                    self._owner_pid = owner.pid
                    return client
            if time.monotonic() > deadline:
                raise StoreLockedError(
                    f"the embedded store {path} is locked by a process that does not serve it "
                    "(an older consentlog, or chDB opened directly); stop that process"
                )
            time.sleep(0.05)

    def _become_owner(self, path: Path) -> Any:
        try:
            if _chdb_locked(path):
                raise StoreLockedError(
                    f"the embedded store {path} is open in another process that is not a "
                    "consentlog owner (chDB opened directly?); stop that process"
                )
            # a previous owner killed mid-insert left tokens without rows: drop them, so
            # that the batches its guests send again are written (``deduplication``)
            for repair in repair_store(path):
                log.warning(
                    "deduplication_repaired",
                    table=repair.table.name,
                    parts=list(repair.parts),
                    blocks=repair.blocks,
                )
            try:
                client = clickhouse_connect.get_client(dsn=f"chdb://{path}")
            except Exception as exc:
                raise StoreError(f"cannot open the embedded store {path}: {exc}") from None
            serving = self.serving
            self.users, self.passwords_generated = store_users(
                path, serving.writer_password, serving.analyst_password
            )
            host, port = parse_listen(serving.listen)
            # Imported here, by the process that becomes the owner, never at import:
            # importing chdb starts chDB's thread pool, and a process forked after that
            # (gunicorn --preload imports the site in the master) has none of those
            # threads, so its chDB hangs when it opens the store.
            from consentlog.store.serving.app import ClickHouseInterface, Limits
            from consentlog.store.serving.engine import Engine

            limits = serving.limits or Limits()
            interface = ClickHouseInterface(
                Engine(path, max_execution_time=limits.max_execution_time),
                self.users,
                limits,
            )
            server = BackgroundServer(
                interface,
                bind(host, port),
                ssl_certfile=serving.tls_certfile,
                ssl_keyfile=serving.tls_keyfile,
            )
            server.start()
            self._server = server
            writer = self.users.by_name[WRITER]
            ownership.publish(
                path,
                ownership.Owner(
                    pid=os.getpid(),
                    host=_reachable(host),
                    port=server.port,
                    user=writer.name,
                    password=writer.password,
                    since=time.time(),
                    scheme=server.scheme,
                ),
            )
        except BaseException:
            self._stop_serving()
            ownership.release(path)
            raise
        self.role = "owner"
        return client

    def _guest_client(self, owner: ownership.Owner) -> Any:
        if not _answers(owner):
            return None  # stopped, hung or not serving yet: look again, until the deadline
        try:
            return clickhouse_connect.get_client(
                host=owner.host,
                port=owner.port,
                username=owner.user,
                password=owner.password,
                compress=False,  # loopback: compression would only cost both processes CPU
                secure=owner.scheme == "https",
                verify=False,  # this machine's owner, by address, not by certificate name
                autogenerate_session_id=False,
                connect_timeout=2,
                # a query is capped at 60 s by the owner: more means the owner is stuck
                send_receive_timeout=90,
            )
        except Exception:
            return None  # the owner is going or not serving yet: look again

    def _call(self, work: Any) -> Any:
        with self._lock:
            # quiet through connecting, the call, reconnecting and the retry (an owner's
            # own calls go to chDB in process and reach none of the filtered loggers)
            outer = getattr(_calling_owner, "active", False)
            _calling_owner.active = True
            try:
                if self._pid != os.getpid():
                    self._forget_parents()  # a forked child: its parent's connection is not its own
                if self.role == "guest" and not ownership.running(self._owner_pid):
                    self._drop_client()  # the owner died: never send the password to its port
                try:
                    return work(self.client())
                except OperationalError:
                    if self.role != "guest":
                        raise
                # the owner went away mid-call: find (or become) the new one, then once more
                self._drop_client()
                return work(self.client())
            finally:
                _calling_owner.active = outer

    def _forget_parents(self) -> None:
        """After a fork: the parent's chDB, server and connection are not this process's;
        drop them unclosed and connect afresh (as the parent's guest)."""
        if self._client is not None:
            # never closed here: closing would shut down the parent's engine from this
            # copy of it; kept referenced so that no finalizer does so at exit either
            release = getattr(getattr(self._client, "_backend", None), "_release", None)
            if release is not None:
                with contextlib.suppress(Exception):
                    release.detach()
            _inherited.append(self._client)
        self._client = None
        self._server = None
        self.role = ""
        self._pid = os.getpid()

    @property
    def address(self) -> tuple[str, int] | None:
        """Where this process serves the store, when it owns it."""
        if self._server is None:
            return None
        return self._server.host, self._server.port

    def _stop_serving(self) -> None:
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server.stop()
            self._server = None

    def _drop_client(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None

    def close(self) -> None:
        """Stop serving and close chDB (an owner gives the store up); the next call reopens."""
        with self._lock:
            if self.role == "owner":
                self._stop_serving()
            self._drop_client()
            if self.role == "owner" and self.path is not None:
                ownership.release(self.path)
            self.role = ""
