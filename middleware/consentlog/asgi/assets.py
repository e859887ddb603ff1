"""The banner's static files, served from the package with a content hash."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from importlib import resources


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
    """Load ``consentlog/static/<name>``."""
    body = resources.files("consentlog.asgi").joinpath("static", name).read_bytes()
    return Asset(
        name=name,
        body=body,
        gzipped=gzip.compress(body, compresslevel=9, mtime=0),
        content_type=_TYPES[name.rsplit(".", 1)[1]],
        digest=hashlib.sha256(body).hexdigest()[:12],
    )
