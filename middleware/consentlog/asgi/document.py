"""Where consentlog's markup goes into a page: the banner (or a decided visitor's tags)
before ``</body>``, the Consent Mode script at the very start of ``<head>``.

The start of ``<head>`` is found by reading the document's opening the way a browser
does, not by searching for text: a byte-order mark, white space, comments, the doctype,
``<html …>`` and ``<head …>`` (quoted attribute values may hold ``>``) are stepped
over, and the first other thing ends the search, so a ``<head>`` inside a comment, a
script or a text area is never taken for the real one. A ``<meta charset>`` (or its
``http-equiv`` form) right there stays first, since browsers look for it in the first
1,024 bytes.
"""

from __future__ import annotations

import re

_TAG_BODY = rb"""(?:\s(?:[^>"']|"[^"]*"|'[^']*')*)?/?>"""
# one item of a document's opening: white space, a comment, the doctype, <html>, <head>
_OPENING = re.compile(
    rb"\s*(?:(<!--.*?-->)|<!doctype" + _TAG_BODY + rb"|<(?:html|head)" + _TAG_BODY + rb")",
    re.IGNORECASE | re.DOTALL,
)
# what may stay ahead of the script in <head>: comments, and a charset declaration
_CHARSET = re.compile(
    rb"(?:\s*<!--.*?-->)*\s*<meta\s(?:[^>\"']|\"[^\"]*\"|'[^']*')*?"
    rb"(?:charset|http-equiv\s*=\s*[\"']?content-type[\"']?)(?:[^>\"']|\"[^\"]*\"|'[^']*')*>",
    re.IGNORECASE | re.DOTALL,
)
_BOM = b"\xef\xbb\xbf"
_OPENING_LIMIT = 64 * 1024  # bytes read for the opening: it starts a document


def inject(
    document: bytes,
    snippet: bytes,
    encoding: str = "utf-8",
    head: bytes = b"",
    orphan: bytes = b"",
) -> bytes | None:
    """``document`` with ``snippet`` (UTF-8) before its last ``</body>`` and ``head``
    (ASCII) at the start of its ``<head>`` (``head_position``); a document without
    ``</body>`` (a fragment) gets ``orphan`` (ASCII) at its end instead of the snippet.
    None if there is nothing to add. A document in another ASCII-compatible
    ``encoding`` gets the snippet in that encoding, characters it lacks as character
    references."""
    index = document.rfind(b"</body>")
    if index < 0:
        index = document.rfind(b"</BODY>")
    if index < 0 and not head and not orphan:
        return None
    view = memoryview(document)  # one copy of a large page, not three
    parts: list[bytes | memoryview] = []
    start = 0
    if head:
        at = head_position(document[: min(len(document), _OPENING_LIMIT)])
        parts += [view[:at], head]
        start = at
    if index >= 0:
        if encoding != "utf-8":
            snippet = snippet.decode("utf-8").encode(encoding, "xmlcharrefreplace")
        parts += [view[start:index], snippet]
        start = index
    parts.append(view[start:])
    if index < 0 and orphan:
        parts.append(orphan)
    return b"".join(parts)


def head_position(opening: bytes) -> int:
    """Where the first script of a document goes: after its ``<head>`` tag (and a
    charset declaration right after it), else after its ``<html>`` tag or doctype, else
    at its start (after a byte-order mark) — never inside a comment."""
    position = at = len(_BOM) if opening.startswith(_BOM) else 0
    while (match := _OPENING.match(opening, position)) is not None and match.end() > position:
        position = match.end()
        if match.group(1) is None:  # not a comment: the script may go after it
            at = position
    charset = _CHARSET.match(opening, at)
    return charset.end() if charset is not None else at
