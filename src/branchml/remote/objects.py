"""The remote's two object kinds, both immutable and named by the BLAKE3 of their bytes.

- ``packs/<hash>.pack``: a pack in the local pack format (magic, then records).
- ``indexes/<hash>.idx``: which records a pack holds and where; written after its pack, so an
  index that exists always points at a complete pack.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import blake3

from branchml.errors import CorruptObject
from branchml.store.pack import PACK_MAGIC, RECORD_HEADER
from branchml.store.records import RawRecord

INDEX_MAGIC = b"BMLRIDX1"
ENTRY = struct.Struct("<cB32sQII")  # kind, flags, id, payload offset, stored length, raw length
HASH_LEN = 64


@dataclass(frozen=True)
class RemoteRecord:
    kind: bytes
    flags: int
    id: bytes
    pack: str  # hex hash of the pack
    offset: int
    stored_len: int
    raw_len: int


def object_hash(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def encode_index(pack: str, records: Iterable[RemoteRecord]) -> bytes:
    records = list(records)
    body = [INDEX_MAGIC, pack.encode(), struct.pack("<I", len(records))]
    body += [ENTRY.pack(r.kind, r.flags, r.id, r.offset, r.stored_len, r.raw_len) for r in records]
    return b"".join(body)


def decode_index(data: bytes, name: str) -> list[RemoteRecord]:
    """Records of an index object, after checking that its bytes hash to its name."""
    if object_hash(data) != name:
        raise CorruptObject(f"remote index {name[:16]}… does not match its name (damaged or tampered with)")
    head = len(INDEX_MAGIC) + HASH_LEN + 4
    if not data.startswith(INDEX_MAGIC) or len(data) < head:
        raise CorruptObject(f"remote index {name[:16]}… is not a branchml v1 index")
    pack = data[len(INDEX_MAGIC) : len(INDEX_MAGIC) + HASH_LEN].decode("ascii", "replace")
    (count,) = struct.unpack_from("<I", data, head - 4)
    if len(data) != head + count * ENTRY.size:
        raise CorruptObject(f"remote index {name[:16]}… has the wrong length")
    return [RemoteRecord(k, f, i, pack, o, s, r) for k, f, i, o, s, r in ENTRY.iter_unpack(data[head:])]


class PackBuilder:
    """Builds one remote pack in a local temp file, hashing it as it goes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "wb")
        self._hash = blake3.blake3()
        self.size = 0
        self.entries: list[tuple[bytes, int, bytes, int, int, int]] = []
        self._write(PACK_MAGIC)

    def _write(self, data: bytes | memoryview) -> None:
        self._file.write(data)
        self._hash.update(data)
        self.size += len(data)

    def add(self, record: RawRecord) -> None:
        self._write(RECORD_HEADER.pack(record.kind, record.flags, 0, len(record.payload), record.raw_len, record.id))
        self.entries.append((record.kind, record.flags, record.id, self.size, len(record.payload), record.raw_len))
        self._write(record.payload)

    def finish(self) -> tuple[str, bytes]:
        """Sync and close the file; return (pack hash, index object bytes)."""
        self._file.flush()
        os.fsync(self._file.fileno())  # a pack published by rename must be whole on disk first
        self._file.close()
        pack = self._hash.hexdigest()
        records = [RemoteRecord(k, f, i, pack, o, s, r) for k, f, i, o, s, r in self.entries]
        return pack, encode_index(pack, records)

    def discard(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)
