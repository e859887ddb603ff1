"""Reading a request body on the ASGI surface: bounded, and parsed as JSON or a form.

Every failure is a ``BadRequest`` naming the problem (413 over the limit, 400 for a body
that is not what it claims to be), never an exception the host application sees.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from starlette.types import Receive

from consentlog.consent.http import text
from consentlog.exceptions import BadRequest


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


def parse_form(body: bytes) -> dict[str, list[str]]:
    """An urlencoded form body; 400 when it is not UTF-8 form data."""
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=64)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest(400, "form body is not valid UTF-8 urlencoded data") from None


def last(fields: dict[str, list[str]], name: str, default: str = "") -> str:
    """The last value of a form field (browsers send repeated fields in order)."""
    values = fields.get(name)
    return values[-1] if values else default
