"""What the materialisation tests share (test_materialise*.py): two branches of random large files,
the sizes Git's index records, and a chunk corrupted in its pack. The `lowered` fixture (the size
threshold lowered so small files take the large-file path) is in conftest.py."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from conftest import git
from remote_support import commit_all, digests, write_random


def two_branches(repo: Path, sizes: dict[str, int]) -> dict[str, dict[str, str]]:
    """Branch main and b with different random content at the same paths; returns their digests."""
    for i, (name, size) in enumerate(sizes.items()):
        write_random(repo / "data" / name, size, i)
    commit_all(repo, "a")
    main = digests(repo, ("data",))
    git(repo, "switch", "-qc", "b")
    for i, (name, size) in enumerate(sizes.items()):
        write_random(repo / "data" / name, size, 100 + i)
    commit_all(repo, "b")
    return {"main": main, "b": digests(repo, ("data",))}


def index_sizes(repo: Path) -> dict[str, int]:
    """The file sizes Git's index records (its stat data), by path."""
    out, path = {}, None
    for line in git(repo, "ls-files", "--debug").splitlines():
        if not line.startswith(" "):
            path = line
        elif line.strip().startswith("size:"):
            out[path] = int(line.split()[1])
    return out


def corrupt_one_chunk(repo: Path, oid: str) -> None:
    """Flip a byte inside the first chunk of the file with this oid, in its pack."""
    db = sqlite3.connect(repo / ".git" / "branchml" / "index.db")
    (chunks,) = db.execute("SELECT chunks FROM files WHERE oid=?", (bytes.fromhex(oid),)).fetchone()
    pack_id, offset, length = db.execute(
        "SELECT pack, offset, stored_len FROM chunks WHERE id=?", (chunks[:32],)).fetchone()
    (name,) = db.execute("SELECT name FROM packs WHERE id=?", (pack_id,)).fetchone()
    db.close()
    pack = repo / ".git" / "branchml" / "packs" / name
    pack.chmod(0o644)
    with open(pack, "r+b") as f:
        f.seek(offset + length // 2)
        byte = f.read(1)
        f.seek(offset + length // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
