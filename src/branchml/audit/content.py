"""The bytes of a file at a ref, without a checkout: Git's blob, or the store's verified content.

Everything here only reads: the store is asked for content (fetching from the blob remote when it
lacks it) and never given any, so `git diff`'s textconv and `branchml diff` leave the store as it was.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
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


def blob_at(repo: Repo, rev: str, path: str) -> Blob | None:
    """The file `path` of `rev`, or None when `rev` has no such file."""
    for entry in plumbing.ls_tree(repo.cwd, rev, [path], long=True):
        if entry.type == "blob" and entry.path == path:
            return _blob(repo, path, entry.oid, entry.size or 0)
    return None


def _blob(repo: Repo, path: str, sha: str, size: int) -> Blob:
    if size <= MAX_POINTER_SIZE:
        with plumbing.CatFile(repo.cwd) as objects:
            head = objects.blob(sha)
        if looks_like_pointer(head):
            pointer = parse_pointer(head, f"{path} ({sha[:12]})")
            return Blob(path, sha, pointer.size, pointer)
    return Blob(path, sha, size, None)


def iter_bytes(repo: Repo, blob: Blob) -> Iterator[bytes]:
    """The file's content in pieces: verified chunks from the store, or Git's blob."""
    if blob.pointer is not None:
        yield from repo.store.iter_file(blob.pointer, blob.path)
        return
    with plumbing.CatFile(repo.cwd) as objects:
        yield objects.blob(blob.blob)


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


def open_blob(repo: Repo, blob: Blob) -> io.BufferedReader:
    return io.BufferedReader(ChunkReader(iter_bytes(repo, blob)), buffer_size=1 << 20)


def require_rev(repo: Repo, rev: str) -> str:
    """The commit `rev` names, or a clear error."""
    found = plumbing.rev_parse(repo.cwd, f"{rev}^{{commit}}")
    if found is None:
        raise BranchmlError(f"unknown revision {rev!r}", hint="name a branch, tag or commit (`git branch -a`, `git tag`)")
    return found
