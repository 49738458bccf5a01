"""pre-commit: refuse to commit a SQLite database whose merge conflicts are still unresolved.

Git lets `git add` mark any file resolved; for a database the driver's only sign of unresolved rows
is its `branchml_merge_conflicts` table, so the check looks for it in the staged version.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import blake3

from branchml.errors import BranchmlError
from branchml.merge.sqlite import CONFLICTS_TABLE, sqlite_uri
from branchml.store.pointer import MAX_POINTER_SIZE, looks_like_pointer, parse_pointer


def pre_commit(repo, args: list[str], stdin: bytes) -> None:
    for path in _staged_databases(repo):
        if _has_conflicts_table(repo, path):
            raise BranchmlError(
                f"{path} still holds the table {CONFLICTS_TABLE}: its merge conflicts are not resolved",
                hint=f"fix the rows it lists, `DROP TABLE {CONFLICTS_TABLE}`, then `git add {path}` and commit",
            )


def _staged_databases(repo) -> list[str]:
    """Staged (added or modified) paths whose merge attribute is branchml-sqlite."""
    names = repo.git(["diff", "--cached", "--name-only", "-z", "--diff-filter=AM"])
    if not names:
        return []
    out = repo.git(["check-attr", "-z", "--cached", "--stdin", "merge"], input=names).split(b"\0")
    triples = zip(out[0::3], out[1::3], out[2::3])
    return [p.decode(errors="surrogateescape") for p, _attr, value in triples if value == b"branchml-sqlite"]


def _has_conflicts_table(repo, path: str) -> bool:
    blob = repo.git(["cat-file", "blob", f":{path}"])
    with tempfile.TemporaryDirectory(prefix="branchml-hook-") as tmp:
        db = Path(tmp) / "staged.sqlite"
        if len(blob) <= MAX_POINTER_SIZE and looks_like_pointer(blob):
            db = _staged_content(repo, path, parse_pointer(blob, path), db)
        else:
            db.write_bytes(blob)
        try:
            conn = sqlite3.connect(sqlite_uri(db, True), uri=True)
            conn.execute("PRAGMA trusted_schema = OFF")
            found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (CONFLICTS_TABLE,)).fetchone()
            conn.close()
        except sqlite3.DatabaseError:
            return False  # not a database: nothing of ours to find
    return found is not None


def _staged_content(repo, path: str, pointer, spare: Path) -> Path:
    """The work-tree file when it is what was staged (during `commit -a` the filter may not have
    committed its store index yet), else the content streamed from the store into `spare`."""
    work_file = repo.root / path
    if work_file.is_file() and work_file.stat().st_size == pointer.size and _blake3_of(work_file) == pointer.oid:
        return work_file
    with open(spare, "wb") as out:
        for data in repo.store.iter_file(pointer, path):
            out.write(data)
    return spare


def _blake3_of(path: Path) -> str:
    digest = blake3.blake3()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
