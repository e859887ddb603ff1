"""Helpers for testing a site that mounts consentlog, and for driving it fast.

``consent_cookie`` makes the cookie a visitor would have after deciding, so a test can
start from "accepted" or "declined" without clicking through the banner, and
``visitor_cookies`` adds the visitor and session ids a returning visitor carries; ``call``
sends one request straight into an ASGI app (no server, no client library), which is how the
test suite and the benchmarks push a million requests through the middleware;
``MemorySink`` collects the events a middleware queues, for tests that check what would
be stored without running ClickHouse; ``OutageStore`` makes a real store fail on demand.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.consent.decision import Source
from consentlog.ingest.events import ConsentRecord, Engagement, Event, PageRequest, PageSeen, Queued

Headers = Sequence[tuple[bytes, bytes]]


def consent_cookie(
    middleware: ConsentMiddleware, accepted: Iterable[str] = (), *, source: Source = "banner"
) -> str:
    """A ``Cookie`` header fragment (``cl_consent=…``) for a visitor who accepted
    ``accepted`` (optional categories) under the middleware's current policy revision."""
    codec = middleware.core.codec
    return (
        f"{middleware.settings.consent_cookie}={codec.dumps(codec.new_decision(accepted, source))}"
    )


def visitor_cookies(middleware: ConsentMiddleware, accepted: Iterable[str] = ("analytics",)) -> str:
    """A ``Cookie`` header for a returning visitor: the consent cookie and, when analytics
    is accepted, the visitor and session ids this server would have issued with it (ids
    are bound to their consent, so hand-made ones are replaced)."""
    core = middleware.core
    decision = core.codec.new_decision(accepted, "banner")
    s = core.settings
    header = f"{s.consent_cookie}={core.codec.dumps(decision)}"
    if "analytics" in decision.accepted:
        signer = core.codec.identifiers
        visitor = signer.issue("visitor", decision.consent_id)
        session = signer.issue("session", decision.consent_id)
        header += f"; {s.visitor_cookie}={visitor}; {s.session_cookie}={session}"
    return header


def http_scope(
    path: str = "/",
    *,
    method: str = "GET",
    headers: Headers = (),
    query: bytes = b"",
    client: tuple[str, int] = ("203.0.113.7", 50000),
    host: bytes = b"testserver",
) -> dict[str, Any]:
    """An HTTP scope as an ASGI server builds it (header names lower-case)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", host), *headers],
        "client": client,
        "server": (host.decode(), 80),
        "state": {},
    }


@dataclass(slots=True)
class Answer:
    """What an ASGI app sent back."""

    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""

    def header_values(self, name: bytes) -> list[bytes]:
        """Every value of a response header (e.g. ``b"set-cookie"``)."""
        return [v for k, v in self.headers if k.lower() == name]


async def call(app: Any, scope: dict[str, Any], body: bytes = b"") -> Answer:
    """Send one request into ``app`` and collect the answer."""
    delivered = False
    answer = Answer()
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(dict(scope), receive, send)
    answer.body = b"".join(chunks)
    return answer


class OutageStore:
    """A fault-injection wrapper around a real ``Store``: while ``down`` is set, every call
    fails as an unreachable ClickHouse would. For testing the writer's spool and replay."""

    def __init__(self, store: Any, *, down: bool = False) -> None:
        self._store = store
        self.down = down

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if not callable(attribute):
            return attribute

        def guarded(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise ConnectionError("injected outage: ClickHouse unreachable")
            return attribute(*args, **kwargs)

        return guarded


class MemorySink:
    """An event sink that keeps what it is given, in order: hand it to ``ConsentMiddleware``
    (``writer=MemorySink()``) to see the rows a request would write, without a store."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def submit(self, event: Queued) -> None:
        """Keep ``event`` (a page queued raw as the ``PageRequest`` the writer makes of it)."""
        self.events.append(event.request() if isinstance(event, PageSeen) else event)

    def flush(self, timeout: float = 30.0) -> bool:
        """Nothing waits: always True."""
        return True

    def stop(self, timeout: float = 10.0) -> bool:
        """Nothing to stop: always True."""
        return True

    @property
    def pages(self) -> list[PageRequest]:
        """The page requests submitted so far."""
        return [e for e in self.events if isinstance(e, PageRequest)]

    @property
    def consents(self) -> list[ConsentRecord]:
        """The consent records submitted so far."""
        return [e for e in self.events if isinstance(e, ConsentRecord)]

    @property
    def engagements(self) -> list[Engagement]:
        """The engagements submitted so far."""
        return [e for e in self.events if isinstance(e, Engagement)]
