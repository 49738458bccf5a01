"""Row-level comparison of two versions of a table in bounded memory.

Each row becomes (key, digest, preview). Rows are spilled into a temporary SQLite database and
compared with indexed joins (without a key: a GROUP BY over digests, i.e. rows as multisets), so
time is O(n log n) and memory is SQLite's page cache whatever the size of the files.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import blake3

PREVIEW_CHARS = 160
EXAMPLES = 5
BATCH = 5000


@dataclass(frozen=True)
class Row:
    key: str | None  # the key's values joined, or None when rows are compared as a multiset
    text: str  # the row's canonical text: what is hashed


@dataclass
class RowDiff:
    """What changed between side a (old) and side b (new) of one table."""

    table: str
    key: list[str] | None
    rows_a: int = 0
    rows_b: int = 0
    added: int = 0
    removed: int = 0
    changed: int = 0  # with a key only: same key, other content
    duplicate_keys: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        return not (self.added or self.removed or self.changed or self.columns_added or self.columns_removed)


class RowSpill:
    """A temporary SQLite database that holds the rows of both sides."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="branchml-rowdiff-")
        self.db = sqlite3.connect(Path(self._dir.name) / "rows.db")
        self.db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA temp_store=FILE; PRAGMA cache_size=-32768;"
            "CREATE TABLE side0(k TEXT, d BLOB, t TEXT); CREATE TABLE side1(k TEXT, d BLOB, t TEXT);"
        )

    def close(self) -> None:
        self.db.close()
        self._dir.cleanup()

    def add(self, side: int, rows: Iterable[Row]) -> int:
        count, batch = 0, []
        sql = f"INSERT INTO side{side} VALUES (?, ?, ?)"
        for row in rows:
            text = row.text.encode("utf-8", "surrogateescape")
            batch.append((row.key, blake3.blake3(text).digest(length=16), row.text[:PREVIEW_CHARS]))
            if len(batch) >= BATCH:
                self.db.executemany(sql, batch)
                count += len(batch)
                batch.clear()
        self.db.executemany(sql, batch)
        return count + len(batch)

    def compare(self, diff: RowDiff) -> RowDiff:
        if diff.key:
            return self._by_key(diff)
        return self._as_multisets(diff)

    def _as_multisets(self, diff: RowDiff) -> RowDiff:
        self.db.executescript(
            "CREATE TABLE counts AS SELECT d, SUM(s = 0) AS a, SUM(s = 1) AS b, MIN(t) AS t FROM"
            " (SELECT d, 0 AS s, t FROM side0 UNION ALL SELECT d, 1, t FROM side1) GROUP BY d;"
        )
        removed, added = self.db.execute("SELECT TOTAL(MAX(a - b, 0)), TOTAL(MAX(b - a, 0)) FROM counts").fetchone()
        diff.removed, diff.added = int(removed), int(added)
        diff.examples = {
            "removed": self._texts("SELECT t FROM counts WHERE a > b"),
            "added": self._texts("SELECT t FROM counts WHERE b > a"),
        }
        return diff

    def _by_key(self, diff: RowDiff) -> RowDiff:
        self.db.executescript("CREATE INDEX k0 ON side0(k); CREATE INDEX k1 ON side1(k);")
        one = self.db.execute
        diff.removed = one("SELECT COUNT(*) FROM side0 WHERE NOT EXISTS (SELECT 1 FROM side1 WHERE side1.k = side0.k)").fetchone()[0]
        diff.added = one("SELECT COUNT(*) FROM side1 WHERE NOT EXISTS (SELECT 1 FROM side0 WHERE side0.k = side1.k)").fetchone()[0]
        changed = "FROM side0 JOIN side1 ON side0.k = side1.k WHERE side0.d != side1.d"
        diff.changed = one(f"SELECT COUNT(DISTINCT side0.k) {changed}").fetchone()[0]
        dupes = "SELECT COUNT(*) FROM (SELECT k FROM side{0} GROUP BY k HAVING COUNT(*) > 1)"
        diff.duplicate_keys = one(dupes.format(0)).fetchone()[0] + one(dupes.format(1)).fetchone()[0]
        diff.examples = {
            "removed": self._texts("SELECT k FROM side0 WHERE NOT EXISTS (SELECT 1 FROM side1 WHERE side1.k = side0.k)"),
            "added": self._texts("SELECT k FROM side1 WHERE NOT EXISTS (SELECT 1 FROM side0 WHERE side0.k = side1.k)"),
            "changed": self._texts(f"SELECT DISTINCT side0.k {changed}"),
        }
        return diff

    def _texts(self, sql: str) -> list[str]:
        return [str(row[0]) for row in self.db.execute(f"{sql} LIMIT {EXAMPLES}")]
