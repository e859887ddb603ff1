"""One embedded store, many processes: the first to open it owns it and serves it; the
others work through the owner; when the owner goes, another process takes over.

The test process already hosts the session's chDB store (one path per process), so the
owners of these tests' stores are subprocesses; this process is only ever their guest.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from consentlog.exceptions import StoreLockedError
from consentlog.store import embedded, ownership
from consentlog.store.embedded import EmbeddedStore
from consentlog.store.serving.users import CREDENTIALS_FILE

pytestmark = pytest.mark.slow  # each test starts a process that opens chDB

OWNER = textwrap.dedent(
    """
    import sys, time
    from consentlog.store import open_store
    store = open_store(sys.argv[1])
    store.command("CREATE TABLE IF NOT EXISTS default.t (a UInt64) ENGINE = MergeTree ORDER BY a "
        "SETTINGS non_replicated_deduplication_window = 100")
    print(store.role, flush=True)
    time.sleep(120)
    """
)


def _start_owner(directory: Path) -> subprocess.Popen[str]:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, f"chdb://{directory}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert owner.stdout is not None
    assert "owner" == owner.stdout.readline().strip(), owner.stderr.read() if owner.stderr else ""
    return owner


@pytest.fixture
def owned(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    directory = tmp_path / "store"
    owner = _start_owner(directory)
    yield directory, owner
    owner.kill()
    owner.wait(10)


def test_the_owner_says_where_it_serves_in_private_files(
    owned: tuple[Path, subprocess.Popen[str]],
) -> None:
    """The owner file names the owner's pid and loopback port; it and the passwords are 0600."""
    directory, owner = owned
    found = ownership.read_owner(directory)
    assert found is not None
    assert (owner.pid, "127.0.0.1") == (found.pid, found.host)
    assert found.alive()
    for name in (ownership.OWNER_FILE, CREDENTIALS_FILE, ownership.LOCK_FILE):
        assert 0o600 == stat.S_IMODE((directory / name).stat().st_mode), name
    assert found.password == json.loads((directory / CREDENTIALS_FILE).read_text())["consentlog"]


def test_another_process_works_through_the_owner(
    owned: tuple[Path, subprocess.Popen[str]],
) -> None:
    """A second opener is a guest: its inserts and queries reach the owner's store."""
    directory, _ = owned
    guest = EmbeddedStore(f"chdb://{directory}", directory)
    try:
        guest.insert("default.t", [[1, 2, 3]], ["a"], dedup_token="once")
        guest.insert("default.t", [[1, 2, 3]], ["a"], dedup_token="once")  # a retry
        assert "guest" == guest.role
        assert (["n"], [(3,)]) == guest.query("SELECT count() AS n FROM default.t")
    finally:
        guest.close()


def test_a_guest_takes_over_when_the_owner_is_killed(
    owned: tuple[Path, subprocess.Popen[str]],
) -> None:
    """After SIGKILL of the owner, a guest's next call makes it the owner, and nothing
    that was written is lost. (In a subprocess: this process may host one chDB path.)"""
    directory, owner = owned
    script = textwrap.dedent(
        """
        import os, sys, time
        from consentlog.store import open_store
        store = open_store(sys.argv[1])
        store.insert("default.t", [[1]], ["a"], dedup_token="before")
        print(store.role, flush=True)
        sys.stdin.readline()  # the test kills the owner now
        started = time.monotonic()
        store.insert("default.t", [[2]], ["a"], dedup_token="after")
        print(store.role, round(time.monotonic() - started, 1), flush=True)
        print(store.query("SELECT count() FROM default.t")[1][0][0], flush=True)
        from pathlib import Path
        from consentlog.store import ownership
        print(ownership.read_owner(Path(sys.argv[1][len("chdb://"):])).pid == os.getpid())
        """
    )
    guest = subprocess.Popen(
        [sys.executable, "-c", script, f"chdb://{directory}"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert guest.stdin is not None
    assert guest.stdout is not None
    assert "guest" == guest.stdout.readline().strip()
    owner.send_signal(signal.SIGKILL)
    owner.wait(10)
    guest.stdin.write("\n")
    guest.stdin.flush()
    out, err = guest.communicate(timeout=60)
    role, seconds, count, published = out.split()
    assert ("owner", "2", "True") == (role, count, published)
    assert float(seconds) < 5
    assert "" == err  # no raw chDB error, no warning, no traceback
    assert ownership.read_owner(directory) is None  # it gave the store up when it exited


def test_a_lock_held_by_a_process_that_does_not_serve_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the lock is held but nobody serves (an older consentlog), opening says so in
    one line instead of waiting forever."""
    directory = tmp_path / "store"
    directory.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
            "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
            str(directory / ownership.LOCK_FILE),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert "held" == holder.stdout.readline().strip()
        monkeypatch.setattr(embedded, "TAKEOVER_SECONDS", 0.5)
        store = EmbeddedStore(f"chdb://{directory}", directory)
        with pytest.raises(StoreLockedError, match="locked by a process that does not serve it"):
            store.query("SELECT 1")
    finally:
        holder.kill()
        holder.wait(10)


def test_a_stale_owner_file_does_not_stop_a_new_owner(tmp_path: Path) -> None:
    """An owner file left by a dead owner (the lock is free) is replaced by the next owner."""
    directory = tmp_path / "store"
    directory.mkdir()
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    ownership.publish(
        directory, ownership.Owner(int(gone.stdout), "127.0.0.1", 9, "consentlog", "old")
    )
    owner = _start_owner(directory)
    try:
        found = ownership.read_owner(directory)
        assert found is not None
        assert owner.pid == found.pid
    finally:
        owner.kill()
        owner.wait(10)


def test_a_forked_child_never_inherits_the_store(tmp_path: Path) -> None:
    """A child forked from an owner (gunicorn --preload) closes its copy of the lock and is
    a guest of its parent, with its own connection — even through the store object it
    inherited, which would otherwise write into its own copy of the parent's engine."""
    script = textwrap.dedent(
        """
        import os, sys
        from consentlog.store import open_store
        store = open_store(sys.argv[1])
        store.query("SELECT 1")
        pid = os.fork()
        if pid == 0:
            child = open_store(sys.argv[1])
            print("child", child is store, child.role or "-", flush=True)
            print("child", child.query("SELECT 7")[1][0][0], child.role, flush=True)
            store.command("CREATE TABLE default.f (x UInt8) ENGINE = MergeTree ORDER BY x")
            store.command("INSERT INTO default.f VALUES (42)")  # the parent's own object
            os._exit(0)
        os.waitpid(pid, 0)
        print("parent", store.role, store.query("SELECT x FROM default.f")[1], flush=True)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, f"chdb://{tmp_path / 'store'}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert 0 == done.returncode, done.stderr
    assert ["child False -", "child 7 guest", "parent owner [(42,)]"] == done.stdout.split("\n")[:3]
    assert "" == done.stderr


def test_chdb_opened_directly_elsewhere_is_one_line(tmp_path: Path) -> None:
    """A process that opened the directory with chDB itself (not a consentlog owner) is
    named in one line, not chDB's lock noise."""
    directory = tmp_path / "store"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import chdb, sys, time; c = chdb.connect(sys.argv[1]); c.query('SELECT 1'); "
            "print('open', flush=True); time.sleep(60)",
            str(directory),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert "open" == holder.stdout.readline().strip()
        opener = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys\nfrom consentlog.store import open_store\n"
                "try:\n    open_store(sys.argv[1]).query('SELECT 1')\n"
                "except Exception as exc:\n    print(type(exc).__name__, exc)",
                f"chdb://{directory}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert opener.stdout.startswith("StoreLockedError"), opener.stdout + opener.stderr
        assert "chDB opened directly" in opener.stdout
        assert "" == opener.stderr
        assert not (directory / ownership.OWNER_FILE).exists()
    finally:
        holder.kill()
        holder.wait(10)


def test_a_guest_is_not_served_by_itself(tmp_path: Path) -> None:
    """The owner file of this very process (an owner that closed) is never taken for another
    owner: the lock decides."""
    directory = tmp_path / "store"
    directory.mkdir()
    ownership.publish(directory, ownership.Owner(os.getpid(), "127.0.0.1", 9, "consentlog", "x"))
    assert ownership.take(directory)
    try:
        assert ownership.owns(directory)
    finally:
        ownership.release(directory)
    assert not (directory / ownership.OWNER_FILE).exists()
    assert not ownership.owns(directory)
    assert time.time() > 0


def test_an_idle_child_of_a_killed_owner_does_not_keep_the_store(tmp_path: Path) -> None:
    """The owner forks a child that never uses the store and is then killed: the child
    holds neither chDB's lock nor the listener, so the next process owns the store."""
    directory = tmp_path / "store"
    script = textwrap.dedent(
        """
        import os, sys, time
        from consentlog.store import open_store
        open_store(sys.argv[1]).query("SELECT 1")
        child = os.fork()
        if child == 0:
            time.sleep(60)
            os._exit(0)
        print(child, flush=True)
        time.sleep(60)
        """
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", script, f"chdb://{directory}"], stdout=subprocess.PIPE, text=True
    )
    assert owner.stdout is not None
    child = int(owner.stdout.readline())
    try:
        owner.kill()
        owner.wait(10)
        taken = _start_owner(directory)  # asserts that it became the owner
        taken.kill()
        taken.wait(10)
    finally:
        os.kill(child, signal.SIGKILL)
