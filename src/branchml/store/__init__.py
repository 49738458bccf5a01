"""The store: content-defined chunks, BLAKE3 ids, zstd, pack files and a SQLite index.

It knows nothing of Git branches; ``docs/store-format.md`` specifies the on-disk format.
"""

from branchml.store.pointer import Pointer, looks_like_pointer, parse_pointer
from branchml.store.store import FileRecord, Store

__all__ = ["Pointer", "parse_pointer", "looks_like_pointer", "Store", "FileRecord"]
