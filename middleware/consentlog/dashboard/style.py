"""The dashboard's stylesheet, ``static/dashboard.css``, served as a file so the pages need
no inline style (the Content-Security-Policy allows styles from the dashboard itself only).

Its URL carries a hash of its content, so browsers may keep it until it changes.
"""

from __future__ import annotations

import hashlib
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response

CSS = resources.files("consentlog.dashboard").joinpath("static", "dashboard.css").read_bytes()
VERSION = hashlib.sha256(CSS).hexdigest()[:12]  # in the URL: cached until it changes


async def stylesheet(request: Request) -> Response:
    """GET /static/dashboard.css (public: the login page uses it)."""
    return Response(
        CSS,
        media_type="text/css; charset=utf-8",
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )
