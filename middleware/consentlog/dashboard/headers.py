"""Security headers on every dashboard response.

The pages load nothing but the dashboard's own stylesheet and hold no script, so the
Content-Security-Policy forbids everything else; reports are not cached by browsers or
proxies, and the dashboard may not be framed (clickjacking of the logout button).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADERS = {
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    # not no-referrer: browsers would then send `Origin: null` with the login form
    "referrer-policy": "same-origin",
    "cache-control": "no-store",  # only where the route set no caching of its own
}


class SecurityHeaders:
    """ASGI middleware adding ``HEADERS`` a response does not already set."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
