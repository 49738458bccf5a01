"""The bytes of a file at a ref, without a checkout: Git's blob, or the store's verified content.

Everything here only reads: the store is asked for content (fetching from the blob remote when it
lacks it) and never given any, so `git diff`'s textconv and `branchml diff` leave the store as it was.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from branchml.errors import BranchmlError
from branchml.git import plumbing
from branchml.repo import Repo
from branchml.store.pointer import (
    MAX_POINTER_SIZE,
    Pointer,
    looks_like_pointer,
    parse_pointer,
)

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer


@dataclass(frozen=True)
class Blob:
    """One file of a tree: its Git blob, and the pointer when its content lives in the store."""

    path: str
    blob: str
    size: int  # real size: the pointer's size for tracked files
    pointer: Pointer | None


def blob_at(repo: Repo, rev: str, path: str, objects: plumbing.CatFile | None = None) -> Blob | None:
    """The file `path` of `rev`, or None when `rev` has no such file.

    One `git cat-file` process answers (`info <rev>:<path>`, then the body when it may be a pointer);
    pass `objects` to reuse one across calls in a loop, so a listing of N files starts no N processes.
    """
    if not _plain_path(path):  # `<rev>:<path>` could not name it exactly: ask ls-tree
        return _blob_by_listing(repo, rev, path, objects)
    with _objects(repo, objects) as cat:
        info = cat.info(f"{rev}:{path}")
        if info is None or info.type != "blob":
            return None
        return _blob(cat, path, info.oid, info.size)


def blobs_of(repo: Repo, entries: Iterable[plumbing.TreeEntry], objects: plumbing.CatFile) -> dict[str, Blob]:
    """Blobs for the `blob` entries of an `ls_tree(long=True)` listing, pointers read in one batch."""
    files = [e for e in entries if e.type == "blob"]
    small = [e for e in files if (e.size or 0) <= MAX_POINTER_SIZE]
    heads = dict(objects.contents_many(e.oid for e in small))
    found = {e.path: Blob(e.path, e.oid, e.size or 0, None) for e in files}
    for entry in small:
        body = heads.get(entry.oid)
        if body is not None and looks_like_pointer(body[1]):
            pointer = parse_pointer(body[1], f"{entry.path} ({entry.oid[:12]})")
            found[entry.path] = Blob(entry.path, entry.oid, pointer.size, pointer)
    return found


def _plain_path(path: str) -> bool:
    """A path `<rev>:<path>` names exactly: relative, no empty, `.` or `..` segment, no newline."""
    parts = path.split("/")
    return "\n" not in path and all(part not in ("", ".", "..") for part in parts)


def _blob_by_listing(repo: Repo, rev: str, path: str, objects: plumbing.CatFile | None) -> Blob | None:
    for entry in plumbing.ls_tree(repo.cwd, rev, [path], long=True):
        if entry.type == "blob" and entry.path == path:
            with _objects(repo, objects) as cat:
                return _blob(cat, path, entry.oid, entry.size or 0)
    return None


@contextmanager
def _objects(repo: Repo, objects: plumbing.CatFile | None) -> Iterator[plumbing.CatFile]:
    """The caller's CatFile, or one for this call only (closed after it)."""
    if objects is not None:
        yield objects
        return
    with plumbing.CatFile(repo.cwd) as own:
        yield own


def _blob(objects: plumbing.CatFile, path: str, sha: str, size: int) -> Blob:
    if size <= MAX_POINTER_SIZE:
        head = objects.blob(sha)
        if looks_like_pointer(head):
            pointer = parse_pointer(head, f"{path} ({sha[:12]})")
            return Blob(path, sha, pointer.size, pointer)
    return Blob(path, sha, size, None)


def iter_bytes(repo: Repo, blob: Blob, objects: plumbing.CatFile | None = None) -> Iterator[bytes]:
    """The file's content in pieces: verified chunks from the store, or Git's blob (through
    `objects` when given, else a cat-file process of its own)."""
    if blob.pointer is not None:
        yield from repo.store.iter_file(blob.pointer, blob.path)
        return
    with _objects(repo, objects) as cat:
        yield cat.blob(blob.blob)


class ChunkReader(io.RawIOBase):
    """A read-only binary stream over iter_bytes, for csv/json/pyarrow readers; memory stays bounded."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces = pieces
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        target = memoryview(buffer).cast("B")  # io hands a writable bytes-like object
        while not self._buffer:
            piece = next(self._pieces, None)
            if piece is None:
                return 0
            self._buffer = piece
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


def open_blob(repo: Repo, blob: Blob, objects: plumbing.CatFile | None = None) -> io.BufferedReader:
    return io.BufferedReader(ChunkReader(iter_bytes(repo, blob, objects)), buffer_size=1 << 20)


def require_rev(repo: Repo, rev: str) -> str:
    """The commit `rev` names, or a clear error."""
    found = plumbing.rev_parse(repo.cwd, f"{rev}^{{commit}}")
    if found is None:
        raise BranchmlError(f"unknown revision {rev!r}", hint="name a branch, tag or commit (`git branch -a`, `git tag`)")
    return found
