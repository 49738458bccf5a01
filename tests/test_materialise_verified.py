"""The whole-file pass once per record (store/verified.py): a record whose listing (size, chunk ids
and lengths) once rebuilt its oid is written with every chunk verified but without the second hash.
These tests plant what a damaged or hostile store could hold, on real Git, and check that no wrong
byte reaches the work tree and that a wrong table entry only costs the full pass."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from branchml.store.verified import listing_digest
from conftest import bml, git
from materialise_helpers import two_branches
from remote_support import digests

WRITE_AHEAD = pytest.mark.parametrize("ahead", ["1", "0"], ids=["filter-writes-ahead", "hook-writes"])


def _db(repo: Path) -> sqlite3.Connection:
    return sqlite3.connect(repo / ".git" / "branchml" / "index.db", isolation_level=None)


def _oid(repo: Path, rev_path: str) -> bytes:
    return bytes.fromhex(git(repo, "show", rev_path).split("blake3:")[1].split()[0])


def _listing(db: sqlite3.Connection, oid: bytes) -> bytes:
    """The listing digest of the record the index holds for `oid`, computed here from its rows."""
    size, chunks = db.execute("SELECT size, chunks FROM files WHERE oid=?", (oid,)).fetchone()
    ids = [chunks[i : i + 32] for i in range(0, len(chunks), 32)]
    lengths = dict(db.execute(f"SELECT id, raw_len FROM chunks WHERE id IN ({','.join('?' * len(ids))})", ids))
    return listing_digest(size, ((cid, lengths[cid]) for cid in ids))


def _entry(db: sqlite3.Connection, oid: bytes) -> bytes | None:
    row = db.execute("SELECT listing FROM verified WHERE oid=?", (oid,)).fetchone()
    return row[0] if row else None


def _switch(repo: Path, branch: str, ahead: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "switch", "-q", branch], cwd=repo, capture_output=True,
                          env={**os.environ, "BRANCHML_FILTER_WRITES": ahead})


def test_add_records_each_new_file_with_the_listing_it_was_cut_into(lowered):
    two_branches(lowered, {"a.bin": 1 << 20, "b.bin": 300_000})
    db = _db(lowered)
    for branch in ("main", "b"):
        for name in ("a.bin", "b.bin"):
            oid = _oid(lowered, f"{branch}:data/{name}")
            assert _entry(db, oid) == _listing(db, oid)


@WRITE_AHEAD
def test_a_planted_record_listing_valid_chunks_in_another_order_is_refused(lowered, ahead):
    expected = two_branches(lowered, {"a.bin": 1 << 20, "good.bin": 1 << 20})
    db = _db(lowered)
    oid = _oid(lowered, "main:data/a.bin")
    assert _entry(db, oid) is not None  # recorded at add: the fast road would be open
    (chunks,) = db.execute("SELECT chunks FROM files WHERE oid=?", (oid,)).fetchone()
    ids = [chunks[i : i + 32] for i in range(0, len(chunks), 32)]
    assert len(ids) > 2
    db.execute("UPDATE files SET chunks=? WHERE oid=?", (b"".join(ids[1:] + ids[:1]), oid))  # same chunks, same size
    proc = _switch(lowered, "main", ahead)
    assert proc.returncode != 0
    assert b"data/a.bin" in proc.stderr and b"does not match oid" in proc.stderr
    assert git(lowered, "show", "main:data/a.bin") == (lowered / "data" / "a.bin").read_text()  # its pointer
    assert digests(lowered, ("data",))["data/good.bin"] == expected["main"]["data/good.bin"]


@WRITE_AHEAD
def test_a_planted_record_listing_another_files_chunks_is_refused(lowered, ahead):
    two_branches(lowered, {"a.bin": 1 << 20, "twin.bin": 1 << 20})
    db = _db(lowered)
    oid, twin = _oid(lowered, "main:data/a.bin"), _oid(lowered, "main:data/twin.bin")
    (twin_chunks,) = db.execute("SELECT chunks FROM files WHERE oid=?", (twin,)).fetchone()
    db.execute("UPDATE files SET chunks=? WHERE oid=?", (twin_chunks, oid))  # valid chunks, right size, wrong file
    proc = _switch(lowered, "main", ahead)
    assert proc.returncode != 0 and b"data/a.bin" in proc.stderr
    assert git(lowered, "show", "main:data/a.bin") == (lowered / "data" / "a.bin").read_text()


@WRITE_AHEAD
def test_a_damaged_table_entry_costs_the_full_pass_and_is_put_right(lowered, ahead):
    expected = two_branches(lowered, {"a.bin": 1 << 20, "c.bin": 600_000})
    db = _db(lowered)
    oids = [_oid(lowered, f"main:data/{n}") for n in ("a.bin", "c.bin")]
    db.execute("UPDATE verified SET listing=? WHERE oid=?", (os.urandom(32), oids[0]))
    db.execute("UPDATE verified SET listing=? WHERE oid=?", (b"short", oids[1]))
    proc = _switch(lowered, "main", ahead)
    assert proc.returncode == 0, proc.stderr
    assert digests(lowered, ("data",)) == expected["main"]
    assert git(lowered, "status", "--porcelain") == ""
    for oid in oids:
        assert _entry(db, oid) == _listing(db, oid)  # the full pass ran and recorded what it checked


def test_a_record_never_checked_gets_the_full_pass_then_is_recorded(lowered):
    """As after a fetch: records from a remote come with no entry (nothing remote fills the table)."""
    expected = two_branches(lowered, {"a.bin": 1 << 20})
    db = _db(lowered)
    db.execute("DELETE FROM verified")
    oid = _oid(lowered, "main:data/a.bin")
    (chunks,) = db.execute("SELECT chunks FROM files WHERE oid=?", (oid,)).fetchone()
    ids = [chunks[i : i + 32] for i in range(0, len(chunks), 32)]
    db.execute("UPDATE files SET chunks=? WHERE oid=?", (b"".join(ids[::-1]), oid))
    assert _switch(lowered, "main", "1").returncode != 0  # no entry: the full pass refuses the planted order
    assert _entry(db, oid) is None  # and records nothing for it
    db.execute("UPDATE files SET chunks=? WHERE oid=?", (chunks, oid))
    proc = subprocess.run(["git", "checkout", "-f"], cwd=lowered, capture_output=True)  # the hook runs again
    assert proc.returncode == 0, proc.stderr
    assert digests(lowered, ("data",)) == expected["main"]
    assert _entry(db, oid) == _listing(db, oid)


@WRITE_AHEAD
def test_a_pack_cut_short_inside_a_run_of_chunks_fails_only_its_file(lowered, ahead):
    """Neighbouring chunks are read with one preadv (restore._runs): one that comes back short is
    read again chunk by chunk, and the chunk past the pack's end fails its check like any other."""
    expected = two_branches(lowered, {"a.bin": 1 << 20, "z.bin": 1 << 20})  # z.bin's chunks end main's pack
    db = _db(lowered)
    (chunks,) = db.execute("SELECT chunks FROM files WHERE oid=?", (_oid(lowered, "main:data/z.bin"),)).fetchone()
    middle = chunks[(len(chunks) // 64) * 32 :][:32]
    name, offset = db.execute("SELECT p.name, c.offset FROM chunks c JOIN packs p ON p.id = c.pack WHERE c.id=?",
                              (middle,)).fetchone()
    pack = lowered / ".git" / "branchml" / "packs" / name
    pack.chmod(0o644)
    os.truncate(pack, offset + 100)
    proc = _switch(lowered, "main", ahead)
    assert proc.returncode != 0
    assert b"data/z.bin" in proc.stderr and b"data/a.bin" not in proc.stderr
    assert digests(lowered, ("data",))["data/a.bin"] == expected["main"]["data/a.bin"]
    assert git(lowered, "show", "main:data/z.bin") == (lowered / "data" / "z.bin").read_text()


def test_gc_drops_the_rows_of_the_records_it_deletes_and_keeps_the_others(lowered):
    two_branches(lowered, {"a.bin": 300_000})
    db = _db(lowered)
    kept, dropped = _oid(lowered, "main:data/a.bin"), _oid(lowered, "b:data/a.bin")
    git(lowered, "switch", "-q", "main")
    git(lowered, "branch", "-D", "b")
    git(lowered, "reflog", "expire", "--expire=now", "--all")
    bml(lowered, "gc")
    assert db.execute("SELECT count(*) FROM files WHERE oid=?", (dropped,)).fetchone()[0] == 0
    assert _entry(db, dropped) is None
    assert _entry(db, kept) == _listing(db, kept)
