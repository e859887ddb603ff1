"""The banner's static files, served from the package with a content hash: loaded once,
answered with long caching when the URL names their digest, ETag, and gzip when accepted."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from importlib import resources

from starlette.responses import Response
from starlette.types import Scope

from consentlog.consent.http import text


@dataclass(frozen=True, slots=True)
class Asset:
    """A static file held in memory, with its gzipped form and content hash."""

    name: str
    body: bytes
    gzipped: bytes
    content_type: str
    digest: str  # first 12 hex digits of the SHA-256 of ``body``

    def url(self, prefix: str) -> str:
        """The long-cacheable URL of this exact content."""
        return f"{prefix}/{self.name}?v={self.digest}"


_TYPES = {"js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8"}


def load_asset(name: str) -> Asset:
    """Load ``consentlog/asgi/static/<name>``."""
    body = resources.files("consentlog.asgi").joinpath("static", name).read_bytes()
    return Asset(
        name=name,
        body=body,
        gzipped=gzip.compress(body, compresslevel=9, mtime=0),
        content_type=_TYPES[name.rsplit(".", 1)[1]],
        digest=hashlib.sha256(body).hexdigest()[:12],
    )


def asset_response(asset: Asset, scope: Scope, headers: dict[bytes, bytes]) -> Response:
    """The answer to a GET of ``asset``: 304 when the browser has it, gzip when accepted."""
    versioned = f"v={asset.digest}" in scope.get("query_string", b"").decode("latin-1")
    cache = "public, max-age=31536000, immutable" if versioned else "public, max-age=300"
    gzip_ok = _accepts_gzip(text(headers, b"accept-encoding", 200))
    response_headers = {
        "cache-control": cache,
        "etag": f'"{asset.digest}"',
        "vary": "Accept-Encoding",
    }
    if _etag_matches(text(headers, b"if-none-match", 500), asset.digest):
        return Response(status_code=304, headers=response_headers)
    if gzip_ok:
        response_headers["content-encoding"] = "gzip"
    body = asset.gzipped if gzip_ok else asset.body
    return Response(body, media_type=asset.content_type, headers=response_headers)


def _etag_matches(if_none_match: str, digest: str) -> bool:
    """RFC 9110 weak comparison: ``*``, or any listed tag (``W/`` or not) equal to ours."""
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or f'"{digest}"' in tags


def _accepts_gzip(accept_encoding: str) -> bool:
    """True unless gzip is absent from ``Accept-Encoding`` or refused with ``q=0``."""
    for part in accept_encoding.lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() in {"gzip", "*"}:
            quality = params.strip().removeprefix("q=").strip() if params else "1"
            try:
                return float(quality) > 0
            except ValueError:
                return True
    return False
