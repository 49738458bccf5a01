"""`branchml-sqlite`: a row-level three-way merge of SQLite databases.

The result starts as a copy of ours; theirs' row changes since the base are applied to it, table by
table, matched by primary key. Both incoming files are untrusted: they are attached read-only and
immutable, with `trusted_schema` off; no trigger or view of any file runs; no SQL text from any file
is executed (only our own statements, with identifiers quoted and values bound). Schemas must be
equal on both sides (else the merge conflicts), so no DDL from theirs is ever needed.
docs/merge.md has the rules (tables without a primary key, foreign keys, conflicts).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from branchml.merge.records import Unmergeable, merge_counts

CONFLICTS_TABLE = "branchml_merge_conflicts"
MAX_REPORTED = 20
SIDE_NAMES = {"main": "ours", "base": "base", "theirs": "theirs"}
# Python 3.12+ can switch triggers off for the connection; before that, tables with triggers conflict.
TRIGGERS_CAN_BE_DISABLED = hasattr(sqlite3.Connection, "setconfig")

Row = tuple[Any, ...]  # a row's values, in column order
Schema = dict[tuple[str, str], tuple[str, str]]  # (kind, name) -> (owning table, SQL)


@dataclass(frozen=True)
class Table:
    name: str
    columns: list[str]  # stored columns (generated ones are left to SQLite)
    key: list[str]  # primary key columns; empty: the table merges as a multiset of rows
    in_base: bool
    has_triggers: bool


@dataclass(frozen=True)
class RowConflict:
    table: str
    key: dict[str, Any]
    ours: Row | None
    theirs: Row | None
    reason: str

    def describe(self) -> str:
        return f"table {self.table}, {_show(self.key)}: {self.reason}"


def merge_sqlite(base: Path, ours: Path, theirs: Path, result: Path) -> list[str]:
    """Write the merge into `result`; return one line per conflict (none when clean).

    Raises Unmergeable when the files cannot be merged row by row (not SQLite, corrupt, schemas differ).
    """
    shutil.copyfile(ours, result)
    conn = _open(result)
    try:
        _attach(conn, base, "base")
        _attach(conn, theirs, "theirs")
        tables = _tables(conn)
        before = _fk_violations(conn, tables)
        conn.execute("BEGIN")
        conflicts = [c for table in tables for c in _merge_table(conn, table)]
        conflicts += _new_fk_violations(conn, tables, before)
        if conflicts:
            _record(conn, conflicts, tables)
        conn.execute("COMMIT")
    finally:
        conn.close()
    lines = [c.describe() for c in conflicts[:MAX_REPORTED]]
    if len(conflicts) > MAX_REPORTED:
        lines.append(f"... and {len(conflicts) - MAX_REPORTED} more (all are listed in table {CONFLICTS_TABLE})")
    return lines


# -- opening untrusted files -----------------------------------------------------------------
def sqlite_uri(path: Path, read_only: bool) -> str:
    uri = "file:" + quote(str(path.absolute()))
    return uri + "?mode=ro&immutable=1" if read_only else uri


def _open(path: Path) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(sqlite_uri(path, False), uri=True, isolation_level=None)
        if sys.version_info >= (3, 12):  # TRIGGERS_CAN_BE_DISABLED, spelled so mypy knows setconfig
            conn.setconfig(sqlite3.SQLITE_DBCONFIG_DEFENSIVE, True)
            conn.setconfig(sqlite3.SQLITE_DBCONFIG_ENABLE_TRIGGER, False)
            conn.setconfig(sqlite3.SQLITE_DBCONFIG_ENABLE_VIEW, False)
        for pragma in ("trusted_schema = OFF", "cell_size_check = ON", "mmap_size = 0", "foreign_keys = OFF"):
            conn.execute(f"PRAGMA {pragma}")
        conn.set_authorizer(_deny_triggers_and_views)
        _check(conn, "main")
    except sqlite3.DatabaseError as exc:
        raise Unmergeable(f"ours is not a readable SQLite database ({exc})") from None
    return conn


def _deny_triggers_and_views(action: int, arg1: str | None, arg2: str | None, db: str | None, source: str | None) -> int:
    """Refuse any statement that would run code from a trigger or a view (`source` names it)."""
    return sqlite3.SQLITE_DENY if source is not None else sqlite3.SQLITE_OK


def _attach(conn: sqlite3.Connection, path: Path, alias: str) -> None:
    try:
        conn.execute(f"ATTACH DATABASE ? AS {alias}", (sqlite_uri(path, True),))
        _check(conn, alias)
    except sqlite3.DatabaseError as exc:
        raise Unmergeable(f"{alias} is not a readable SQLite database ({exc})") from None


def _check(conn: sqlite3.Connection, alias: str) -> None:
    problems = [row[0] for row in conn.execute(f"PRAGMA {alias}.quick_check")]
    if problems != ["ok"]:
        raise Unmergeable(f"{SIDE_NAMES[alias]} is a damaged SQLite database: {'; '.join(problems[:3])}")


# -- schemas -----------------------------------------------------------------------------------
def _schema(conn: sqlite3.Connection, alias: str) -> Schema:
    """(type, name) -> (table it belongs to, its SQL text): compared as data, never executed."""
    rows = conn.execute(
        f"SELECT type, name, tbl_name, sql FROM {alias}.sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
    )
    schema = {(kind, name): (table, sql or "") for kind, name, table, sql in rows}
    version = conn.execute(f"PRAGMA {alias}.user_version").fetchone()[0]
    schema[("user_version", "")] = ("", str(version))
    return schema


def _tables(conn: sqlite3.Connection) -> list[Table]:
    ours, theirs, base = (_schema(conn, alias) for alias in ("main", "theirs", "base"))
    ours.pop(("table", CONFLICTS_TABLE), None)
    theirs.pop(("table", CONFLICTS_TABLE), None)
    if ours != theirs:
        raise Unmergeable(
            "the database schemas differ (" + "; ".join(_schema_differences(ours, theirs)) + "): "
            "branchml merges rows, not schema changes; migrate both branches the same way first"
        )
    tables = []
    for (kind, name), (_, sql) in sorted(ours.items()):
        if kind != "table":
            continue
        if sql.upper().startswith("CREATE VIRTUAL"):
            raise Unmergeable(f"table {name} is a virtual table, which cannot be merged row by row")
        if ("table", name) in base and base[("table", name)][1] != sql:
            raise Unmergeable(f"table {name} changed its schema on both sides since the common ancestor")
        tables.append(_table(conn, name, ("table", name) in base, _has_triggers(ours, name)))
    return tables


def _has_triggers(schema: Schema, table: str) -> bool:
    return any(kind == "trigger" and owner == table for (kind, _name), (owner, _sql) in schema.items())


def _schema_differences(ours: Schema, theirs: Schema) -> list[str]:
    out = []
    for kind, name in sorted(ours.keys() | theirs.keys()):
        label = f"{kind} {name}" if kind != "user_version" else "PRAGMA user_version"
        if (kind, name) not in theirs:
            out.append(f"{label} only in ours")
        elif (kind, name) not in ours:
            out.append(f"{label} only in theirs")
        elif ours[(kind, name)] != theirs[(kind, name)]:
            out.append(f"{label} differs")
    return out


def _table(conn: sqlite3.Connection, name: str, in_base: bool, has_triggers: bool) -> Table:
    info = conn.execute("SELECT name, pk, hidden FROM pragma_table_xinfo(?, 'main')", (name,)).fetchall()
    columns = [col for col, _pk, hidden in info if hidden == 0]
    key = [col for col, pk, _hidden in sorted(info, key=lambda r: r[1]) if pk > 0]
    return Table(name, columns, key, in_base, has_triggers)


# -- rows ----------------------------------------------------------------------------------------
def q(identifier: str) -> str:
    """An identifier quoted for SQL: names from the files are data, never SQL text."""
    return '"' + identifier.replace('"', '""') + '"'


def _same(x: Row | None, y: Row | None) -> bool:
    """Exact equality: same types and values (1 and '1' differ, as do 'a' and 'A')."""
    if x is None or y is None:
        return x is y
    return len(x) == len(y) and all(type(a) is type(b) and a == b for a, b in zip(x, y))


def _merge_table(conn: sqlite3.Connection, table: Table) -> list[RowConflict]:
    if table.key:
        return _merge_keyed(conn, table)
    return _merge_multiset(conn, table)


def _merge_keyed(conn: sqlite3.Connection, table: Table) -> list[RowConflict]:
    """Theirs' changes since the base, each applied when ours left that row alone."""
    conflicts, actions = [], []
    key_at = [table.columns.index(k) for k in table.key]
    for o_row, t_row in _theirs_changes(conn, table):
        row = t_row if t_row is not None else o_row
        assert row is not None  # each change has a base row, a theirs row, or both
        key = tuple(row[i] for i in key_at)
        if any(v is None for v in key):
            raise Unmergeable(f"table {table.name} has a row whose primary key is NULL; fix it on that branch")
        a_row = _fetch(conn, "main", table, key)
        if _same(a_row, t_row):
            continue  # the same change on both sides
        if not _same(a_row, o_row):
            conflicts.append(RowConflict(table.name, dict(zip(table.key, key)), a_row, t_row, _why(o_row, a_row, t_row)))
            continue
        actions.append((key, a_row, t_row))
    _require_no_triggers(table, actions)
    order = {"delete": 0, "update": 1, "insert": 2}
    for key, a_row, t_row in sorted(actions, key=lambda act: order[_kind(act[1], act[2])]):
        conflicts += _apply(conn, table, key, a_row, t_row)
    return conflicts


def _theirs_changes(conn: sqlite3.Connection, table: Table) -> Iterator[tuple[Row | None, Row | None]]:
    """(base row, theirs row) for every row theirs inserted, changed (base row None if new) or deleted (theirs None)."""
    name = q(table.name)
    if not table.in_base:
        for t_row in conn.execute(f"SELECT {_columns(table, 't')} FROM theirs.{name} AS t"):
            yield None, t_row
        return
    same_key = " AND ".join(f"o.{q(k)} = t.{q(k)}" for k in table.key)
    same_values = " AND ".join(f"o.{q(c)} IS t.{q(c)} COLLATE BINARY" for c in table.columns)
    changed = f"SELECT {_columns(table, 't')} FROM theirs.{name} AS t WHERE NOT EXISTS (SELECT 1 FROM base.{name} AS o WHERE {same_key} AND {same_values})"
    for t_row in conn.execute(changed).fetchall():
        yield _fetch(conn, "base", table, tuple(t_row[table.columns.index(k)] for k in table.key)), t_row
    deleted = f"SELECT {_columns(table, 'o')} FROM base.{name} AS o WHERE NOT EXISTS (SELECT 1 FROM theirs.{name} AS t WHERE {same_key})"
    for o_row in conn.execute(deleted).fetchall():
        yield o_row, None


def _columns(table: Table, alias: str) -> str:
    return ", ".join(f"{alias}.{q(c)}" for c in table.columns)


def _fetch(conn: sqlite3.Connection, alias: str, table: Table, key: Row) -> Row | None:
    where = " AND ".join(f"{q(k)} = ?" for k in table.key)
    cols = ", ".join(q(c) for c in table.columns)
    row: Row | None = conn.execute(f"SELECT {cols} FROM {alias}.{q(table.name)} WHERE {where}", key).fetchone()
    return row


def _why(o_row: Row | None, a_row: Row | None, t_row: Row | None) -> str:
    if o_row is None:
        return "both sides inserted this key with different values"
    if a_row is None or t_row is None:
        return f"{'ours' if a_row is None else 'theirs'} deleted this row, the other side changed it"
    return "both sides changed this row differently"


def _kind(a_row: Row | None, t_row: Row | None) -> str:
    return "delete" if t_row is None else "insert" if a_row is None else "update"


def _require_no_triggers(table: Table, actions: list[Any]) -> None:
    if actions and table.has_triggers and not TRIGGERS_CAN_BE_DISABLED:
        raise Unmergeable(
            f"table {table.name} has triggers; branchml applies rows without running triggers, "
            "which needs Python 3.12 or later (sqlite3 setconfig)"
        )


def _apply(conn: sqlite3.Connection, table: Table, key: Row, a_row: Row | None, t_row: Row | None) -> list[RowConflict]:
    name = q(table.name)
    where = " AND ".join(f"{q(k)} = ?" for k in table.key)
    kind = _kind(a_row, t_row)
    if t_row is None:  # a delete
        sql, params = f"DELETE FROM main.{name} WHERE {where}", key
    elif kind == "update":
        sets = ", ".join(f"{q(c)} = ?" for c in table.columns)
        sql, params = f"UPDATE main.{name} SET {sets} WHERE {where}", (*t_row, *key)
    else:
        marks = ", ".join("?" for _ in table.columns)
        sql, params = f"INSERT INTO main.{name} ({', '.join(q(c) for c in table.columns)}) VALUES ({marks})", t_row
    try:
        conn.execute(sql, params)
    except sqlite3.IntegrityError as exc:
        return [RowConflict(table.name, dict(zip(table.key, key)), a_row, t_row, f"theirs' {kind} breaks a constraint ({exc})")]
    return []


def _merge_multiset(conn: sqlite3.Connection, table: Table) -> list[RowConflict]:
    """No primary key: rows are values; what either side added is kept, what either removed is removed."""
    def counts(alias: str) -> Counter[Row]:
        if alias == "base" and not table.in_base:
            return Counter()
        cols = ", ".join(q(c) for c in table.columns)
        return Counter(_ident(r) for r in conn.execute(f"SELECT {cols} FROM {alias}.{q(table.name)}"))

    base, ours, theirs = counts("base"), counts("main"), counts("theirs")
    wanted = merge_counts(base, ours, theirs)
    changes = [(ident, wanted[ident] - ours[ident]) for ident in wanted.keys() | ours.keys() if wanted[ident] != ours[ident]]
    _require_no_triggers(table, changes)
    name, cols = q(table.name), ", ".join(q(c) for c in table.columns)
    same = " AND ".join(f"{q(c)} IS ? COLLATE BINARY" for c in table.columns)
    for ident, delta in changes:
        values = tuple(v for _, v in ident)
        if delta < 0:
            conn.execute(f"DELETE FROM main.{name} WHERE rowid IN (SELECT rowid FROM main.{name} WHERE {same} LIMIT ?)", (*values, -delta))
        else:
            marks = ", ".join("?" for _ in values)
            conn.executemany(f"INSERT INTO main.{name} ({cols}) VALUES ({marks})", [values] * delta)
    return []


def _ident(row: Row) -> Row:
    return tuple((type(v).__name__, v) for v in row)


# -- foreign keys and the conflict report ---------------------------------------------------------
def _fk_violations(conn: sqlite3.Connection, tables: list[Table]) -> set[Row]:
    """(table, row identity, parent, fk id) of every row whose parent is missing."""
    by_name = {t.name: t for t in tables}
    out: set[Row] = set()
    expanded: set[tuple[str, int]] = set()
    for table, rowid, parent, fk in conn.execute("PRAGMA main.foreign_key_check").fetchall():
        if rowid is not None:
            out.add((table, ("rowid", rowid), parent, fk))
        elif (table, fk) not in expanded and table in by_name:  # WITHOUT ROWID: find the rows by key
            expanded.add((table, fk))
            out |= {(table, ("key", key), parent, fk) for key in _orphan_keys(conn, by_name[table], parent, fk)}
    return out


def _orphan_keys(conn: sqlite3.Connection, table: Table, parent: str, fk: int) -> list[Row]:
    refs = conn.execute('SELECT "from", "to" FROM pragma_foreign_key_list(?, \'main\') WHERE id = ? ORDER BY seq', (table.name, fk)).fetchall()
    froms, tos = [r[0] for r in refs], [r[1] for r in refs]
    if any(t is None for t in tos):  # REFERENCES parent: its primary key
        info = conn.execute("SELECT name, pk FROM pragma_table_info(?, 'main') WHERE pk > 0 ORDER BY pk", (parent,)).fetchall()
        tos = [name for name, _pk in info]
    present = " AND ".join(f"c.{q(f)} IS NOT NULL" for f in froms)
    match = " AND ".join(f"p.{q(t)} = c.{q(f)}" for f, t in zip(froms, tos))
    keys = ", ".join(f"c.{q(k)}" for k in table.key)
    return conn.execute(
        f"SELECT {keys} FROM main.{q(table.name)} AS c WHERE {present} "
        f"AND NOT EXISTS (SELECT 1 FROM main.{q(parent)} AS p WHERE {match})"
    ).fetchall()


def _new_fk_violations(conn: sqlite3.Connection, tables: list[Table], before: set[Row]) -> list[RowConflict]:
    """Rows the merge left pointing at a parent row that is not there (ours' own old ones excepted)."""
    by_name = {t.name: t for t in tables}
    out = []
    for table, (kind, ident), parent, _fk in sorted(_fk_violations(conn, tables) - before, key=repr):
        key = dict(zip(by_name[table].key, ident)) if kind == "key" else _key_of_rowid(conn, by_name.get(table), ident)
        out.append(RowConflict(table, key, None, None, f"refers to a row of {parent} that is not there after the merge"))
    return out


def _key_of_rowid(conn: sqlite3.Connection, table: Table | None, rowid: int) -> dict[str, Any]:
    if table is None or not table.key:
        return {"rowid": rowid}
    cols = ", ".join(q(k) for k in table.key)
    row = conn.execute(f"SELECT {cols} FROM main.{q(table.name)} WHERE rowid = ?", (rowid,)).fetchone()
    return dict(zip(table.key, row)) if row else {"rowid": rowid}


def _record(conn: sqlite3.Connection, conflicts: list[RowConflict], tables: list[Table]) -> None:
    """List the conflicts inside the result, where the user resolving them will look."""
    columns = {t.name: t.columns for t in tables}
    conn.execute(f"CREATE TABLE IF NOT EXISTS main.{CONFLICTS_TABLE} (tbl TEXT, row_key TEXT, ours TEXT, theirs TEXT, reason TEXT)")
    rows = [
        (c.table, _json(c.key), _json(_as_dict(columns.get(c.table, []), c.ours)),
         _json(_as_dict(columns.get(c.table, []), c.theirs)), c.reason)
        for c in conflicts
    ]
    conn.executemany(f"INSERT INTO main.{CONFLICTS_TABLE} VALUES (?, ?, ?, ?, ?)", rows)


def _as_dict(columns: list[str], row: Row | None) -> dict[str, Any] | None:
    return None if row is None else dict(zip(columns, row))


def _json(value: Any) -> str:
    return json.dumps(value, default=lambda b: {"hex": bytes(b).hex()}, ensure_ascii=False)


def _show(key: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in key.items())
