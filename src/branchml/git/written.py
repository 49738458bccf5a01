"""Files branchml has just written into the work tree, for the clean filter of the refresh that follows.

After branchml writes a file outside Git's pipe, Git's index still holds the stat data of the
pointer Git wrote. `git update-index --refresh` then runs the clean filter on the file to learn
that it still matches the index. Hashing it again would cost as much as writing it, so the writer
passes, in the environment of that one refresh, a list of what it wrote: path, oid and the stat data
right after the rename. The filter answers the pointer without hashing only when the file's stat
data still equals the listed one (any write changes ctime; a replaced file has another inode) and
Git sends exactly that many bytes. Nothing persists: a later `git add` or `git status` hashes as usual.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV = "BRANCHML_JUST_WRITTEN"


@dataclass(frozen=True)
class Written:
    path: str
    oid: str
    size: int
    stat_key: tuple[int, int, int, int, int]  # size, mtime_ns, ctime_ns, inode, device


def stat_key(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def save(path: Path, files: list[Written]) -> None:
    """One record per file, NUL-separated; the path is the last field (it may hold spaces)."""
    records = [" ".join([f.oid, str(f.size), *map(str, f.stat_key), f.path]) for f in files]
    path.write_bytes("\0".join(records).encode("utf-8", "surrogateescape"))


def load(path: Path) -> dict[str, Written]:
    out: dict[str, Written] = {}
    try:
        data = path.read_bytes().decode("utf-8", "surrogateescape")
    except OSError:
        return out
    for record in filter(None, data.split("\0")):
        fields = record.split(" ", 7)
        if len(fields) != 8 or not all(f.isdigit() for f in fields[1:7]):
            return {}  # not ours: trust nothing, the refresh hashes as usual
        oid, size, st_size, mtime, ctime, inode, device, name = fields
        out[name] = Written(name, oid, int(size), (int(st_size), int(mtime), int(ctime), int(inode), int(device)))
    return out


def from_environment() -> dict[str, Written]:
    """The list this process's environment names, or nothing."""
    value = os.environ.get(ENV)
    return load(Path(value)) if value else {}


def unchanged(root: Path, entry: Written) -> bool:
    """True when the file at entry.path is still the very file branchml wrote."""
    try:
        return stat_key(os.lstat(root / entry.path)) == entry.stat_key
    except OSError:
        return False
