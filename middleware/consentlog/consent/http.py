"""What consentlog reads from an ASGI request: headers, client address, origin checks."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from starlette.types import Receive, Scope


def header_map(scope: Scope) -> dict[bytes, bytes]:
    """Header name → value; repeated headers are joined as HTTP allows.

    ASGI servers send header names lower-cased (the spec requires it), so names are
    taken as they are.
    """
    headers: dict[bytes, bytes] = {}
    for name, value in scope.get("headers") or ():
        if name in headers:
            separator = b"; " if name == b"cookie" else b", "
            headers[name] = headers[name] + separator + value
        else:
            headers[name] = value
    return headers


def text(headers: dict[bytes, bytes], name: bytes, limit: int = 2048) -> str:
    """A header as text (latin-1, as HTTP bytes are), cut to ``limit`` characters."""
    return headers.get(name, b"")[:limit].decode("latin-1")


@dataclass(frozen=True, slots=True)
class Origin:
    """Scheme, host and client address of a request, after trusted proxies."""

    scheme: str
    host: str
    client_ip: str

    @property
    def https(self) -> bool:
        """True when the visitor reached the site over https."""
        return self.scheme in {"https", "wss"}


def _forwarded(headers: dict[bytes, bytes], name: bytes, hops: int) -> str | None:
    """The value a proxy ``hops`` steps away from us wrote into an X-Forwarded-* list."""
    values = [v.strip() for v in text(headers, name).split(",") if v.strip()]
    if hops <= 0 or not values:
        return None
    return values[-hops] if len(values) >= hops else values[0]


def origin_of(scope: Scope, headers: dict[bytes, bytes], trusted_hops: int) -> Origin:
    """Where the request came from, trusting ``trusted_hops`` reverse proxies."""
    scheme = str(scope.get("scheme", "http"))
    host = text(headers, b"host", 255)
    client = scope.get("client")
    ip = str(client[0]) if client else ""
    if trusted_hops:
        ip = _forwarded(headers, b"x-forwarded-for", trusted_hops) or ip
        scheme = _forwarded(headers, b"x-forwarded-proto", 1) or scheme
        host = _forwarded(headers, b"x-forwarded-host", 1) or host
    if not host:
        server = scope.get("server")
        host = f"{server[0]}:{server[1]}" if server else "localhost"
    return Origin(scheme.lower(), host.lower(), ip)


SAFE_FETCH_SITES: frozenset[str] = frozenset(("same-origin", "none"))


def cross_site_reason(headers: dict[bytes, bytes], origin: Origin) -> str | None:
    """Why a state-changing request is refused as cross-site, or None if it is same-origin.

    ``Sec-Fetch-Site`` is decisive when the browser sends it; otherwise an ``Origin``
    header must name this site. Requests with neither come from non-browser clients,
    which cookies cannot be forged for, and are allowed.
    """
    fetch_site = text(headers, b"sec-fetch-site", 32).lower()
    if fetch_site and fetch_site not in SAFE_FETCH_SITES:
        return f"cross-site request refused (Sec-Fetch-Site: {fetch_site})"
    sent_origin = text(headers, b"origin", 512).lower()
    # The host decides; the scheme is left out because TLS often ends at a proxy.
    if sent_origin and sent_origin.partition("://")[2] != origin.host:
        return f"cross-origin request refused (Origin: {sent_origin[:100]})"
    return None


@functools.lru_cache(maxsize=1024)
def first_language(accept_language: str, known: frozenset[str] = frozenset()) -> str:
    """The visitor's preferred primary language tag (``de`` from ``de-AT,de;q=0.9``).

    With ``known`` given, the first preferred tag among them, or '' if none is known.
    """
    known_set = known
    for part in accept_language.split(","):
        tag = part.split(";", 1)[0].strip().lower()
        primary = tag.split("-", 1)[0][:8]
        if primary and primary != "*" and primary.isalpha():
            if not known_set:
                return primary
            if primary in known_set:
                return primary
    return ""


class BadRequest(Exception):
    """Input consentlog refuses; ``status`` and a message that names the problem."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_body(receive: Receive, headers: dict[bytes, bytes], limit: int) -> bytes:
    """The request body; 413 over ``limit`` bytes (declared or streamed), 400 on disconnect."""
    declared = text(headers, b"content-length", 20).strip()
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise BadRequest(413, f"request body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest(400, "client disconnected before the body was complete")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BadRequest(413, f"request body over {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def json_object(body: bytes, what: str) -> dict[str, Any]:
    """``body`` parsed as a JSON object; 400 naming ``what`` when it is not one."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest(400, f"{what} is not valid JSON") from None
    if not isinstance(payload, dict):
        raise BadRequest(400, f"{what} must be a JSON object")
    return payload
