"""The SQLite driver: row-level merges through primary keys, foreign keys, conflicts, untrusted files."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from branchml.merge.records import Unmergeable
from branchml.merge.sqlite import (
    CONFLICTS_TABLE,
    TRIGGERS_CAN_BE_DISABLED,
    merge_sqlite,
)
from branchml.store.pointer import looks_like_pointer
from conftest import bml, git, run

SCHEMA = """
CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT UNIQUE);
CREATE TABLE orders(id TEXT PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), total REAL);
CREATE TABLE items(order_id TEXT REFERENCES orders(id), sku TEXT, qty INTEGER, PRIMARY KEY(order_id, sku)) WITHOUT ROWID;
CREATE TABLE notes(text TEXT);
INSERT INTO customers VALUES (1, 'ann', 'ann@x'), (2, 'bob', 'bob@x');
INSERT INTO orders VALUES ('o1', 1, 10.0), ('o2', 2, 20.0);
INSERT INTO items VALUES ('o1', 'apple', 1), ('o2', 'pear', 2);
INSERT INTO notes VALUES ('base');
"""
OURS = """
INSERT INTO customers VALUES (3, 'cat', 'cat@x');
INSERT INTO orders VALUES ('o3', 3, 30.0);
INSERT INTO items VALUES ('o3', 'fig', 3);
UPDATE customers SET name = 'Ann' WHERE id = 1;
INSERT INTO notes VALUES ('ours');
"""
THEIRS = """
INSERT INTO customers VALUES (4, 'dan', 'dan@x');
INSERT INTO orders VALUES ('o4', 4, 40.0);
INSERT INTO items VALUES ('o4', 'kiwi', 4), ('o1', 'plum', 5);
UPDATE orders SET total = 11.5 WHERE id = 'o1';
DELETE FROM items WHERE order_id = 'o2';
DELETE FROM orders WHERE id = 'o2';
INSERT INTO notes VALUES ('theirs');
"""


def make_db(path: Path, script: str, base: Path | None = None) -> Path:
    if base is not None:
        shutil.copyfile(base, path)
    conn = sqlite3.connect(path)
    conn.executescript(script)
    conn.commit()
    conn.close()
    return path


def dump(path: Path, table: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
    finally:
        conn.close()


@pytest.fixture
def dbs(tmp_path):
    base = make_db(tmp_path / "base.db", SCHEMA)
    return base, tmp_path


def expect_clean_merge(result: Path) -> None:
    assert dump(result, "customers") == [(1, "Ann", "ann@x"), (2, "bob", "bob@x"), (3, "cat", "cat@x"), (4, "dan", "dan@x")]
    assert dump(result, "orders") == [("o1", 1, 11.5), ("o3", 3, 30.0), ("o4", 4, 40.0)]
    assert dump(result, "items") == [("o1", "apple", 1), ("o1", "plum", 5), ("o3", "fig", 3), ("o4", "kiwi", 4)]
    assert dump(result, "notes") == [("base",), ("ours",), ("theirs",)]
    conn = sqlite3.connect(result)
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_rows_inserted_updated_and_deleted_in_several_tables_merge(dbs):
    base, tmp = dbs
    ours = make_db(tmp / "ours.db", OURS, base)
    theirs = make_db(tmp / "theirs.db", THEIRS, base)
    assert merge_sqlite(base, ours, theirs, tmp / "result.db") == []
    expect_clean_merge(tmp / "result.db")


def test_merge_without_a_common_ancestor_takes_rows_of_both(dbs):
    base, tmp = dbs
    empty = tmp / "empty"
    empty.write_bytes(b"")
    ours = make_db(tmp / "ours.db", "INSERT INTO customers VALUES (3, 'cat', 'cat@x')", base)
    theirs = make_db(tmp / "theirs.db", "INSERT INTO customers VALUES (9, 'zed', 'zed@x')", base)
    assert merge_sqlite(empty, ours, theirs, tmp / "result.db") == []  # rows on both sides: the same, kept once
    assert (9, "zed", "zed@x") in dump(tmp / "result.db", "customers")
    assert len(dump(tmp / "result.db", "customers")) == 4


def test_rows_changed_differently_on_both_sides_conflict_and_are_listed(dbs):
    base, tmp = dbs
    ours = make_db(tmp / "ours.db", OURS, base)
    theirs = make_db(tmp / "theirs.db", THEIRS + "UPDATE customers SET name = 'ANNE' WHERE id = 1; INSERT INTO customers VALUES (3, 'carl', 'carl@x');", base)
    conflicts = merge_sqlite(base, ours, theirs, tmp / "result.db")
    assert conflicts == [
        "table customers, id=1: both sides changed this row differently",
        "table customers, id=3: both sides inserted this key with different values",
    ]
    result = tmp / "result.db"
    assert (1, "Ann", "ann@x") in dump(result, "customers")  # the conflicting row keeps ours
    assert ("o4", 4, 40.0) in dump(result, "orders")  # everything else merged
    listed = dump(result, CONFLICTS_TABLE)
    assert [(row[0], row[1]) for row in listed] == [("customers", '{"id": 1}'), ("customers", '{"id": 3}')]
    assert '"name": "ANNE"' in listed[0][3]


def test_a_child_row_whose_parent_the_other_side_deleted_conflicts(dbs):
    base, tmp = dbs
    ours = make_db(tmp / "ours.db", "DELETE FROM items WHERE order_id = 'o2'; DELETE FROM orders WHERE id = 'o2'; DELETE FROM customers WHERE id = 2;", base)
    theirs = make_db(tmp / "theirs.db", "INSERT INTO orders VALUES ('o9', 2, 1.0); INSERT INTO items VALUES ('o2', 'fig', 1);", base)
    conflicts = merge_sqlite(base, ours, theirs, tmp / "result.db")
    assert conflicts == [
        "table items, order_id='o2', sku='fig': refers to a row of orders that is not there after the merge",
        "table orders, id='o9': refers to a row of customers that is not there after the merge",
    ]


def test_a_unique_constraint_broken_by_the_merge_conflicts(dbs):
    base, tmp = dbs
    ours = make_db(tmp / "ours.db", "INSERT INTO customers VALUES (5, 'eve', 'same@x')", base)
    theirs = make_db(tmp / "theirs.db", "INSERT INTO customers VALUES (6, 'eva', 'same@x')", base)
    conflicts = merge_sqlite(base, ours, theirs, tmp / "result.db")
    assert len(conflicts) == 1 and "id=6" in conflicts[0] and "constraint" in conflicts[0]


def test_tables_without_primary_key_merge_as_multisets(dbs):
    base, tmp = dbs
    ours = make_db(tmp / "ours.db", "INSERT INTO notes VALUES ('x'), ('x'); DELETE FROM notes WHERE text = 'base';", base)
    theirs = make_db(tmp / "theirs.db", "INSERT INTO notes VALUES ('x'), ('y');", base)
    assert merge_sqlite(base, ours, theirs, tmp / "result.db") == []
    assert dump(tmp / "result.db", "notes") == [("x",), ("x",), ("y",)]


def test_different_schemas_are_unmergeable(dbs):
    base, tmp = dbs
    ours = make_db(tmp / "ours.db", "ALTER TABLE notes ADD COLUMN author TEXT;", base)
    theirs = make_db(tmp / "theirs.db", "CREATE TABLE extra(id INTEGER PRIMARY KEY);", base)
    with pytest.raises(Unmergeable, match="table extra only in theirs; table notes differs"):
        merge_sqlite(base, ours, theirs, tmp / "result.db")


def test_a_file_that_is_not_sqlite_is_unmergeable(dbs):
    base, tmp = dbs
    ours = make_db(tmp / "ours.db", OURS, base)
    theirs = tmp / "theirs.db"
    theirs.write_bytes(b"SQLite format 3\x00" + b"\xff" * 2000)
    with pytest.raises(Unmergeable, match="theirs"):
        merge_sqlite(base, ours, theirs, tmp / "result.db")


def test_triggers_from_the_files_never_run(dbs):
    base, tmp = dbs
    audit = "CREATE TABLE audit(msg TEXT); CREATE TRIGGER log_note AFTER INSERT ON notes BEGIN INSERT INTO audit VALUES ('note added'); END;"
    base = make_db(tmp / "base2.db", audit, base)
    ours = make_db(tmp / "ours.db", "INSERT INTO customers VALUES (3, 'cat', 'cat@x')", base)
    theirs = make_db(tmp / "theirs.db", "INSERT INTO notes VALUES ('theirs')", base)  # its trigger logged once
    if TRIGGERS_CAN_BE_DISABLED:
        assert merge_sqlite(base, ours, theirs, tmp / "result.db") == []
        assert dump(tmp / "result.db", "audit") == [("note added",)]  # theirs' row, not a second run
    else:
        with pytest.raises(Unmergeable, match="table notes has triggers"):
            merge_sqlite(base, ours, theirs, tmp / "result.db")
    # a table with a trigger that the merge does not touch is fine either way
    ours2 = make_db(tmp / "ours2.db", "INSERT INTO customers VALUES (7, 'gus', 'gus@x')", base)
    theirs2 = make_db(tmp / "theirs2.db", "INSERT INTO customers VALUES (8, 'hal', 'hal@x')", base)
    assert merge_sqlite(base, ours2, theirs2, tmp / "result2.db") == []
    assert dump(tmp / "result2.db", "audit") == []


def test_git_merge_of_a_tracked_database_on_two_branches(repo, tmp_path):
    """Two branches each insert and update rows in several tables; the database is a tracked (pointer) file."""
    bml(repo, "track", "*.sqlite")
    db = repo / "data" / "shop.sqlite"
    db.parent.mkdir()
    make_db(db, SCHEMA)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    assert looks_like_pointer(run(["git", "cat-file", "-p", "HEAD:data/shop.sqlite"], repo).stdout)
    git(repo, "branch", "data/more", "main")
    make_db(db, OURS)
    git(repo, "commit", "-q", "-am", "ours")
    git(repo, "switch", "-q", "data/more")
    make_db(db, THEIRS)
    git(repo, "commit", "-q", "-am", "theirs")
    git(repo, "switch", "-q", "main")
    git(repo, "merge", "-q", "--no-edit", "data/more")
    expect_clean_merge(db)
    assert git(repo, "status", "--porcelain") == ""

    # now a conflicting change: Git stops, the file holds the clean part and lists the conflict
    git(repo, "switch", "-q", "data/more")
    git(repo, "merge", "-q", "--no-edit", "main")
    make_db(db, "UPDATE customers SET name = 'more' WHERE id = 3; INSERT INTO notes VALUES ('late')")
    git(repo, "commit", "-q", "-am", "data/more renames cat")
    git(repo, "switch", "-q", "main")
    make_db(db, "UPDATE customers SET name = 'main' WHERE id = 3")
    git(repo, "commit", "-q", "-am", "main renames cat")
    proc = run(["git", "merge", "--no-edit", "data/more"], repo, check=False)
    assert proc.returncode == 1
    assert "table customers, id=3: both sides changed this row differently" in proc.stderr.decode()
    assert ("late",) in dump(db, "notes")
    assert dump(db, CONFLICTS_TABLE)[0][:2] == ("customers", '{"id": 3}')
    assert "UU data/shop.sqlite" in git(repo, "status", "--porcelain")

    # `git add` alone does not resolve it: the commit is refused while the conflicts table is there
    git(repo, "add", "data/shop.sqlite")
    refused = run(["git", "commit", "--no-edit"], repo, check=False)
    assert refused.returncode != 0 and "branchml_merge_conflicts" in refused.stderr.decode()
    make_db(db, f"UPDATE customers SET name = 'both' WHERE id = 3; DROP TABLE {CONFLICTS_TABLE};")
    git(repo, "add", "data/shop.sqlite")
    git(repo, "commit", "-q", "--no-edit")
    assert ("both",) in [row[1:2] for row in dump(db, "customers")]


def test_odd_identifiers_and_generated_columns_merge(tmp_path):
    base = make_db(tmp_path / "b.db", """
        CREATE TABLE "we""ird tbl"("my id" TEXT PRIMARY KEY, a INT, b INT GENERATED ALWAYS AS (a * 2) STORED);
        INSERT INTO "we""ird tbl"("my id", a) VALUES ('k1', 1);""")
    ours = make_db(tmp_path / "o.db", """INSERT INTO "we""ird tbl"("my id", a) VALUES ('o''); DROP TABLE x; --', 5);""", base)
    theirs = make_db(tmp_path / "t.db", """UPDATE "we""ird tbl" SET a = 7;""", base)
    assert merge_sqlite(base, ours, theirs, tmp_path / "r.db") == []
    assert dump(tmp_path / "r.db", '"we""ird tbl"') == [("o'); DROP TABLE x; --", 5, 10), ("k1", 7, 14)]


def test_no_trigger_or_view_of_a_file_runs_on_the_merge_connection(tmp_path):
    from branchml.merge.sqlite import _open

    db = make_db(tmp_path / "x.db", """
        CREATE TABLE t(x); CREATE TABLE audit(m);
        CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO audit VALUES ('ran'); END;
        CREATE VIEW v AS SELECT * FROM t;""")
    conn = _open(db)
    try:
        if not TRIGGERS_CAN_BE_DISABLED:
            with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
                conn.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(sqlite3.DatabaseError):
            conn.execute("SELECT * FROM v").fetchall()
        assert conn.execute("SELECT count(*) FROM audit").fetchone() == (0,)
    finally:
        conn.close()


edits = st.dictionaries(st.integers(0, 30), st.one_of(st.none(), st.integers(0, 3)), max_size=12)


@settings(max_examples=20, deadline=None)
@given(st.dictionaries(st.integers(0, 30), st.integers(0, 3), max_size=12), edits, edits)
def test_sqlite_merge_matches_a_key_by_key_three_way_merge(tmp_path_factory, base_rows, ours_edits, theirs_edits):
    """Each side sets (value) or deletes (None) keys; the result is the three-way merge of the key maps."""
    tmp = tmp_path_factory.mktemp("prop")
    script = "CREATE TABLE kv(k INTEGER PRIMARY KEY, v INTEGER);" + "".join(f"INSERT INTO kv VALUES ({k}, {v});" for k, v in base_rows.items())
    base = make_db(tmp / "b.db", script)

    def side(name: str, edits: dict) -> tuple[Path, dict]:
        rows = dict(base_rows)
        sql = []
        for k, v in edits.items():
            if v is None:
                rows.pop(k, None)
                sql.append(f"DELETE FROM kv WHERE k = {k};")
            else:
                rows[k] = v
                sql.append(f"INSERT OR REPLACE INTO kv VALUES ({k}, {v});")
        return make_db(tmp / name, "".join(sql), base), rows

    ours, a = side("o.db", ours_edits)
    theirs, t = side("t.db", theirs_edits)
    conflicts = merge_sqlite(base, ours, theirs, tmp / "r.db")
    expected, clashing = {}, set()
    for k in a.keys() | t.keys() | base_rows.keys():
        o_v, a_v, t_v = base_rows.get(k), a.get(k), t.get(k)
        if a_v == t_v or t_v == o_v:
            value = a_v
        elif a_v == o_v:
            value = t_v
        else:
            clashing.add(k)
            value = a_v  # a conflicting row keeps ours
        if value is not None:
            expected[k] = value
    assert dict(dump(tmp / "r.db", "kv")) == expected
    assert sorted(c.split("k=")[1].split(":")[0] for c in conflicts) == sorted(str(k) for k in clashing)
