"""Finding branchml pointers in Git: in the index, in commits, in everything still reachable."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from branchml.errors import BranchmlError, MalformedPointer
from branchml.git import plumbing
from branchml.repo import Repo
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


@dataclass(frozen=True)
class BadPointer:
    """A blob that claims to be a pointer (starts like one) but is not exactly one."""

    blob: str
    path: str
    problem: str


def file_oids(pointers: Iterable[PointerBlob]) -> list[bytes]:
    """The distinct file oids (binary) the pointers name, in order; empty files have none."""
    return list(dict.fromkeys(p.pointer.oid_bytes for p in pointers if p.pointer.size > 0))


def read_pointers(repo: Repo, blobs: dict[str, str], bad: list[BadPointer] | None = None) -> list[PointerBlob]:
    """Of `blobs` (sha -> a path it appears at), those that are pointers; one cat-file process.

    Blobs that start like a pointer but do not parse are skipped, or listed in `bad` when given.
    """
    if not blobs:
        return []
    with plumbing.CatFile(repo.cwd) as cat:
        small = [
            sha for sha, info in cat.info_many(blobs)
            if info is not None and info.type == "blob" and info.size <= MAX_POINTER_SIZE
        ]
        out = []
        for sha, found in cat.contents_many(small):
            body = found[1] if found else b""
            if looks_like_pointer(body):
                try:
                    out.append(PointerBlob(sha, blobs[sha], parse_pointer(body, blobs[sha])))
                except MalformedPointer as exc:
                    if bad is not None:
                        bad.append(BadPointer(sha, blobs[sha], exc.message))
    return out


def index_pointers(repo: Repo, bad: list[BadPointer] | None = None) -> list[PointerBlob]:
    """Pointers staged in this worktree's index, by path (malformed ones into `bad`, when given)."""
    entries = [e for e in plumbing.ls_files_staged(repo.cwd) if e.mode.startswith("100")]
    blobs: dict[str, str] = {}
    for entry in entries:
        blobs.setdefault(entry.oid, entry.path)
    found = {p.blob: p.pointer for p in read_pointers(repo, blobs, bad)}
    return [PointerBlob(e.oid, e.path, found[e.oid], e.mode) for e in entries if e.oid in found]


def rev_list_pointers(
    repo: Repo, rev_args: Iterable[str], exclude: Iterable[str] = (), bad: list[BadPointer] | None = None
) -> list[PointerBlob]:
    """Pointers among the objects `git rev-list --objects <rev_args>` reaches (one path each),
    leaving out what the `exclude` commits reach (passed on stdin: there may be many)."""
    blobs: dict[str, str] = {}
    for sha, path in plumbing.rev_list_objects(repo.cwd, list(rev_args), stdin=[f"^{rev}" for rev in exclude]):
        if path:
            blobs.setdefault(sha, path)
    return read_pointers(repo, blobs, bad)


def reachable_pointers(repo: Repo, bad: list[BadPointer] | None = None) -> list[PointerBlob]:
    """Everything gc must keep: all refs (stash included), reflogs, HEADs and indexes of all worktrees."""
    return rev_list_pointers(repo, ["--all", "--reflog", "--indexed-objects"], bad=bad)


def tree_entries(repo: Repo, rev: str) -> list[tuple[str, str, str]]:
    """(mode, blob sha, path) of every file in the tree of `rev` (paths fs-decoded: bytes-safe)."""
    return [(e.mode, e.oid, e.path) for e in plumbing.ls_tree(repo.cwd, rev) if e.type == "blob"]


def commit_pointers(repo: Repo, rev: str, bad: list[BadPointer] | None = None) -> list[PointerBlob]:
    """Pointers in the tree of `rev`, one per path (two paths holding the same pointer are both listed)."""
    entries = tree_entries(repo, rev)
    blobs: dict[str, str] = {}
    for _mode, sha, path in entries:
        blobs.setdefault(sha, path)
    found = {p.blob: p.pointer for p in read_pointers(repo, blobs, bad)}
    return [PointerBlob(sha, path, found[sha], mode) for mode, sha, path in entries if sha in found]


# -- the other direction: a pointer where the content belongs ------------------------------------
def pointers_in_work_tree(repo: Repo) -> list[str]:
    """Tracked files whose work-tree bytes are still their pointer (a clone without the filter).

    Whatever reads such a file (a training script, pandas) gets three lines of pointer text instead
    of the data, without an error: branchml's own readers call this and say so instead.
    """
    if repo.root is None:
        return []
    found = []
    for entry in index_pointers(repo):
        file = repo.root / entry.path
        small = entry.pointer.size and file.is_file() and file.stat().st_size <= MAX_POINTER_SIZE
        if small and file.read_bytes() == entry.pointer.encode():
            found.append(entry.path)
    return found


class NotMaterialised(BranchmlError):
    """Tracked files whose work-tree copy is a pointer, not the content."""

    def __init__(self, paths: list[str]) -> None:
        shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
        super().__init__(f"{len(paths)} tracked file(s) hold a branchml pointer, not their content: {shown} "
                         "(this clone has no branchml filter, or their content was never fetched)",
                         hint="run `branchml install` (it registers the filter and writes the files), then retry")


def require_materialised(repo: Repo) -> None:
    found = pointers_in_work_tree(repo)
    if found:
        raise NotMaterialised(found)
