"""Many workers on one machine, one embedded store (issue 10, point 5): uvicorn and
gunicorn (also ``--preload``) with three workers each, real processes on loopback, each run
on its own store directory.

Every worker writes its page requests exactly once (through the store's owner, or as the
owner), SIGTERM flushes every worker, the CLI works while they serve, and a SIGKILL of
the owner under load hands the store to another worker within seconds.

What such a kill loses is the killed process's own window, and nothing of the others:
the events it had queued in memory — answered since its writer's last cycle (one flush
interval) plus the batch it was inserting — which its last status file bounds (queued,
not yet written or spooled). Its guests' batches in flight are retried on the new owner
with the same tokens. Requests it was serving when it died are not answered, so they are
not counted as sent.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest

from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.store.ownership import OWNER_FILE, Owner, read_owner
from consentlog.testing import MemorySink, visitor_cookies
from tests.helpers import HUMAN, ROOT, SECRET, cli_env, free_port, host_app

APP = "tests.store.workers_app:app"
PID_HEADER = "x-worker-pid"  # workers_app names the process that served each page
WORKERS = 3
FLUSH_INTERVAL = 0.2  # seconds: the writers' cycle, and so the SIGKILL window
# What no process's output may carry: chDB's own errors about its lock or engine, and
# any Python traceback.
FORBIDDEN = ("Cannot lock file", "EmbeddedServer", "DB::Exception", "Traceback")


def _env(store: Path) -> dict[str, str]:
    env = cli_env()
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env["PYTHONPATH"]])
    env["CONSENTLOG_CLICKHOUSE_URL"] = f"chdb:{store}"
    env["CONSENTLOG_SECRET_KEY"] = SECRET
    env["CONSENTLOG_FLUSH_INTERVAL"] = str(FLUSH_INTERVAL)
    return env


def _commands(kind: str, port: int, *, preload: bool = False) -> list[str]:
    if kind == "uvicorn":
        return [sys.executable, "-m", "uvicorn", APP, "--workers", str(WORKERS),
                "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]  # fmt: skip
    return [sys.executable, "-m", "gunicorn", "-k", "uvicorn.workers.UvicornWorker",
            "-w", str(WORKERS), "-b", f"127.0.0.1:{port}", "--graceful-timeout", "30",
            *(["--preload"] if preload else []), APP]  # fmt: skip


@dataclass
class Site:
    """A multi-worker server of ``workers_app`` on its own store directory."""

    kind: str
    directory: Path
    preload: bool = False
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def store(self) -> Path:
        return self.directory / "store"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.directory / f"{self.kind}.log"

    def start(self) -> None:
        with self.log.open("wb") as output:
            self.process = subprocess.Popen(
                _commands(self.kind, self.port, preload=self.preload),
                cwd=self.directory, env=_env(self.store), stdout=output,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError(f"{self.kind} did not answer within 60 s")

    def terminate(self) -> None:
        """SIGTERM the server (the master: it stops its workers) and wait for it to exit."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        assert 0 == self.process.wait(timeout=60), self.log.read_text()

    def kill(self) -> None:
        """SIGKILL whatever is left of the server: the master and its workers."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)  # its own session and group
            self.process.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def sites(tmp_path: Path) -> Iterator[list[Site]]:
    started: list[Site] = []
    yield started
    for site in started:
        site.kill()


def _site(sites: list[Site], tmp_path: Path, kind: str, *, preload: bool = False) -> Site:
    directory = tmp_path / f"{kind}{len(sites)}"
    directory.mkdir()
    site = Site(kind, directory, preload=preload)
    sites.append(site)
    site.start()
    return site


@dataclass
class Visitor:
    """A consented visitor's cookies, as this site's server would have issued them."""

    cookie: str

    @property
    def visitor_id(self) -> str:
        parsed: SimpleCookie = SimpleCookie()
        parsed.load(self.cookie)
        return parsed["cl_vid"].value


def _visitors(count: int) -> list[Visitor]:
    """Consented visitors (analytics accepted) of a site whose secret key is ``SECRET``."""
    minter = ConsentMiddleware(
        host_app(), secret_keys=[SECRET], writer=MemorySink(), clickhouse_url="chdb:unused"
    )
    return [Visitor(visitor_cookies(minter)) for _ in range(count)]


@dataclass
class Load:
    """Page requests from several threads, one connection each (so every worker gets some);
    what was answered 200, by which worker, when."""

    site: Site
    visitors: list[Visitor]
    requests: int | None = None  # None: until stop()
    threads: int = 4
    answers: list[int] = field(default_factory=list)  # per page: the pid that answered
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sent: int = 0

    def start(self) -> Load:
        self._workers = [threading.Thread(target=self._run) for _ in range(self.threads)]
        for worker in self._workers:
            worker.start()
        return self

    def wait(self) -> Load:
        for worker in self._workers:
            worker.join()
        return self

    def stop(self) -> Load:
        self._stop.set()
        return self.wait()

    def _next(self) -> int | None:
        with self._lock:
            if self._stop.is_set() or (self.requests is not None and self._sent >= self.requests):
                return None
            self._sent += 1
            return self._sent

    def _run(self) -> None:
        headers = {"accept": "text/html", "user-agent": HUMAN, "connection": "close"}
        with httpx.Client(base_url=self.site.url, timeout=30) as client:
            while (n := self._next()) is not None:
                visitor = self.visitors[n % len(self.visitors)]
                try:
                    response = client.get(
                        f"/page/{n}", headers={**headers, "cookie": visitor.cookie}
                    )
                except httpx.HTTPError as exc:  # the worker serving it was killed
                    self.failures.append(type(exc).__name__)
                    continue
                if response.status_code == 200:
                    self.answers.append(int(response.headers[PID_HEADER]))
                else:
                    self.failures.append(str(response.status_code))

    def by_pid(self) -> collections.Counter[int]:
        return collections.Counter(self.answers)


def _command(store: Path, *args: str) -> list[str]:
    """A ``consentlog`` command line on the store, as an operator runs it beside the site."""
    return [sys.executable, "-m", "consentlog.cli", *args, "--clickhouse-url", f"chdb:{store}"]


def _cli(store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _command(store, *args), env=cli_env(), capture_output=True, text=True, timeout=120
    )


def _start(store: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        _command(store, *args), env=cli_env(), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _sql(store: Path, query: str) -> list[dict[str, object]]:
    done = _cli(store, "sql", "--format", "json", query)
    assert 0 == done.returncode, done.stderr
    rows: list[dict[str, object]] = json.loads(done.stdout)
    return rows


def _counts(store: Path, visitor_id: str = "") -> tuple[int, int, int]:
    """Rows in page_requests, distinct page-view ids among them, rows of ``visitor_id``."""
    (row,) = _sql(
        store,
        "SELECT count() AS n, uniqExact(pageview_id) AS ids, "
        f"countIf(visitor_id = '{visitor_id}') AS of_visitor FROM consentlog.page_requests",
    )
    return int(str(row["n"])), int(str(row["ids"])), int(str(row["of_visitor"]))


def _owner(store: Path, timeout: float = 20) -> Owner:
    """The store's owner, once a worker's writer has opened the store (lazily, on its
    first cycle after a page)."""
    deadline = time.monotonic() + timeout
    while (owner := read_owner(store)) is None:
        assert time.monotonic() < deadline, "no process owns the store"
        time.sleep(0.05)
    return owner


def _assert_clean(*outputs: str) -> None:
    """No line of any output carries a raw chDB error or a traceback."""
    offending = [
        line
        for output in outputs
        for line in output.splitlines()
        if any(forbidden in line for forbidden in FORBIDDEN)
    ]
    assert [] == offending, "\n".join(outputs)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "preload"),
    [("uvicorn", False), ("gunicorn", False), ("gunicorn", True)],
    ids=["uvicorn", "gunicorn", "gunicorn-preload"],
)
def test_every_worker_writes_each_page_request_once(
    sites: list[Site], tmp_path: Path, kind: str, preload: bool
) -> None:
    """Three workers on one embedded store write every answered page request exactly once,
    and SIGTERM flushes them all."""
    site = _site(sites, tmp_path, kind, preload=preload)
    load = Load(site, _visitors(8), requests=300).start().wait()
    assert [] == load.failures
    assert 2 <= len(load.by_pid()), load.by_pid()  # several workers served (and queued)
    owner = _owner(site.store)
    assert owner.pid in load.by_pid()  # a worker that served pages owns the store
    site.terminate()
    assert (300, 300, 0) == _counts(site.store)
    _assert_clean(site.output())


def test_a_site_is_built_without_importing_chdb(tmp_path: Path) -> None:
    """Building a site with the middleware imports no chDB, so a worker forked from that
    process (gunicorn --preload) does not lack the thread pool importing chDB starts."""
    code = (
        "import sys\n"
        "from consentlog.asgi.middleware import ConsentMiddleware\n"
        "from tests.helpers import SECRET, host_app\n"
        "ConsentMiddleware(host_app(), secret_keys=[SECRET])\n"
        "print(sorted(m for m in sys.modules if m.partition('.')[0] == 'chdb'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=_env(tmp_path / "store"), cwd=tmp_path,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "[]\n" == done.stdout, done.stderr


@pytest.mark.slow
def test_the_preloading_master_holds_nothing_of_the_store(
    sites: list[Site], tmp_path: Path
) -> None:
    """With gunicorn --preload the master, which imported the app, never owns the store,
    holds no file of it open and has not started chDB (whose threads a forked worker would
    lack): a worker owns the store."""
    site = _site(sites, tmp_path, "gunicorn", preload=True)
    Load(site, _visitors(2), requests=30).start().wait()
    master = site.process
    assert master is not None
    owner = _owner(site.store)
    assert master.pid != owner.pid
    held = [os.readlink(fd) for fd in Path(f"/proc/{master.pid}/fd").iterdir()]
    assert [] == [path for path in held if path.startswith(str(site.store))]
    threads = {
        (task / "comm").read_text().strip() for task in Path(f"/proc/{master.pid}/task").iterdir()
    }
    assert "ThreadPool" not in threads  # the name chDB's engine gives its worker threads
    site.terminate()
    _assert_clean(site.output())


@pytest.mark.slow
def test_commands_work_on_the_store_while_workers_serve(sites: list[Site], tmp_path: Path) -> None:
    """sql, status, report, export and forget succeed on the store while three uvicorn
    workers write to it, and an erasure takes exactly the subject's rows."""
    site = _site(sites, tmp_path, "uvicorn")
    subject, *others = _visitors(6)
    Load(site, [subject], requests=12).start().wait()
    load = Load(site, others, threads=1).start()  # the other visitors, all along
    try:
        query = (
            "SELECT count() AS n FROM consentlog.page_requests "
            f"WHERE visitor_id = '{subject.visitor_id}'"
        )
        deadline = time.monotonic() + 30
        while int(str(_sql(site.store, query)[0]["n"])) < 12:  # the writers flush every 0.2 s
            assert time.monotonic() < deadline
        commands = {
            "status": ["status", "--format", "json"],
            "report": ["report", "--json"],
            "export": ["export", "--visitor", subject.visitor_id],
        }
        running = {name: _start(site.store, *args) for name, args in commands.items()}
        results = {name: process.communicate(timeout=120) for name, process in running.items()}
        for name, process in running.items():
            assert 0 == process.returncode, (name, results[name])
        status = json.loads(results["status"][0])
        writers = [v for k, v in status.items() if k.startswith("writer ") and "." not in k]
        assert status["writers"] == len(writers)
        assert all(state.startswith("running, ") for state in writers), writers
        assert 1 == sum(", owner, " in state for state in writers), writers
        assert 12 == len(json.loads(results["export"][0])["page_requests"])
        forget = _cli(site.store, "forget", "--visitor", subject.visitor_id)
        assert 0 == forget.returncode, forget.stderr
        assert 12 == json.loads(forget.stdout)["erased"]["page_requests"]
    finally:
        load.stop()
    site.terminate()
    assert [] == load.failures
    assert (len(load.answers), len(load.answers), 0) == _counts(site.store, subject.visitor_id)
    _assert_clean(site.output(), *(out + err for out, err in results.values()), forget.stderr)


def _wait_for_new_owner(store: Path, killed: int, timeout: float) -> float:
    """Seconds until the owner file names a live process other than ``killed`` whose
    server answers ``/ping``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        owner = read_owner(store)
        if owner is not None and owner.pid != killed and owner.alive():
            try:
                ping = httpx.get(f"http://{owner.host}:{owner.port}/ping", timeout=1)
            except httpx.HTTPError:
                pass
            else:
                if ping.text == "Ok.\n":
                    return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"no new owner within {timeout} s: {(store / OWNER_FILE).read_text()}")


def _figures(site: Site, pid: int) -> dict[str, int]:
    """The counters worker ``pid`` last left in the spool's status directory ({} if none)."""
    path = site.store.with_name("store-spool") / "consentlog" / "status" / f"{pid}.json"
    try:
        figures: dict[str, int] = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return figures


def _own_events_safe(figures: dict[str, int]) -> int:
    """A writer's own events that reached the store or its spool (replayed rows may be
    other processes' spooled events, and are counted where they were spooled)."""
    return figures.get("written", 0) - figures.get("replayed", 0) + figures.get("spooled", 0)


@pytest.mark.slow
def test_a_killed_owner_is_replaced_and_loses_only_its_own_window(
    sites: list[Site], tmp_path: Path
) -> None:
    """SIGKILL of the owning worker under load: another worker owns the store within a few
    seconds, pages keep being served, and what is lost is at most what the killed worker
    had queued but not yet written or spooled, never a duplicate."""
    site = _site(sites, tmp_path, "uvicorn")
    load = Load(site, _visitors(8)).start()
    try:
        owner = _owner(site.store)
        deadline = time.monotonic() + 30
        while _own_events_safe(_figures(site, owner.pid)) < 1:  # past opening and migrating
            assert time.monotonic() < deadline, "the owner wrote nothing"
            time.sleep(0.05)
        time.sleep(0.5)  # load in steady state
        os.kill(owner.pid, signal.SIGKILL)
        takeover = _wait_for_new_owner(site.store, owner.pid, timeout=10)
        served_before = len(load.answers)
        time.sleep(1.0)
        assert len(load.answers) > served_before  # pages keep being served
    finally:
        load.stop()
    site.terminate()
    stored, distinct, _ = _counts(site.store)
    assert stored == distinct  # no duplicates
    lost = len(load.answers) - stored
    killed_answered = load.by_pid()[owner.pid]
    last_seen = _figures(site, owner.pid)  # after its last cycle before the kill
    window = killed_answered - _own_events_safe(last_seen)
    assert 0 <= lost <= window, (lost, window, last_seen, takeover, load.by_pid())
    assert takeover < 5.0
    _assert_clean(site.output())
