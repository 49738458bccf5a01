"""Finding branchml pointers in Git: in the index, in commits, in everything still reachable."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from branchml.errors import MalformedPointer
from branchml.store.pointer import (
    MAX_POINTER_SIZE,
    Pointer,
    looks_like_pointer,
    parse_pointer,
)


@dataclass(frozen=True)
class PointerBlob:
    blob: str
    path: str
    pointer: Pointer
    mode: str = "100644"


def read_pointers(repo, blobs: dict[str, str]) -> list[PointerBlob]:
    """Of `blobs` (sha -> a path it appears at), those that are pointers; two batched cat-file calls."""
    if not blobs:
        return []
    shas = list(blobs)
    check = repo.git(["cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)"], input="\n".join(shas).encode() + b"\n")
    small = []
    for line in check.decode().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == "blob" and int(parts[2]) <= MAX_POINTER_SIZE:
            small.append(parts[0])
    if not small:
        return []
    data = repo.git(["cat-file", "--batch"], input="\n".join(small).encode() + b"\n")
    out = []
    pos = 0
    while pos < len(data):
        end = data.index(b"\n", pos)
        sha, _type, size = data[pos:end].decode().split()
        body = data[end + 1 : end + 1 + int(size)]
        pos = end + 1 + int(size) + 1
        if looks_like_pointer(body):
            try:
                out.append(PointerBlob(sha, blobs[sha], parse_pointer(body, blobs[sha])))
            except MalformedPointer:
                continue  # a small file that only looks like a pointer; fsck of Git reports these
    return out


def index_pointers(repo) -> list[PointerBlob]:
    """Pointers staged in this worktree's index, by path."""
    blobs: dict[str, str] = {}
    by_path: list[tuple[str, str, str]] = []
    for entry in repo.git(["ls-files", "-s", "-z"]).split(b"\0"):
        if not entry:
            continue
        meta, path = entry.split(b"\t", 1)
        mode, sha, _stage = meta.decode().split()
        if mode.startswith("100"):
            blobs.setdefault(sha, path.decode(errors="surrogateescape"))
            by_path.append((sha, path.decode(errors="surrogateescape"), mode))
    found = {p.blob: p.pointer for p in read_pointers(repo, blobs)}
    return [PointerBlob(sha, path, found[sha], mode) for sha, path, mode in by_path if sha in found]


def rev_list_pointers(repo, rev_args: Iterable[str], exclude: Iterable[str] = ()) -> list[PointerBlob]:
    """Pointers among the objects `git rev-list --objects <rev_args>` reaches (one path each),
    leaving out what the `exclude` commits reach (passed on stdin: there may be many)."""
    negative = "".join(f"^{rev}\n" for rev in exclude).encode()
    out = repo.git(["rev-list", "--objects", "--stdin", *rev_args], input=negative)
    blobs: dict[str, str] = {}
    for line in out.decode(errors="surrogateescape").splitlines():
        sha, _, path = line.partition(" ")
        if path:
            blobs.setdefault(sha, path)
    return read_pointers(repo, blobs)


def reachable_pointers(repo) -> list[PointerBlob]:
    """Everything gc must keep: all refs (stash included), reflogs, HEADs and indexes of all worktrees."""
    return rev_list_pointers(repo, ["--all", "--reflog", "--indexed-objects"])


def tree_entries(repo, rev: str) -> list[tuple[str, str, str]]:
    """(mode, blob sha, path) of every file in the tree of `rev`, paths bytes-safe (surrogateescape)."""
    out = []
    for entry in repo.git(["ls-tree", "-r", "-z", "--full-tree", rev]).split(b"\0"):
        if not entry:
            continue
        meta, path = entry.split(b"\t", 1)
        mode, kind, sha = meta.decode().split()
        if kind == "blob":
            out.append((mode, sha, path.decode(errors="surrogateescape")))
    return out


def commit_pointers(repo, rev: str) -> list[PointerBlob]:
    """Pointers in the tree of `rev`, one per path (two paths holding the same pointer are both listed)."""
    entries = tree_entries(repo, rev)
    blobs: dict[str, str] = {}
    for _mode, sha, path in entries:
        blobs.setdefault(sha, path)
    found = {p.blob: p.pointer for p in read_pointers(repo, blobs)}
    return [PointerBlob(sha, path, found[sha], mode) for mode, sha, path in entries if sha in found]
