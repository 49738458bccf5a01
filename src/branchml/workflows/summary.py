"""What `git diff` shows for a tracked file: size, oid and, for text, its first lines."""

from __future__ import annotations

from pathlib import Path

import blake3

from branchml.errors import MalformedPointer
from branchml.store.pointer import MAX_POINTER_SIZE, looks_like_pointer, parse_pointer

PREVIEW_LINES = 5


def summarize(path: str) -> str:
    """Git hands textconv either the pointer (committed side) or the real file (work tree side)."""
    file = Path(path)
    size = file.stat().st_size
    if size <= MAX_POINTER_SIZE:
        head = file.read_bytes()
        if looks_like_pointer(head):
            try:
                pointer = parse_pointer(head, path)
                return f"branchml file\nsize {pointer.size}\noid blake3:{pointer.oid}\n"
            except MalformedPointer:
                pass
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    hasher.update_mmap(file) if size else None
    return f"branchml file\nsize {size}\noid blake3:{hasher.hexdigest()}\n"
