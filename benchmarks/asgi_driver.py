"""Drive an ASGI app in-process, without a server or test client: the cheapest way to
send many requests through the middleware (used by benchmarks and large tests)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Headers = Sequence[tuple[bytes, bytes]]


def scope(
    path: str = "/", *, method: str = "GET", headers: Headers = (), query: bytes = b""
) -> dict[str, Any]:
    """An HTTP scope as uvicorn would build it."""
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
        "headers": [(b"host", b"bench.local"), *headers],
        "client": ("203.0.113.7", 50000),
        "server": ("bench.local", 80),
        "state": {},
    }


async def call(
    app: Any, request_scope: dict[str, Any], body: bytes = b""
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Send one request; return status, headers and body."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    status = 0
    headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status = message["status"]
            headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(dict(request_scope), receive, send)
    return status, headers, b"".join(chunks)
