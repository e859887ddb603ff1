"""The floor: the least any page-editing ASGI middleware written in Python must do.

It holds the response start, puts a fixed snippet and a keyed BLAKE2b page-view token
before ``</body>``, adds three fixed headers (a Set-Cookie among them) with a corrected
Content-Length, and queues a tuple. It reads no cookie, verifies nothing, builds no row.
Served beside consentlog (``benchmarks.served --breakdown``) and timed in-process beside
it (``benchmarks.request_cost``), it says how much of consentlog's cost any such
middleware pays, and so which goals pure Python can reach at all.
"""

from __future__ import annotations

import collections
import hashlib
import time
from typing import Any

TAGS = b'<link rel="stylesheet" href="/s.css"><script src="/s.js" defer></script>'
EXTRA = [
    (b"set-cookie", b"sid=" + b"x" * 45 + b"; Max-Age=1800; Path=/; HttpOnly"),
    (b"cache-control", b"private"),
    (b"vary", b"Cookie"),
]


def floor(inner: Any) -> Any:
    """``inner`` wrapped in the floor middleware."""
    key, queue = hashlib.sha256(b"floor").digest(), collections.deque[tuple[Any, ...]]()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await inner(scope, receive, send)  # type: ignore[no-any-return]
        held, started, path = None, time.time(), scope["path"]

        async def forward(message: Any) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                held = message
                return
            if held is not None:  # the final body: token, snippet, length, headers
                body = message["body"]
                at = body.rfind(b"</body>") % (len(body) + 1)  # the end, without one
                pageview = f"{int(started):08x}{len(queue):024x}"
                mac = hashlib.blake2b(f"{pageview}{path}".encode(), key=key, digest_size=16)
                token = f'<i data-pv="{pageview}.{mac.hexdigest()}" hidden></i>'.encode()
                message["body"] = body = b"".join((body[:at], TAGS, token, body[at:]))
                headers = [h for h in held["headers"] if h[0] != b"content-length"]
                headers += [(b"content-length", str(len(body)).encode()), *EXTRA]
                held["headers"] = headers
                await send(held)
                await send(message)
                queue.append((started, pageview, path, scope["query_string"], len(body)))
                if len(queue) > 10_000:
                    queue.clear()
                return
            await send(message)

        await inner(scope, receive, forward)

    return app
