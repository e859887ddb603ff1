"""What the HTTP interface must know about a query before the engine runs it.

A ClickHouse server takes one statement per HTTP request and answers in the format the
statement names (``… FORMAT JSON``) or else in ``default_format``. chDB runs several
statements in one call and keeps the format to itself, so ``scan`` walks the query's
tokens — quotes, back-quotes, comments — far enough to tell: the first keyword, the
``FORMAT`` named at the top level, and whether a second statement follows a ``;``. For an
``INSERT … FORMAT X`` the scan stops at ``X``: what follows is data, not SQL.

This is no SQL parser and decides no permission; the read-only user is enforced by the
engine's ``readonly`` setting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")
_SPACE = frozenset(b" \t\r\n\f\v")


@dataclass(frozen=True, slots=True)
class Scanned:
    """The facts about one query text."""

    keyword: str  # the first keyword, upper case ('' for an empty query)
    format_name: str | None  # the format a top-level FORMAT clause names (input, for an INSERT)
    data_offset: int | None  # where an INSERT's inline data starts (after FORMAT X)
    statements: int  # 1, or more when text follows a ';'


def _skip_quoted(text: bytes, start: int, quote: int) -> int:
    """The index after the closing ``quote`` (backslash escapes, doubled quotes)."""
    i = start + 1
    end = len(text)
    while i < end:
        c = text[i]
        if c == 0x5C:  # backslash
            i += 2
            continue
        if c == quote:
            if i + 1 < end and text[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return end


def _skip_comment(text: bytes, i: int) -> int | None:
    """The index after a comment starting at ``i``, or None when none starts there."""
    if text.startswith(b"--", i) or text.startswith(b"#!", i) or text.startswith(b"# ", i):
        newline = text.find(b"\n", i)
        return len(text) if newline < 0 else newline + 1
    if text.startswith(b"/*", i):
        close = text.find(b"*/", i + 2)
        return len(text) if close < 0 else close + 2
    return None


def scan(text: bytes) -> Scanned:
    """Tokenise ``text`` as far as the facts above need."""
    keyword = ""
    format_name: str | None = None
    data_offset: int | None = None
    statements = 1
    expect_format_name = False
    confirm_format = False  # a SELECT's FORMAT name counts only before SETTINGS, ';' or the end
    after_semicolon = False
    depth = 0
    i, end = 0, len(text)
    while i < end:
        c = text[i]
        if c in _SPACE:
            i += 1
            continue
        skipped = _skip_comment(text, i)
        if skipped is not None:
            i = skipped
            continue
        if after_semicolon:  # anything but space and comments after ';' is a second statement
            statements += 1
            break
        if confirm_format:
            confirm_format = False
            if c != 0x3B and text[i : i + 8].upper() != b"SETTINGS":
                format_name = None
        if c in (0x27, 0x22, 0x60):  # ' " `
            i = _skip_quoted(text, i, c)
            expect_format_name = False
            continue
        if c == 0x3B and depth == 0:  # ;
            after_semicolon = True
            i += 1
            continue
        if c in (0x28, 0x5B, 0x7B):  # ( [ {
            depth += 1
        elif c in (0x29, 0x5D, 0x7D):
            depth = max(0, depth - 1)
        word = _WORD.match(text, i)
        if word is None:
            i += 1
            expect_format_name = False
            continue
        value = word.group().decode("ascii")
        i = word.end()
        if not keyword:
            keyword = value.upper()
        if expect_format_name:
            format_name = value
            expect_format_name = False
            if keyword == "INSERT":
                data_offset = i
                break
            confirm_format = True
            continue
        if depth == 0 and value.upper() == "FORMAT":
            expect_format_name = True
    return Scanned(keyword, format_name, data_offset, statements)
