"""Finding merge conflicts that were marked resolved but are not: what must never be committed.

Git lets `git add` mark any file resolved. Our drivers leave two signs of unresolved rows: a
`branchml_merge_conflicts` table in a SQLite database, and `<<<<<<<` ... `>>>>>>>` lines in a rows or
jsonlist file. `git diff` shows a tracked file only as a summary, so nobody sees them there: these
checks look at the content itself (read from the store for pointers, streamed, never whole in memory).
They serve the commit hooks (pre-commit, and prepare-commit-msg, which `rebase --continue`,
`cherry-pick`, `revert` and `commit --no-verify` still run), `branchml verify` and the server.
"""

from __future__ import annotations

import re
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import blake3

from branchml.git import plumbing
from branchml.git.treeattrs import attribute_values
from branchml.merge.sqlite import CONFLICTS_TABLE, sqlite_uri
from branchml.store.pointer import (
    MAX_POINTER_SIZE,
    Pointer,
    looks_like_pointer,
    parse_pointer,
)

if TYPE_CHECKING:
    from branchml.repo import Repo

RECORD_DRIVERS = ("branchml-rows", "branchml-jsonlist")
SQLITE_DRIVER = "branchml-sqlite"
_OPEN = re.compile(rb"(?m)^<{7}(?: |\r?$)")
_CLOSE = re.compile(rb"(?m)^>{7}(?: |\r?$)")
_KEEP = 16  # of an unfinished line only its start matters (markers sit at line starts)


@dataclass(frozen=True)
class Unresolved:
    path: str
    blob: str
    reason: str
    hint: str


def find_unresolved(repo: Repo, entries: list[tuple[str, str]], treeish: str | None = None) -> list[Unresolved]:
    """Of `entries` ((path, blob) pairs, attributes from the index or `treeish`), the unresolved ones."""
    drivers = attribute_values(repo.cwd, [p for p, _ in entries], "merge", treeish)
    found = []
    for path, blob in entries:
        driver = drivers.get(path, "")
        if driver == SQLITE_DRIVER and _database_has_conflicts(repo, path, blob):
            found.append(Unresolved(path, blob, f"still holds the table {CONFLICTS_TABLE}: its merge conflicts "
                                    "are not resolved", f"fix the rows it lists, `DROP TABLE {CONFLICTS_TABLE}`, "
                                    f"then `git add {path}`"))
        elif driver in RECORD_DRIVERS and has_conflict_markers(_content(repo, path, blob)):
            found.append(Unresolved(path, blob, "still holds conflict markers (<<<<<<< ... >>>>>>> lines): its merge "
                                    "conflicts are not resolved", f"keep the right rows, delete the marker lines, "
                                    f"then `git add {path}`"))
    return found


def has_conflict_markers(chunks: Iterable[bytes]) -> bool:
    """True when a line starting `<<<<<<<` is later followed by a line starting `>>>>>>>`."""
    carry, opened = b"", False
    for chunk in chunks:
        buf = carry + chunk
        cut = buf.rfind(b"\n") + 1
        lines, rest = buf[:cut], buf[cut:]
        if not opened and (m := _OPEN.search(lines)):
            opened, lines = True, lines[m.end():]
        if opened and _CLOSE.search(lines):
            return True
        carry = rest[:_KEEP]
    return opened and _CLOSE.search(carry) is not None


def _content(repo: Repo, path: str, blob: str) -> Iterator[bytes]:
    """The file's bytes: the blob itself, or for a pointer the content from the store, chunk by chunk."""
    with plumbing.CatFile(repo.cwd) as cat:
        data = cat.blob(blob)
    if len(data) > MAX_POINTER_SIZE or not looks_like_pointer(data):
        yield data
        return
    pointer = parse_pointer(data, path)
    if not repo.store.has_file(pointer.oid) and _work_file_is(repo, path, pointer):
        yield from _read_file(repo.work_tree / path)  # `commit -a`: the filter's record is not indexed yet
        return
    yield from repo.store.iter_file(pointer, path)


def _work_file_is(repo: Repo, path: str, pointer: Pointer) -> bool:
    file = repo.root / path if repo.root else None
    if file is None or not file.is_file() or file.stat().st_size != pointer.size:
        return False
    digest = blake3.blake3()
    for block in _read_file(file):
        digest.update(block)
    return bool(digest.hexdigest() == pointer.oid)


def _read_file(file: Path) -> Iterator[bytes]:
    with open(file, "rb") as f:
        while block := f.read(1 << 20):
            yield block


def _database_has_conflicts(repo: Repo, path: str, blob: str) -> bool:
    with tempfile.TemporaryDirectory(prefix="branchml-check-") as tmp:
        db = Path(tmp) / "checked.sqlite"
        with open(db, "wb") as out:
            out.writelines(_content(repo, path, blob))
        return _has_conflicts_table(db)


def _has_conflicts_table(db: Path) -> bool:
    try:
        conn = sqlite3.connect(sqlite_uri(db, True), uri=True)
        try:
            conn.execute("PRAGMA trusted_schema = OFF")
            query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
            return conn.execute(query, (CONFLICTS_TABLE,)).fetchone() is not None
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return False  # not a database: nothing of ours to find
