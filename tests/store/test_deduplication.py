"""An owner killed mid-insert leaves a deduplication token without its rows; the next
owner drops such tokens before chDB opens, so a batch sent again is written
(``store/deduplication.py``).

The crash is reproduced exactly, not by luck of timing: a part is committed, then moved
back to the ``tmp_insert_<part>`` name it had before its rename — the state a process
killed between ClickHouse's log record and the rename leaves on disk (seen with SIGKILL
in about one kill in 60 during inserts). Every engine runs in a subprocess: chDB opens
one directory per process, and this one serves the session's store.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from consentlog.store.deduplication import LOGS, TMP_INSERT, repair_store, repair_table
from tests.helpers import ROOT, cli_env

TABLE = (
    "CREATE TABLE d.t (k UInt32) ENGINE = MergeTree ORDER BY k "
    "SETTINGS non_replicated_deduplication_window = 100"
)


def _engine(store: Path, *statements: str) -> list[str]:
    """Run ``statements`` in a chDB process of their own on ``store``; the answers."""
    script = (
        "import chdb, json, sys\n"
        "c = chdb.connect('file:' + sys.argv[1])\n"
        "print(json.dumps([c.query(q, 'TSV').data().strip() for q in sys.argv[2:]]))\n"
        "c.close()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(store), *statements],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    answers: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return answers


def _insert(token: str, rows: int) -> str:
    return (
        f"INSERT INTO d.t SETTINGS insert_deduplication_token = '{token}' "
        f"SELECT number FROM numbers({rows})"
    )


COUNT = "SELECT count() FROM d.t"


def _table_directory(store: Path) -> Path:
    (table,) = [p.parent for p in store.glob(f"store/*/*/{LOGS}")]
    return table


def _crash_after_logging(store: Path) -> Path:
    """Two batches written (5 rows, then 3); the second's part put back under its
    ``tmp_insert_`` name, as if the owner died before renaming it into place."""
    _engine(store, "CREATE DATABASE d", TABLE, _insert("batch-a", 5), _insert("batch-b", 3))
    table = _table_directory(store)
    parts = sorted(p.name for p in table.iterdir() if p.name.startswith("all_"))
    assert 2 == len(parts), parts
    (table / parts[1]).rename(table / f"{TMP_INSERT}{parts[1]}")
    return table


def _crash_of_a_later_owner(store: Path) -> Path:
    """The same crash in an engine that was not the store's first: its half-written
    part is named by its own insert counter (``tmp_insert_all_1_1_0``, the name of the
    first owner's committed part), not by the block the record names (``all_2_2_0``)."""
    _engine(store, "CREATE DATABASE d", TABLE, _insert("batch-a", 5))
    _engine(store, _insert("batch-b", 3))
    table = _table_directory(store)
    assert {"all_1_1_0", "all_2_2_0"} <= {p.name for p in table.iterdir()}
    (table / "all_2_2_0").rename(table / f"{TMP_INSERT}all_1_1_0")
    return table


def test_without_the_repair_a_batch_sent_again_is_dropped(tmp_path: Path) -> None:
    """The engine's own behaviour, the reason for the repair: the retried batch is
    taken for a duplicate of rows that were never committed."""
    store = tmp_path / "store"
    _crash_after_logging(store)
    assert ["5", "", "5"] == _engine(store, COUNT, _insert("batch-b", 3), COUNT)


def test_the_repair_lets_the_batch_be_written_once(tmp_path: Path) -> None:
    store = tmp_path / "store"
    table = _crash_after_logging(store)
    (repair,) = repair_store(store)
    assert (table, ("all_2_2_0",), 1) == (repair.table, repair.parts, repair.blocks)
    answers = _engine(
        store, COUNT, _insert("batch-b", 3), _insert("batch-b", 3), _insert("batch-a", 5), COUNT
    )
    assert ["5", "", "", "", "8"] == answers  # written once; batch-a still deduplicated
    assert [] == repair_store(store)  # nothing left to repair: the engine cleared the tmp part


def test_a_later_owners_crash_is_repaired_by_block_not_by_name(tmp_path: Path) -> None:
    """The half-written part's name does not say which record is its own: the record
    whose block no part holds is dropped, the committed one of the same name is kept."""
    store = tmp_path / "store"
    table = _crash_of_a_later_owner(store)
    (repair,) = repair_store(store)
    assert (table, ("all_2_2_0",), 1) == (repair.table, repair.parts, repair.blocks)
    answers = _engine(store, _insert("batch-b", 3), _insert("batch-a", 5), COUNT)
    assert ["", "", "8"] == answers  # batch-b written once, batch-a still deduplicated


def test_committed_and_merged_parts_keep_their_tokens(tmp_path: Path) -> None:
    """Only the crash's exact signature is repaired: a part merged away (or rewritten by
    a mutation, or dropped by TTL) has no ``tmp_insert_`` twin and keeps its token, so a
    replayed batch of a forgotten visitor is not written again."""
    store = tmp_path / "store"
    _engine(
        store, "CREATE DATABASE d", TABLE, _insert("a", 2), _insert("b", 2),
        "OPTIMIZE TABLE d.t FINAL",
        "ALTER TABLE d.t DELETE WHERE k = 0 SETTINGS mutations_sync = 1",
    )  # fmt: skip
    assert [] == repair_store(store)
    assert ["2", "", "", "2"] == _engine(store, COUNT, _insert("a", 2), _insert("b", 2), COUNT)
    # a half-written part beside them (a crash before its record was written): still
    # nothing to drop, every record's block is held by the merged part
    table = _table_directory(store)
    (table / f"{TMP_INSERT}all_9_9_0").mkdir()
    assert [] == repair_store(store)


def test_a_new_owner_repairs_before_it_opens_the_store(tmp_path: Path) -> None:
    """Through consentlog: the process that becomes the owner repairs (and says so in
    one line), and the guest's batch sent again lands."""
    store = tmp_path / "store"
    _crash_after_logging(store)
    script = (
        "import sys, pyarrow as pa\n"
        "from consentlog.store import open_store\n"
        "s = open_store('chdb:' + sys.argv[1])\n"
        "s.insert_arrow('d.t', pa.table({'k': pa.array([0, 1, 2], pa.uint32())}),"
        " dedup_token='batch-b')\n"
        "print(s.query('SELECT count() FROM d.t')[1][0][0])\n"
    )
    env = cli_env()
    env["PYTHONPATH"] = f"{ROOT}:{env['PYTHONPATH']}"
    done = subprocess.run(
        [sys.executable, "-c", script, str(store)],
        capture_output=True, text=True, env=env, timeout=120, check=True,
    )  # fmt: skip
    assert "8" == done.stdout.strip().splitlines()[-1]
    assert "deduplication_repaired" in done.stdout + done.stderr
    assert "all_2_2_0" in done.stdout + done.stderr


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet="12\t_ab\nall0789", max_size=40), max_size=6))
def test_any_log_content_is_read_without_failing(lines: list[str]) -> None:
    """Torn or foreign lines in a log are skipped, never raised on; with one half-written
    part, at most one block is dropped — one of partition ``all`` that no part holds —
    and the drop record is well-formed."""
    with tempfile.TemporaryDirectory() as directory:
        table = Path(directory)
        (table / LOGS).mkdir()
        (table / LOGS / "deduplication_log_1.txt").write_text("".join(lines), encoding="utf-8")
        (table / f"{TMP_INSERT}all_1_1_0").mkdir()
        (table / "all_5_5_0").mkdir()  # a committed part: block 5 is held
        repair = repair_table(table)
        if repair is not None:
            assert 1 == repair.blocks
            (part,) = repair.parts
            assert part.startswith("all_")
            assert not part.startswith("all_5_")
            written = (table / LOGS / "deduplication_log_2.txt").read_text(encoding="utf-8")
            (line,) = written.splitlines()
            assert line.startswith(f"2\t{part}\t")
