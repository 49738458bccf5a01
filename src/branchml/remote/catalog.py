"""What a remote holds, cached locally in SQLite (`<store>/remotes.db`).

The remote's index objects are the truth; the cache saves downloading them again. A refresh lists
the remote's indexes once, reads only the new ones (verified against their names), and starts over
when one it knew has gone (after a remote gc).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from branchml.remote.objects import RemoteRecord, decode_index
from branchml.remote.storage import RemoteError, RemoteStorage

SCHEMA = """
CREATE TABLE IF NOT EXISTS indexes(remote TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY(remote, name));
CREATE TABLE IF NOT EXISTS records(
    remote TEXT NOT NULL, id BLOB NOT NULL, kind BLOB NOT NULL, flags INTEGER NOT NULL, pack TEXT NOT NULL,
    offset INTEGER NOT NULL, stored_len INTEGER NOT NULL, raw_len INTEGER NOT NULL,
    PRIMARY KEY(remote, kind, id)  -- a one-chunk file's oid is also its chunk's id
) WITHOUT ROWID;
"""


class Catalog:
    """The records one remote is known to hold."""

    def __init__(self, store_dir: Path, storage: RemoteStorage) -> None:
        store_dir.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(store_dir / "remotes.db", timeout=120, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)
        self.storage = storage
        self.key = storage.spec.url

    def close(self) -> None:
        self.db.close()

    def refresh(self, *, require_data: bool = True) -> int:
        """Bring the cache up to date with the remote's index listing; return how many indexes were read.

        An empty remote is an error unless `require_data` is off (checks that only ask what is missing).
        """
        listed = set(self.storage.list_indexes())
        if require_data and not listed and not self.storage.check_format(create=False):
            spec = self.storage.spec
            raise RemoteError(
                f"blob remote {spec.name!r} ({spec.url}) holds no branchml data "
                "(wrong URL, an unmounted folder, or nothing pushed yet)",
                hint="check the URL with `branchml remote list`; whoever has the data runs `branchml push`",
            )
        known = {n for (n,) in self.db.execute("SELECT name FROM indexes WHERE remote=?", (self.key,))}
        if known - listed:
            self._forget()
            known = set()
        new = sorted(listed - known)
        for start in range(0, len(new), 256):
            for name, data in self.storage.read_indexes(new[start : start + 256]).items():
                self.add(name, decode_index(data, name))
        return len(new)

    def _forget(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("DELETE FROM indexes WHERE remote=?", (self.key,))
        self.db.execute("DELETE FROM records WHERE remote=?", (self.key,))
        self.db.execute("COMMIT")

    def add(self, index_name: str, records: Iterable[RemoteRecord]) -> None:
        """Record an index (read from, or just uploaded to, the remote)."""
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany(
            "INSERT OR IGNORE INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ((self.key, r.id, r.kind, r.flags, r.pack, r.offset, r.stored_len, r.raw_len) for r in records),
        )
        self.db.execute("INSERT OR IGNORE INTO indexes VALUES (?, ?)", (self.key, index_name))
        self.db.execute("COMMIT")

    def lookup(self, ids: list[bytes], kind: bytes) -> dict[bytes, RemoteRecord]:
        found: dict[bytes, RemoteRecord] = {}
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self.db.execute(
                "SELECT id, kind, flags, pack, offset, stored_len, raw_len FROM records "
                f"WHERE remote=? AND kind=? AND id IN ({marks})",
                [self.key, kind, *part],
            )
            for cid, kind, flags, pack, off, slen, rlen in rows:
                found[cid] = RemoteRecord(kind, flags, cid, pack, off, slen, rlen)
        return found

    def missing(self, ids: list[bytes], kind: bytes) -> list[bytes]:
        found = self.lookup(ids, kind)
        return [i for i in ids if i not in found]

    def index_names(self) -> list[str]:
        return [n for (n,) in self.db.execute("SELECT name FROM indexes WHERE remote=?", (self.key,))]
