"""What `git diff` shows for a tracked file (`diff=branchml` textconv).

Text data (CSV, TSV, JSONL) up to `[diff] textconv_max_bytes` is shown as its content, so Git's own
line diff gives a row-level diff; anything else, larger, or not in the local store is shown as a
summary (size, oid, and why the content is not shown). Read-only: the store is opened without its
remote fetcher, so `git diff` and `git blame` never download into it or add anything to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import blake3

from branchml import config
from branchml.errors import BranchmlError, MalformedPointer
from branchml.git import cmd
from branchml.settings import DiffSettings
from branchml.store.pointer import (
    MAX_POINTER_SIZE,
    Pointer,
    looks_like_pointer,
    parse_pointer,
)
from branchml.store.store import Store

TEXT_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".txt")


def textconv(path: str, out: BinaryIO) -> None:
    """Git hands textconv either the pointer (committed side) or the real file (work tree side)."""
    file = Path(path)
    size = file.stat().st_size
    pointer = _pointer_in(file, size)
    limit = _limit()
    if pointer is None:
        if _is_text(path) and size <= limit:
            with open(file, "rb") as source:
                while piece := source.read(1 << 20):
                    out.write(piece)
            return
        out.write(summary(size, _hash(file, size), _why_not(path, size, limit)).encode())
        return
    if _is_text(path) and pointer.size <= limit and _write_local(pointer, out):
        return
    out.write(summary(pointer.size, pointer.oid, _why_not(path, pointer.size, limit, local=False)).encode())


def summary(size: int, oid: str, note: str = "") -> str:
    return f"branchml file\nsize {size}\noid blake3:{oid}\n" + (f"({note})\n" if note else "")


def _pointer_in(file: Path, size: int) -> Pointer | None:
    if size > MAX_POINTER_SIZE:
        return None
    head = file.read_bytes()
    if not looks_like_pointer(head):
        return None
    try:
        return parse_pointer(head, str(file))
    except MalformedPointer:
        return None


def _write_local(pointer: Pointer, out: BinaryIO) -> bool:
    """Stream the content from the local store (verified); False when it is not all there."""
    try:
        store = Store(cmd.common_dir() / "branchml", create=False)
    except BranchmlError:
        return False
    try:
        record = store.file_record(pointer.oid)
        if record is None or store.missing_chunks(record):
            return False
        out.writelines(store.iter_file(pointer))
        return True
    finally:
        store.close()


def _limit() -> int:
    try:
        settings = config.load(cmd.toplevel(), cmd.common_dir() / "branchml")
    except BranchmlError:
        return DiffSettings().textconv_max_bytes
    return DiffSettings.from_config(settings).textconv_max_bytes


def _is_text(path: str) -> bool:
    return path.lower().endswith(TEXT_SUFFIXES)


def _why_not(path: str, size: int, limit: int, *, local: bool = True) -> str:
    if not _is_text(path):
        return ""
    if size > limit:
        return f"content not shown: {size} bytes is above [diff] textconv_max_bytes ({limit}); use `branchml diff`"
    return "" if local else "content not shown: not in the local store; `branchml fetch` it first"


def _hash(file: Path, size: int) -> str:
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    if size:
        hasher.update_mmap(file)
    return hasher.hexdigest()
