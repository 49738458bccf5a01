"""The three files Git hands a merge driver, plain or branchml pointers, and writing the result.

A tracked large file reaches the driver as its pointer (Git merges the clean form), so the driver
reads the real content from the store and answers a new pointer; Git then smudges it on checkout.
"""

from __future__ import annotations

import filecmp
import io
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from branchml.errors import BranchmlError, MalformedPointer
from branchml.store.pointer import (
    MAX_POINTER_SIZE,
    Pointer,
    looks_like_pointer,
    parse_pointer,
)
from branchml.store.store import Store

# Opens the repository's store when a side is a pointer (plain files never need it).
OpenStore = Callable[[], Store]


@dataclass(frozen=True)
class Side:
    name: str  # "base", "ours" or "theirs"
    path: Path  # the temporary file Git gave us
    raw: bytes  # the file's bytes when it is small (a pointer, or a small plain file), else b""
    pointer: Pointer | None

    @property
    def size(self) -> int:
        return self.pointer.size if self.pointer else self.path.stat().st_size


def read_side(name: str, path: Path, where: str) -> Side:
    size = path.stat().st_size
    raw = path.read_bytes() if size <= MAX_POINTER_SIZE else b""
    pointer = None
    if looks_like_pointer(raw):
        try:
            pointer = parse_pointer(raw, f"{where} ({name})")
        except MalformedPointer:
            pointer = None  # a small plain file that merely starts like one (the filter agrees)
    return Side(name, path, raw, pointer)


def same_content(x: Side, y: Side) -> bool:
    """True when both are known to hold the same content without reading the store."""
    if x.pointer or y.pointer:
        return x.pointer == y.pointer
    return filecmp.cmp(x.path, y.path, shallow=False)  # streams: plain databases may be large


def read_bytes(side: Side, store: OpenStore, limit: int, where: str) -> bytes:
    """The side's content in memory, refusing more than `limit` bytes."""
    if side.size > limit:
        raise BranchmlError(
            f"{where}: {side.name} is {side.size} bytes, more than the {limit} this driver merges in memory",
            hint="raise `max_bytes` under [merge] in branchml.toml (or .git/branchml/local.toml), or resolve by hand",
        )
    if side.pointer is None:
        return side.path.read_bytes()
    return b"".join(store().iter_file(side.pointer, f"{where} ({side.name})"))


def to_file(side: Side, store: OpenStore, folder: Path, where: str) -> Path:
    """A path holding the side's content: Git's own file, or the store's content streamed out."""
    if side.pointer is None:
        return side.path
    target = folder / side.name
    with open(target, "wb") as out:
        for data in store().iter_file(side.pointer, f"{where} ({side.name})"):
            out.write(data)
    return target


def write_result(target: Path, content: bytes | Path, as_pointer: bool, store: OpenStore) -> None:
    """Replace Git's %A file with the merge: the content itself, or a pointer to it in the store."""
    if as_pointer:
        with store().writer() as writer:
            if isinstance(content, Path):
                with open(content, "rb") as f:
                    pointer = writer.add_stream(f)
            else:
                pointer = writer.add_stream(io.BytesIO(content))
        content = pointer.encode()
    tmp = target.with_name(f".{target.name}.branchml-{os.getpid()}.tmp")
    try:
        if isinstance(content, Path):
            shutil.copyfile(content, tmp)
        else:
            tmp.write_bytes(content)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
