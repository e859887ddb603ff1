"""``statements.scan``: the few facts the HTTP interface reads off a query before the
engine runs it, with ClickHouse's own lexer (the engine's) as the judge where they could
differ."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import chdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consentlog.store import Store
from consentlog.store.embedded import EmbeddedStore
from consentlog.store.serving.statements import scan


@pytest.mark.parametrize(
    ("query", "keyword"),
    [
        ("select 1", "SELECT"),
        ("  -- why\n/* a /* nested */ comment */ # note\nInsert INTO t VALUES (1)", "INSERT"),
        ("WITH x AS (SELECT 1) SELECT * FROM x", "WITH"),
        ("", ""),
        ("  /* only a comment */ ", ""),
    ],
)
def test_the_first_keyword_comes_after_space_and_comments(query: str, keyword: str) -> None:
    """The first keyword is read in upper case after any space and comments."""
    assert keyword == scan(query.encode()).keyword


@pytest.mark.parametrize(
    ("query", "format_name"),
    [
        ("SELECT 1 FORMAT JSON", "JSON"),
        ("SELECT 1 format JSONEachRow;", "JSONEachRow"),
        ("SELECT 1 FORMAT CSV SETTINGS max_threads = 1", "CSV"),
        ("SELECT * FROM (SELECT 1 FORMAT JSON)", None),
        ("SELECT 'FORMAT JSON'", None),
        ("SELECT 1 -- FORMAT JSON", None),
        ("SELECT format('{}', 'x')", None),
        ("SELECT 1 AS format", None),
        ("SELECT 1 FORMAT JSON WHERE 1", None),
    ],
)
def test_the_format_is_the_one_a_top_level_clause_names(
    query: str, format_name: str | None
) -> None:
    """Only a top-level ``FORMAT X`` at the end (or before SETTINGS or ';') names the
    answer's format; one in a subquery, a string, a comment or a function call does not."""
    assert format_name == scan(query.encode()).format_name


def test_an_insert_s_data_starts_after_its_format_name() -> None:
    """For an ``INSERT … FORMAT X`` the scan stops at X: the data after it is not SQL,
    however much it looks like SQL (quotes, ';', a second statement)."""
    query = b"INSERT INTO t (a, `b;`) FORMAT CSV\n'x;\n; DROP TABLE t; SELECT 'y"
    scanned = scan(query)
    assert ("INSERT", "CSV", 1) == (scanned.keyword, scanned.format_name, scanned.statements)
    assert scanned.format_offset is not None
    assert scanned.data_offset is not None
    assert b"FORMAT CSV" == query[scanned.format_offset : scanned.data_offset]


@pytest.mark.parametrize(
    ("query", "statements"),
    [
        ("SELECT 1; SELECT 2", 2),
        ("SELECT 1;", 1),
        ("SELECT 1; -- done\n", 1),
        ("SELECT ';'", 1),
        ("SELECT 1 /* ; */", 1),
        ("SELECT $$;$$", 1),
        ("INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)", 2),
    ],
)
def test_a_second_statement_is_text_after_a_semicolon(query: str, statements: int) -> None:
    """Anything but space and comments after a top-level ';' is a second statement."""
    assert statements == scan(query.encode()).statements


@pytest.mark.parametrize(
    "query",
    [
        "SELECT 1 INTO OUTFILE '/tmp/x'",
        "SELECT 1 into/**/outfile '/tmp/x'",
        "SELECT 1 INTO\u2003OUTFILE '/tmp/x'",  # a Unicode space between
        "SELECT 1 /* /* */ ' */ INTO OUTFILE '/tmp/x' -- '",  # comments nest
        "SELECT 1 // '\nINTO OUTFILE '/tmp/x' -- '",  # '//' starts a comment
        "SELECT $$ ' $$ INTO OUTFILE '/tmp/x' -- '",  # a heredoc
        "SELECT $q$ ' $q$ INTO OUTFILE '/tmp/x' -- '",
        "SELECT ‘'’ INTO OUTFILE '/tmp/x' -- '",  # Unicode quotes have no escapes
        "INSERT INTO t FROM INFILE '/etc/passwd' FORMAT CSV",
    ],
)
def test_a_clause_naming_a_client_file_is_seen_wherever_the_engine_sees_it(query: str) -> None:
    """``INTO OUTFILE`` / ``FROM INFILE`` are found behind every token the engine's lexer
    reads differently from a naive one."""
    assert "" != scan(query.encode()).client_clause


@pytest.mark.parametrize(
    "query",
    [
        "SELECT 'INTO OUTFILE'",
        "SELECT 1 -- INTO OUTFILE 'x'",
        "SELECT 1 AS into, 2 AS outfile",
        "SELECT `into` `outfile`",
    ],
)
def test_the_words_alone_are_no_clause(query: str) -> None:
    """The words in a string, a comment, apart, or quoted as identifiers are no clause."""
    assert "" == scan(query.encode()).client_clause


@settings(max_examples=500, deadline=None)
@given(text=st.binary(max_size=300))
def test_scan_never_raises_and_its_offsets_lie_in_the_text(text: bytes) -> None:
    """Any bytes at all scan without an error, to facts that fit the text."""
    scanned = scan(text)
    assert scanned.statements >= 1
    if scanned.data_offset is not None:
        assert scanned.format_offset is not None
        assert 0 <= scanned.format_offset < scanned.data_offset <= len(text)


# Characters that end or open a token in one lexer and not in a naive one.
TRICKY = [*list(" \n'\"`\\$;#/*-(),x1‘’“”\u2003"), "$$", "/*", "*/", "--", "//"]
_text = st.lists(st.sampled_from(TRICKY), max_size=8).map("".join)


def _block_comment(content: str, nested: str) -> str:
    return "/*" + content.replace("/*", "").replace("*/", "").rstrip("/*") + nested + "*/"


def _heredoc(tag: str, content: str) -> str:
    delimiter = f"${tag}$"
    return delimiter + content.replace("$", "") + delimiter


# Pieces ClickHouse reads as one comment or one literal, with tricky insides.
_comment = st.one_of(
    st.builds(lambda text: "-- " + text.replace("\n", "") + "\n", _text),
    st.builds(lambda text: "//" + text.replace("\n", "") + "\n", _text),
    st.builds(lambda text: "# " + text.replace("\n", "") + "\n", _text),
    st.builds(lambda outer, inner: _block_comment(outer, _block_comment(inner, "")), _text, _text),
    st.builds(lambda text: _block_comment(text, ""), _text),
)
_literal = st.one_of(
    st.builds(lambda text: "'" + text.replace("\\", "\\\\").replace("'", "''") + "'", _text),
    st.builds(lambda text: '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"', _text),
    st.builds(lambda text: "`" + text.replace("\\", "").replace("`", "``") + "`", _text),
    st.builds(_heredoc, st.sampled_from(["", "q", "a1"]), _text),
    st.builds(lambda text: "‘" + text.replace("’", "") + "’", _text),
    st.builds(lambda text: "“" + text.replace("”", "") + "”", _text),
)
_before = st.lists(st.one_of(_comment, _literal.map(lambda literal: ", " + literal)), max_size=4)
_after = st.lists(_comment, max_size=3)


def _tsv_escaped(value: str) -> str:
    """A query parameter's value as the engine reads it (TSV escapes)."""
    return (
        value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    )


@pytest.fixture(scope="module")
def engine_handle(store: Store) -> Iterator[Any]:
    """A chDB handle on the engine this process hosts (the session store's)."""
    assert isinstance(store, EmbeddedStore)
    assert store.path is not None
    store.query("SELECT 1")
    handle = chdb.connect(str(store.path))  # type: ignore[no-untyped-call]
    yield handle
    handle.close()


@settings(max_examples=400, deadline=None)
@given(before=_before.map("".join), after=_after.map("".join))
def test_every_outfile_the_engine_parses_is_seen_by_the_scan(
    engine_handle: Any, before: str, after: str
) -> None:
    """Whenever the engine's own parser reads an ``INTO OUTFILE`` clause, whatever
    comments and literals (with quotes, comment marks and heredocs inside) come before
    and after it, the scan reports it."""
    query = f"SELECT 1 {before} INTO OUTFILE '/nonexistent/f' {after}"
    try:
        formatted = engine_handle.query(
            "SELECT formatQuerySingleLine({q:String})",
            "TSVRaw",
            params={"q": _tsv_escaped(query)},
        ).bytes()
    except Exception:
        return  # not a query the engine parses: nothing to hide
    if b"INTO OUTFILE" in formatted:
        assert "INTO OUTFILE" == scan(query.encode()).client_clause, query
