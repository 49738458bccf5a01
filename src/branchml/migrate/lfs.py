"""Git LFS's pointer format and object folder, read and written without the git-lfs binary.

Spec: https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md -- a pointer is
`version https://git-lfs.github.com/spec/v1`, `oid sha256:<64 hex>`, `size <n>`, each line LF-ended,
keys sorted after `version`; objects live in `.git/lfs/objects/<oid[0:2]>/<oid[2:4]>/<oid>`.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from io import BufferedReader
from pathlib import Path

from branchml.errors import CorruptObject

VERSION = b"version https://git-lfs.github.com/spec/v1\n"
MAX_POINTER_SIZE = 1024  # git-lfs's own limit for a blob to be considered a pointer
_POINTER = re.compile(rb"version https://git-lfs\.github\.com/spec/v1\n(?:ext-[^\n]*\n)*"
                      rb"oid sha256:([0-9a-f]{64})\nsize (0|[1-9][0-9]*)\n\Z")


@dataclass(frozen=True)
class LfsPointer:
    oid: str  # sha256 hex of the content
    size: int

    def encode(self) -> bytes:
        return VERSION + b"oid sha256:%s\nsize %d\n" % (self.oid.encode(), self.size)


def parse(data: bytes) -> LfsPointer | None:
    """The LFS pointer `data` holds, or None when it is not one (extensions are not supported)."""
    if len(data) > MAX_POINTER_SIZE or not data.startswith(VERSION):
        return None
    match = _POINTER.match(data)
    return LfsPointer(match.group(1).decode(), int(match.group(2))) if match else None


def object_path(common_dir: Path, oid: str) -> Path:
    return common_dir / "lfs" / "objects" / oid[:2] / oid[2:4] / oid


def write_object(common_dir: Path, chunks: Iterable[bytes]) -> LfsPointer:
    """Store content in `.git/lfs/objects` (atomic: temp file, fsync, rename) and return its pointer."""
    tmp_dir = common_dir / "lfs" / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    tmp = tmp_dir / f"branchml-export-{os.getpid()}"
    digest, size = hashlib.sha256(), 0
    with open(tmp, "wb") as out:
        for data in chunks:
            digest.update(data)
            size += len(data)
            out.write(data)
        out.flush()
        os.fsync(out.fileno())
    pointer = LfsPointer(digest.hexdigest(), size)
    target = object_path(common_dir, pointer.oid)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, target)
    return pointer


class VerifyingReader:
    """Reads an LFS object for the store while hashing it; `check()` refuses content that is not `oid`."""

    def __init__(self, file: BufferedReader, pointer: LfsPointer) -> None:
        self.file = file
        self.pointer = pointer
        self.digest = hashlib.sha256()
        self.size = 0

    def readinto(self, buffer: memoryview) -> int:
        n = self.file.readinto(buffer)
        self.digest.update(buffer[:n])
        self.size += n
        return n

    def check(self, where: str) -> None:
        if self.digest.hexdigest() != self.pointer.oid or self.size != self.pointer.size:
            raise CorruptObject(f"{where}: Git LFS object {self.pointer.oid} does not match its pointer "
                                f"({self.size} bytes read, sha256 {self.digest.hexdigest()[:16]}…)",
                                hint="fetch it again: `git lfs fetch --all`, then re-run the migration")


def attributes_from_lfs(text: bytes) -> bytes:
    """`.gitattributes`: `filter=lfs diff=lfs merge=lfs` lines become branchml-tracked lines."""
    return _swap(text, {b"filter=lfs": b"filter=branchml", b"diff=lfs": b"diff=branchml", b"merge=lfs": None})


def attributes_to_lfs(text: bytes) -> bytes:
    """`.gitattributes`: branchml-tracked lines become Git LFS lines (branchml merge drivers dropped)."""
    out = []
    for line in text.splitlines(keepends=True):
        words = line.split()
        if b"filter=branchml" in words:
            kept = [w for w in words[1:] if not w.startswith((b"filter=", b"diff=", b"merge=branchml"))]
            line = b" ".join([words[0], b"filter=lfs diff=lfs merge=lfs", *kept]) + b"\n"
        out.append(line)
    return b"".join(out)


def attributes_to_plain(text: bytes) -> bytes:
    """`.gitattributes`: the branchml filter and diff attributes removed; a line left empty goes."""
    out = []
    for line in text.splitlines(keepends=True):
        words = line.split()
        if b"filter=branchml" in words:
            kept = [w for w in words[1:] if w not in (b"filter=branchml", b"diff=branchml", b"-text")]
            if not kept:
                continue
            line = b" ".join([words[0], *kept]) + b"\n"
        out.append(line)
    return b"".join(out)


def _swap(text: bytes, table: dict[bytes, bytes | None]) -> bytes:
    out = []
    for line in text.splitlines(keepends=True):
        words = line.split()
        if b"filter=lfs" in words:
            new = [words[0]] + [table.get(w, w) for w in words[1:]]
            line = b" ".join(w for w in new if w is not None) + b"\n"
        out.append(line)
    return b"".join(out)
