"""The SQLite index: where each chunk and file record sits. A cache of the packs, rebuildable.

WAL mode lets a checkout read while a `git add` in another worktree writes; every change is one
transaction, committed only after the pack bytes it points to are fsynced.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from branchml.errors import NoSpace, StoreFormatError, is_disk_full

SCHEMA_VERSION = 1
ID_PART = 500  # ids per `IN (...)` query (SQLite allows 999 parameters in older builds)
# (size, mtime_ns, ctime_ns, inode, device) of a work tree file: git/statcache.py's FileStat.key()
StatKey = tuple[int, int, int, int, int]
SCHEMA = """
CREATE TABLE IF NOT EXISTS packs(
    id INTEGER PRIMARY KEY,
    name TEXT UNIQUE NOT NULL,
    indexed_end INTEGER NOT NULL,   -- end of the last valid record the index holds
    scanned_size INTEGER NOT NULL   -- file size when last indexed or scanned
);
CREATE TABLE IF NOT EXISTS chunks(
    id BLOB PRIMARY KEY,
    pack INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    stored_len INTEGER NOT NULL,
    raw_len INTEGER NOT NULL,
    flags INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS files(
    oid BLOB PRIMARY KEY,
    size INTEGER NOT NULL,
    chunks BLOB NOT NULL,            -- concatenated 32-byte chunk ids, in file order
    pack INTEGER NOT NULL
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class ChunkLocation:
    pack: str
    offset: int
    stored_len: int
    raw_len: int
    flags: int


@dataclass
class PendingBatch:
    """Rows written to a pack but not yet committed to the index."""

    chunks: list[tuple[bytes, int, int, int, int]]  # id, offset, stored_len, raw_len, flags
    files: list[tuple[bytes, int, bytes]]  # oid, size, chunk ids
    # files the writer found already stored and reused: gc must keep them (see docs/store-format.md)
    reused: list[bytes] = field(default_factory=list)
    # (oid, listing digest) of file records the writer made from the bytes themselves (store/verified.py)
    verified: list[tuple[bytes, bytes]] = field(default_factory=list)

    @classmethod
    def empty(cls) -> PendingBatch:
        return cls([], [])

    def __bool__(self) -> bool:
        return bool(self.chunks or self.files or self.reused)


class Index:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.db = sqlite3.connect(path, timeout=120, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                self.db.executescript(SCHEMA)
                self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            elif version != SCHEMA_VERSION:
                raise StoreFormatError(f"{path}: index schema {version}, this branchml reads {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            if is_disk_full(exc):
                raise NoSpace(path) from exc
            raise StoreFormatError(
                f"{path}: the store index cannot be read ({exc})",
                hint="run `branchml fsck --rebuild-index` to rebuild it from the packs",
            ) from exc
        # Hints only (path -> oid it last had): lets a re-add check chunks instead of re-cutting.
        self.db.execute("CREATE TABLE IF NOT EXISTS path_hints(path TEXT PRIMARY KEY, oid BLOB NOT NULL)")
        # The clean filter's stat cache (git/statcache.py): absolute path -> the stat of the version
        # whose pointer it recorded. Hints only, bounded; rowid orders them oldest first.
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS clean_stats(path TEXT PRIMARY KEY, size INTEGER NOT NULL,"
            " mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL, inode INTEGER NOT NULL,"
            " device INTEGER NOT NULL, oid BLOB NOT NULL)"
        )
        # Files writers reused (dedup) since the last gc; a gc keeps those reused after its mark.
        self.db.execute("CREATE TABLE IF NOT EXISTS reused(seq INTEGER PRIMARY KEY AUTOINCREMENT, oid BLOB NOT NULL)")
        # File records once checked to rebuild their oid (store/verified.py): oid -> listing digest.
        # A local cache, never filled from a remote: a missing or wrong entry costs one whole-file pass.
        self.db.execute("CREATE TABLE IF NOT EXISTS verified(oid BLOB PRIMARY KEY, listing BLOB NOT NULL) WITHOUT ROWID")
        # Records that failed verification, set aside: readers, fetch and writers treat them as absent.
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS quarantine(kind TEXT NOT NULL, id BLOB NOT NULL, pack TEXT NOT NULL,"
            " offset INTEGER NOT NULL, detail TEXT NOT NULL, PRIMARY KEY(kind, id, pack, offset))"
        )

    def close(self) -> None:
        self.db.close()

    # Pack names are read with the rows that point to them (a JOIN), never from a cache of ids: after
    # another process's gc deleted a pack, SQLite may give its id to the next pack written (it reuses
    # the largest rowid), so an id remembered by a long-lived reader (serve, gateway, ui) could name the
    # wrong pack. One statement reads one consistent snapshot, so the name always matches the row.

    def pack_id(self, name: str) -> int:
        """The pack's id, created if new. Asked inside the write transaction that uses it, never cached."""
        self.db.execute("INSERT OR IGNORE INTO packs(name, indexed_end, scanned_size) VALUES (?, 0, 0)", (name,))
        (pid,) = self.db.execute("SELECT id FROM packs WHERE name=?", (name,)).fetchone()
        return int(pid)

    def pack_states(self) -> dict[str, tuple[int, int]]:
        """name -> (indexed_end, scanned_size)"""
        rows = self.db.execute("SELECT name, indexed_end, scanned_size FROM packs")
        return {name: (end, size) for name, end, size in rows}

    def commit(self, pack: str, batch: PendingBatch, indexed_end: int, scanned_size: int) -> None:
        """Record a batch and a pack's new end, atomically."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            pid = self.pack_id(pack)
            self._insert(pid, batch)
            self.db.execute(
                "UPDATE packs SET indexed_end=max(indexed_end, ?), scanned_size=? WHERE id=?",
                (indexed_end, scanned_size, pid),
            )
            self.db.execute("COMMIT")
        except BaseException as exc:
            if self.db.in_transaction:  # SQLite already rolled back on SQLITE_FULL
                self.db.execute("ROLLBACK")
            if is_disk_full(exc):
                raise NoSpace(self.path) from exc
            raise

    def _insert(self, pid: int, batch: PendingBatch) -> None:
        self.db.executemany(
            "INSERT OR IGNORE INTO chunks VALUES (?, ?, ?, ?, ?, ?)",
            ((cid, pid, off, slen, rlen, fl) for cid, off, slen, rlen, fl in batch.chunks),
        )
        self.db.executemany(
            "INSERT OR IGNORE INTO files VALUES (?, ?, ?, ?)",
            ((oid, size, ids, pid) for oid, size, ids in batch.files),
        )
        self.db.executemany("INSERT INTO reused(oid) VALUES (?)", ((oid,) for oid in batch.reused))
        self.db.executemany("INSERT OR REPLACE INTO verified VALUES (?, ?)", batch.verified)

    # -- gc's view of concurrent writers ------------------------------------------------------
    def record_reused(self, oids: list[bytes]) -> None:
        if oids:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("INSERT INTO reused(oid) VALUES (?)", ((oid,) for oid in oids))
            self.db.execute("COMMIT")

    def last_reused_seq(self) -> int:
        return int(self.db.execute("SELECT coalesce(max(seq), 0) FROM reused").fetchone()[0])

    def reused_since(self, seq: int) -> set[bytes]:
        return {row[0] for row in self.db.execute("SELECT oid FROM reused WHERE seq > ?", (seq,))}

    def forget_reused(self, up_to: int) -> None:
        self.db.execute("DELETE FROM reused WHERE seq <= ?", (up_to,))

    # -- quarantine ---------------------------------------------------------------------------
    def quarantine_chunk(self, chunk_id: bytes, loc: ChunkLocation, detail: str) -> None:
        """Set a chunk's row aside: has_chunk() says no, so fetch and re-add store a good copy."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            pid = self.pack_id(loc.pack)
            self.db.execute("DELETE FROM chunks WHERE id=? AND pack=? AND offset=?", (chunk_id, pid, loc.offset))
            self.db.execute(
                "INSERT OR REPLACE INTO quarantine VALUES ('chunk', ?, ?, ?, ?)", (chunk_id, loc.pack, loc.offset, detail)
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def quarantine_file(self, oid: bytes, pack: str, detail: str) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("DELETE FROM files WHERE oid=?", (oid,))
            self.db.execute("INSERT OR REPLACE INTO quarantine VALUES ('file', ?, ?, -1, ?)", (oid, pack, detail))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def quarantined(self) -> list[tuple[str, bytes, str, int, str]]:
        """(kind, id, pack, offset, detail) of every record set aside."""
        return list(self.db.execute("SELECT kind, id, pack, offset, detail FROM quarantine"))

    def forget_quarantine(self, pack: str) -> None:
        self.db.execute("DELETE FROM quarantine WHERE pack=?", (pack,))

    # -- records checked once (store/verified.py) -----------------------------------------------
    def verified_listing(self, oid: bytes) -> bytes | None:
        row = self.db.execute("SELECT listing FROM verified WHERE oid=?", (oid,)).fetchone()
        return bytes(row[0]) if row else None

    def remember_verified(self, oid: bytes, listing: bytes) -> None:
        """One statement, its own transaction: a hint, lost harmlessly if a crash comes first. Never
        fails the write that checked it: a read-only store, a full disk or a busy index keep no row."""
        try:
            self.db.execute("INSERT OR REPLACE INTO verified VALUES (?, ?)", (oid, listing))
        except sqlite3.Error:
            pass

    def forget_unlisted_verified(self) -> None:
        """gc: drop the rows of file records it deleted (a row alone is harmless, but the table would grow)."""
        self.db.execute("DELETE FROM verified WHERE oid NOT IN (SELECT oid FROM files)")

    def path_hint(self, path: str) -> bytes | None:
        row = self.db.execute("SELECT oid FROM path_hints WHERE path=?", (path,)).fetchone()
        return row[0] if row else None

    def remember_paths(self, hints: dict[str, bytes]) -> None:
        if hints:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("INSERT OR REPLACE INTO path_hints VALUES (?, ?)", hints.items())
            self.db.execute("COMMIT")

    def clean_stat(self, path: str) -> tuple[StatKey, bytes] | None:
        """(size, mtime_ns, ctime_ns, inode, device) and the oid recorded for `path`, if any."""
        row = self.db.execute("SELECT size, mtime_ns, ctime_ns, inode, device, oid FROM clean_stats WHERE path=?",
                              (path,)).fetchone()
        return ((row[0], row[1], row[2], row[3], row[4]), row[5]) if row else None

    def remember_clean_stats(self, rows: dict[str, tuple[StatKey, bytes]], keep: int) -> None:
        """Record stats (replacing a path's older one), then drop all but the `keep` newest paths."""
        if rows:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("INSERT OR REPLACE INTO clean_stats VALUES (?, ?, ?, ?, ?, ?, ?)",
                                [(path, *stat, oid) for path, (stat, oid) in rows.items()])
            self.db.execute("DELETE FROM clean_stats WHERE rowid < "
                            "(SELECT rowid FROM clean_stats ORDER BY rowid DESC LIMIT 1 OFFSET ?)", (keep - 1,))
            self.db.execute("COMMIT")

    def _in_parts(self, select: str, ids: list[bytes]) -> Iterator[Any]:
        """The rows of `select` (which ends in `IN`) for `ids`, one query per ID_PART ids: SQLite
        caps a statement's parameters, and one query per id would cost a round trip each."""
        for start in range(0, len(ids), ID_PART):
            part = ids[start : start + ID_PART]
            yield from self.db.execute(f"{select} ({','.join('?' * len(part))})", part)

    def raw_lengths(self, ids: list[bytes]) -> dict[bytes, int]:
        """Chunk id -> raw length, for the ids the index holds (no pack join: the add reads it for
        every chunk of a file's previous version)."""
        return dict(self._in_parts("SELECT id, raw_len FROM chunks WHERE id IN", ids))

    def has_chunk(self, chunk_id: bytes) -> bool:
        return self.db.execute("SELECT 1 FROM chunks WHERE id=?", (chunk_id,)).fetchone() is not None

    def known_chunks(self, ids: list[bytes]) -> set[bytes]:
        """Which of `ids` the index holds."""
        return {cid for (cid,) in self._in_parts("SELECT id FROM chunks WHERE id IN", ids)}

    def count_known(self, ids: list[bytes]) -> int:
        """How many of `ids` (distinct) the index holds: SQLite counts, Python builds nothing."""
        return sum(count for (count,) in self._in_parts("SELECT count(*) FROM chunks WHERE id IN", ids))

    def chunk_locations(self, ids: list[bytes]) -> dict[bytes, ChunkLocation]:
        rows = self._in_parts("SELECT c.id, p.name, c.offset, c.stored_len, c.raw_len, c.flags"
                              " FROM chunks c JOIN packs p ON p.id = c.pack WHERE c.id IN", ids)
        return {cid: ChunkLocation(pack, off, slen, rlen, fl) for cid, pack, off, slen, rlen, fl in rows}

    def file(self, oid: bytes) -> tuple[int, bytes] | None:
        row = self.db.execute("SELECT size, chunks FROM files WHERE oid=?", (oid,)).fetchone()
        return (row[0], row[1]) if row else None

    def iter_files(self) -> Iterator[tuple[bytes, int, bytes]]:
        yield from self.db.execute("SELECT oid, size, chunks FROM files")

    def iter_chunks(self) -> Iterator[tuple[bytes, ChunkLocation]]:
        rows = self.db.execute(
            "SELECT c.id, p.name, c.offset, c.stored_len, c.raw_len, c.flags FROM chunks c JOIN packs p ON p.id = c.pack"
        ).fetchall()
        for cid, pack, off, slen, rlen, fl in rows:
            yield cid, ChunkLocation(pack, off, slen, rlen, fl)

    def totals(self) -> dict[str, int]:
        chunks, raw, stored = self.db.execute(
            "SELECT count(*), coalesce(sum(raw_len),0), coalesce(sum(stored_len),0) FROM chunks"
        ).fetchone()
        files, logical = self.db.execute("SELECT count(*), coalesce(sum(size),0) FROM files").fetchone()
        return {"chunks": chunks, "chunk_bytes": raw, "stored_bytes": stored, "files": files, "file_bytes": logical}

    def iter_files_with_pack(self) -> Iterator[tuple[bytes, int, bytes, str]]:
        rows = self.db.execute("SELECT f.oid, f.size, f.chunks, p.name FROM files f JOIN packs p ON p.id = f.pack")
        yield from rows.fetchall()

    def replace_pack(self, old: str, new: str | None, batch: PendingBatch, new_end: int) -> None:
        """gc: drop every row of pack `old` and add `batch` (its live records, copied to `new`) at once."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            old_id = self.pack_id(old)
            self.db.execute("DELETE FROM chunks WHERE pack=?", (old_id,))
            self.db.execute("DELETE FROM files WHERE pack=?", (old_id,))
            self.db.execute("DELETE FROM packs WHERE id=?", (old_id,))
            if new is not None:
                pid = self.pack_id(new)
                self._insert(pid, batch)
                self.db.execute("UPDATE packs SET indexed_end=?, scanned_size=? WHERE id=?", (new_end, new_end, pid))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def forget_packs(self, names: Iterable[str]) -> None:
        """Drop every row of the given packs (gc, after it rewrote what they held)."""
        self.db.execute("BEGIN IMMEDIATE")
        for name in names:
            pid = self.pack_id(name)
            self.db.execute("DELETE FROM chunks WHERE pack=?", (pid,))
            self.db.execute("DELETE FROM files WHERE pack=?", (pid,))
            self.db.execute("DELETE FROM packs WHERE id=?", (pid,))
        self.db.execute("COMMIT")
