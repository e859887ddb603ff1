"""What the HTTP interface must know about a query before the engine runs it.

A ClickHouse server takes one statement per HTTP request and answers in the format the
statement names (``… FORMAT JSON``) or else in ``default_format``. chDB runs several
statements in one call and keeps the format to itself, so ``scan`` walks the query's
tokens the way ClickHouse's lexer does — quotes (also ‘…’ and “…”), heredocs
(``$x$…$x$``), comments (``--``, ``//``, ``# ``, nested ``/* */``) — far enough to tell:
the first keyword, the ``FORMAT`` named at the top level, whether a second statement
follows a ``;``, and whether the query names a file of the client's (``INTO OUTFILE``,
``FROM INFILE``), which a server refuses over HTTP and chDB would open in the serving
process. For an ``INSERT … FORMAT X`` the scan stops at ``X``: what follows is data, not
SQL.

A lexer that saw less than ClickHouse's would let a clause through unseen, so wherever
the two could differ the scan errs towards seeing more (a refused query, never a missed
clause). This is no SQL parser and decides no permission; the read-only user is
enforced by the engine's ``readonly`` setting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(rb"[A-Za-z0-9_$]+")
_HEREDOC = re.compile(rb"\$[A-Za-z0-9_]*\$")
_SPACE = frozenset(b" \t\r\n\f\v")
# Unicode quotation marks ClickHouse reads as quotes: no escapes, up to the closing mark.
_UNICODE_QUOTES = {"‘".encode(): "’".encode(), "“".encode(): "”".encode()}
_CLIENT_CLAUSES = {("INTO", "OUTFILE"): "INTO OUTFILE", ("FROM", "INFILE"): "FROM INFILE"}


@dataclass(frozen=True, slots=True)
class Scanned:
    """The facts about one query text."""

    keyword: str  # the first keyword, upper case ('' for an empty query)
    format_name: str | None  # the format a top-level FORMAT clause names (input, for an INSERT)
    data_offset: int | None  # where an INSERT's inline data starts (after FORMAT X)
    statements: int  # 1, or more when text follows a ';'
    format_offset: int | None = None  # where an INSERT's FORMAT keyword starts
    client_clause: str = ""  # 'INTO OUTFILE' or 'FROM INFILE' when the query has one
    calls_file: bool = False  # the query calls a function named file (quoted or not)


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


def _skip_nested_comment(text: bytes, i: int) -> int:
    """The index after the ``/* … */`` starting at ``i``; they nest, as in ClickHouse."""
    depth = 0
    end = len(text)
    while i + 1 < end:
        pair = text[i : i + 2]
        if pair == b"/*":
            depth += 1
            i += 2
        elif pair == b"*/":
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    return end


def _skip_comment(text: bytes, i: int) -> int | None:
    """The index after a comment starting at ``i``, or None when none starts there."""
    if text.startswith((b"--", b"//", b"#!", b"# "), i):
        newline = text.find(b"\n", i)
        return len(text) if newline < 0 else newline + 1
    if text.startswith(b"/*", i):
        return _skip_nested_comment(text, i)
    return None


def _skip_literal(text: bytes, i: int) -> int | None:
    """The index after a quoted string or identifier or a heredoc starting at ``i``, or
    None when none starts there."""
    c = text[i]
    if c in (0x27, 0x22, 0x60):  # ' " `
        return _skip_quoted(text, i, c)
    if c == 0x24:  # $
        heredoc = _HEREDOC.match(text, i)
        if heredoc is not None:
            close = text.find(heredoc.group(), heredoc.end())
            if close >= 0:
                return close + len(heredoc.group())
        return None
    for opening, closing in _UNICODE_QUOTES.items():
        if text.startswith(opening, i):
            close = text.find(closing, i + len(opening))
            return len(text) if close < 0 else close + len(closing)
    return None


def scan(text: bytes) -> Scanned:
    """Tokenise ``text`` as far as the facts above need."""
    keyword = ""
    format_name: str | None = None
    data_offset: int | None = None
    format_offset: int | None = None
    client_clause = ""
    statements = 1
    expect_format_name = False
    confirm_format = False  # a SELECT's FORMAT name counts only before SETTINGS, ';' or the end
    after_semicolon = False
    previous_word = ""  # the word just before, when nothing but space and comments came between
    name_before = ""  # the name (word or quoted identifier) just before, lower case
    calls_file = False
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
        skipped = _skip_literal(text, i)
        if skipped is not None:
            quoted = text[i:skipped]
            # a quoted identifier can name a function too: `file`(…), "file"(…), “file”(…),
            # with escapes (`\x66ile`): a name with a backslash counts as file, to be sure
            inner = quoted.strip(b'`"\xe2\x80\x9c\x9d')
            name_before = "file" if b"\\" in inner else inner.lower().decode("utf-8", "replace")
            i = skipped
            expect_format_name = False
            previous_word = ""
            continue
        if c >= 0x80:  # a byte of a UTF-8 character: ClickHouse skips Unicode spaces
            i += 1
            continue
        if c == 0x3B and depth == 0:  # ;
            after_semicolon = True
            i += 1
            continue
        if c == 0x28 and name_before == "file":  # file( : chDB reads any file for it
            calls_file = True
        if c in (0x28, 0x5B, 0x7B):  # ( [ {
            depth += 1
        elif c in (0x29, 0x5D, 0x7D):
            depth = max(0, depth - 1)
        word = _WORD.match(text, i)
        if word is None:
            i += 1
            expect_format_name = False
            previous_word = ""
            name_before = ""
            continue
        name_before = word.group().decode("ascii").lower()
        start, i = i, word.end()
        value = word.group().decode("ascii").upper()
        clause = _CLIENT_CLAUSES.get((previous_word, value))
        if clause and not client_clause:
            client_clause = clause
        previous_word = value
        if not keyword:
            keyword = value
        if expect_format_name:
            format_name = word.group().decode("ascii")
            expect_format_name = False
            if keyword == "INSERT":
                data_offset = i
                break
            confirm_format = True
            continue
        if depth == 0 and value == "FORMAT":
            expect_format_name = True
            format_offset = start
    if data_offset is None:
        format_offset = None
    return Scanned(
        keyword, format_name, data_offset, statements, format_offset, client_clause, calls_file
    )
