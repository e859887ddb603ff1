"""Reaching the ClickHouse HTTP interface the way outside clients do.

``served`` gives the interface the session's store is served on (the test process owns
that store once it has been used) with the two users' credentials and a fresh database.
``own_interface`` serves the same engine again on another port with other ``Limits``:
chDB opens one path per process, so a second interface must run on the same store.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

from consentlog.store import Store
from consentlog.store.embedded import EmbeddedStore
from consentlog.store.serving.app import ClickHouseInterface, Limits
from consentlog.store.serving.engine import Engine
from consentlog.store.serving.server import BackgroundServer, bind
from consentlog.store.serving.users import ANALYST, WRITER


@dataclass(frozen=True)
class Served:
    """Where the interface listens, who may log in, and this test's database."""

    host: str
    port: int
    writer: tuple[str, str]  # (user, password)
    analyst: tuple[str, str]
    database: str

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def client(self, *, analyst: bool = False, **options: object) -> httpx.Client:
        """An HTTP client logged in (basic auth) as the writer or the analyst."""
        options.setdefault("timeout", 60)
        return httpx.Client(
            base_url=self.url,
            auth=self.analyst if analyst else self.writer,
            **options,  # type: ignore[arg-type]
        )

    def sql(self, query: str) -> str:
        """Run ``query`` as the writer (POST) in this test's database and return the
        body; fail on an error."""
        with self.client() as http:
            answer = http.post("/", content=query.encode(), params={"database": self.database})
        assert 200 == answer.status_code, answer.text
        return answer.text


def served(store: Store, database: str) -> Served:
    """The session store's own interface, with ``database`` created."""
    assert isinstance(store, EmbeddedStore)
    store.query("SELECT 1")  # the first use makes this process the owner
    assert store.address is not None
    assert store.users is not None
    host, port = store.address
    users = store.users.by_name
    store.command(f"CREATE DATABASE IF NOT EXISTS {database}")
    return Served(
        host,
        port,
        (WRITER, users[WRITER].password),
        (ANALYST, users[ANALYST].password),
        database,
    )


@contextlib.contextmanager
def own_interface(store: Store, database: str, limits: Limits) -> Iterator[Served]:
    """The session store served once more, on a free port, within ``limits``."""
    base = served(store, database)
    assert isinstance(store, EmbeddedStore)
    assert store.path is not None
    assert store.users is not None
    interface = ClickHouseInterface(
        Engine(store.path, max_execution_time=limits.max_execution_time), store.users, limits
    )
    server = BackgroundServer(interface, bind("127.0.0.1", 0))
    server.start()
    try:
        yield Served(server.host, server.port, base.writer, base.analyst, database)
    finally:
        server.stop()


def assert_refused(answer: httpx.Response, status: int, code: int, name: str) -> None:
    """``answer`` is a ClickHouse error: the status, the code in the header, and a body
    ``Code: N. DB::Exception: … (NAME)``."""
    assert (status, str(code)) == (
        answer.status_code,
        answer.headers.get("x-clickhouse-exception-code"),
    ), answer.text
    assert answer.text.startswith(f"Code: {code}. DB::Exception: "), answer.text
    assert f"({name})" in answer.text
