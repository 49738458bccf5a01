"""The store: content-defined chunks, BLAKE3 ids, zstd, pack files and a SQLite index.

It knows nothing of Git branches; ``docs/store-format.md`` specifies the on-disk format.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from branchml.store.pointer import Pointer, looks_like_pointer, parse_pointer

if TYPE_CHECKING:
    from branchml.store.store import FileRecord, Store

__all__ = ["Pointer", "parse_pointer", "looks_like_pointer", "Store", "FileRecord"]


def __getattr__(name: str) -> Any:
    """`Store` and `FileRecord` load store.py on first use: the commit hooks read pointers
    (store/pointer.py) but never open a store, and store.py's modules (SQLite, zstd, BLAKE3,
    FastCDC) took about 25 ms of each hook's start."""
    if name in ("Store", "FileRecord"):
        return getattr(importlib.import_module("branchml.store.store"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
