"""What a migration does to one file: the converters git-filter-repo calls for every file change.

A converter answers two questions: does this file change (`detect`, from path, size and, for small
blobs, the content: cheap enough to run over a whole history in the dry run), and what is its new
content (`convert`). `.gitattributes` files are rewritten by `attributes`; `root_lines` are lines
every commit's top-level `.gitattributes` must hold (the paths an `--above` import turned into
pointers), so each rewritten commit checks out through the right filter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pathspec

from branchml.errors import BranchmlError, MissingObject
from branchml.migrate import lfs
from branchml.repo import Repo
from branchml.store.pointer import (
    MAX_POINTER_SIZE,
    Pointer,
    looks_like_pointer,
    parse_pointer,
)
from branchml.store.store import StoreWriter

PEEK = lfs.MAX_POINTER_SIZE  # blobs up to this size are read whole by `detect`


@dataclass
class Converter:
    repo: Repo
    name: str = "converter"
    root_lines: list[bytes] = field(default_factory=list)

    def detect(self, path: str, size: int, small: bytes | None) -> bool:
        raise NotImplementedError

    def convert(self, path: str, data: bytes) -> bytes:
        raise NotImplementedError

    def attributes(self, data: bytes) -> bytes:
        return data

    def ignores(self, path: str, data: bytes) -> bytes:
        """A `.gitignore` file's new content (DVC lists its outputs there)."""
        return data

    def rewrite_commit(self, changes: list[Any], insert: Callable[[bytes], int]) -> list[Any]:
        """A whole commit's file changes (git-filter-repo FileChange objects), for converters that
        add or remove files (DVC outputs); `insert` adds a blob and returns its mark."""
        return changes


@dataclass
class LfsImport(Converter):
    """Git LFS pointers become branchml pointers; content from `.git/lfs/objects`, sha256-verified."""

    writer: StoreWriter | None = None
    name: str = "lfs pointer -> branchml pointer"

    def detect(self, path: str, size: int, small: bytes | None) -> bool:
        return small is not None and lfs.parse(small) is not None

    def convert(self, path: str, data: bytes) -> bytes:
        pointer = lfs.parse(data)
        assert pointer is not None and self.writer is not None  # detect() said so; run() opened it
        source = lfs.object_path(self.repo.common_dir, pointer.oid)
        if not source.exists():
            raise MissingObject(f"{path}: Git LFS object {pointer.oid} is not in {source.parent.parent.parent}",
                                hint="run `git lfs fetch --all` (needs the LFS server), then migrate again")
        with open(source, "rb") as file:
            reader = lfs.VerifyingReader(file, pointer)
            new = self.writer.add_stream(reader)
            reader.check(path)
        return new.encode()

    def attributes(self, data: bytes) -> bytes:
        return lfs.attributes_from_lfs(data)


@dataclass
class AboveImport(Converter):
    """Plain blobs at `paths` (every path where some version matched and was large) become pointers."""

    paths: set[str] = field(default_factory=set)
    writer: StoreWriter | None = None
    name: str = "file -> branchml pointer"

    def detect(self, path: str, size: int, small: bytes | None) -> bool:
        return path in self.paths and size > 0 and not (small is not None and looks_like_pointer(small))

    def convert(self, path: str, data: bytes) -> bytes:
        assert self.writer is not None
        return self.writer.add_bytes(data).encode()


def large_paths(candidates: list[tuple[str, int]], patterns: list[str], min_size: int) -> set[str]:
    """Of (path, size) pairs of a history, the paths matching a pattern with a version >= min_size."""
    spec = pathspec.PathSpec.from_lines("gitwildmatch", patterns or ["*"])
    return {path for path, size in candidates if size >= max(min_size, 1) and spec.match_file(path)}


def attribute_line(path: str) -> bytes:
    """A `.gitattributes` line for exactly `path` (anchored; glob characters and spaces escaped)."""
    escaped = "".join("\\" + c if c in "*?[]\\ " else c for c in path)
    return f"/{escaped} filter=branchml diff=branchml -text\n".encode()


@dataclass
class ExportLfs(Converter):
    """branchml pointers become Git LFS pointers; content written to `.git/lfs/objects`."""

    name: str = "branchml pointer -> lfs pointer"

    def detect(self, path: str, size: int, small: bytes | None) -> bool:
        return size <= MAX_POINTER_SIZE and small is not None and looks_like_pointer(small)

    def convert(self, path: str, data: bytes) -> bytes:
        pointer = _pointer(data, path)
        return lfs.write_object(self.repo.common_dir, self.repo.store.iter_file(pointer, path)).encode()

    def attributes(self, data: bytes) -> bytes:
        return lfs.attributes_to_lfs(data)


@dataclass
class ExportPlain(Converter):
    """branchml pointers become the files themselves (each held in memory once, by fast-import's protocol)."""

    name: str = "branchml pointer -> file"

    def detect(self, path: str, size: int, small: bytes | None) -> bool:
        return size <= MAX_POINTER_SIZE and small is not None and looks_like_pointer(small)

    def convert(self, path: str, data: bytes) -> bytes:
        return b"".join(self.repo.store.iter_file(_pointer(data, path), path))

    def attributes(self, data: bytes) -> bytes:
        return lfs.attributes_to_plain(data)


def _pointer(data: bytes, path: str) -> Pointer:
    try:
        return parse_pointer(data, path)
    except BranchmlError as exc:
        raise BranchmlError(f"{path}: {exc.message}", hint="fix that commit first; nothing was rewritten") from exc
