"""Pack files: append-only logs of self-describing records (see docs/store-format.md).

Each writer process appends to a pack of its own, held under an exclusive flock, so writers never
share a file. Records are written (a write() syscall, not just a Python buffer) before Git is told
the file's pointer, so a killed process leaves them in the pack; the index is only a cache of what
packs hold, and the records past a pack's indexed end are recovered by :func:`scan_pack`.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import re
import secrets
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import blake3

from branchml.errors import NoSpace, is_disk_full
from branchml.store.chunk import FLAG_ZSTD, decode_chunk

PACK_MAGIC = b"BMLPACK\x01"
# kind, flags, reserved, stored length, raw length, id
RECORD_HEADER = struct.Struct("<cBHII32s")
KIND_CHUNK = b"C"
KIND_FILE = b"F"
MAX_RECORD = 64 << 20  # a file record of 2M chunk ids is still under this
FILE_CHECK_LEN = 32
WRITEV_PARTS = 512  # header + payload per record, under IOV_MAX (1024 on Linux)
# Bytes per writev: 4 MiB writes cost twice the system time of 1 MiB ones here (bench/RESULTS.md)
WRITEV_BYTES = 1 << 20


@dataclass(frozen=True)
class Record:
    kind: bytes
    flags: int
    id: bytes
    offset: int  # of the payload
    stored_len: int
    raw_len: int


def new_pack_name() -> str:
    return f"pack-{secrets.token_hex(12)}.pack"


def encode_file_payload(size: int, chunk_ids: bytes) -> bytes:
    body = struct.pack("<Q", size) + chunk_ids
    return body + blake3.blake3(body).digest()


def decode_file_payload(payload: bytes | memoryview) -> tuple[int, bytes] | None:
    """(size, concatenated chunk ids), or None when the payload fails its check."""
    body, check = payload[:-FILE_CHECK_LEN], payload[-FILE_CHECK_LEN:]
    if len(body) < 8 or (len(body) - 8) % 32 or blake3.blake3(body).digest() != check:
        return None
    return struct.unpack_from("<Q", body)[0], bytes(body[8:])


class PackWriter:
    """Appends records to one new pack file that this process alone writes."""

    def __init__(self, packs_dir: Path) -> None:
        self.name = new_pack_name()
        self.path = packs_dir / self.name
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        self.size = 0
        try:
            self._write(PACK_MAGIC)
        except NoSpace:
            os.close(self._fd)
            self._fd = -1
            self.path.unlink(missing_ok=True)  # a pack without its magic would read as damaged
            raise

    def _write(self, data: bytes | memoryview) -> None:
        start = self.size
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:
            self._give_back(start, exc)
        self.size += len(data)

    def append(self, kind: bytes, flags: int, record_id: bytes, payload: bytes | memoryview, raw_len: int) -> int:
        """Write one record; return the offset of its payload."""
        header = RECORD_HEADER.pack(kind, flags, 0, len(payload), raw_len, record_id)
        offset = self.size + len(header)
        try:
            written = os.writev(self._fd, [header, payload])  # one syscall per record
        except OSError as exc:
            self._give_back(self.size, exc)
        total = len(header) + len(payload)
        if written < total:  # short write: finish the rest plainly
            start = self.size
            rest = memoryview(header + bytes(payload))[written:]
            self.size += written
            try:
                self._write(rest)
            except NoSpace:
                self.size = start
                os.ftruncate(self._fd, start)
                raise
        else:
            self.size += total
        return offset

    def append_many(self, records: list[tuple[bytes, int, bytes, bytes | memoryview, int]]) -> list[int]:
        """Write records (kind, flags, id, payload, raw length), a writev per MiB or so; return their
        payload offsets. On a failure none of them counts: the pack is cut back."""
        start = self.size
        offsets: list[int] = []
        parts: list[bytes | memoryview] = []
        end = start
        for kind, flags, record_id, payload, raw_len in records:
            parts.append(RECORD_HEADER.pack(kind, flags, 0, len(payload), raw_len, record_id))
            parts.append(payload)
            offsets.append(end + RECORD_HEADER.size)
            end += RECORD_HEADER.size + len(payload)
        try:
            for group in _writev_groups(parts):
                self._write_parts(group)
        except OSError as exc:
            self._give_back(start, exc)
        return offsets

    def _write_parts(self, parts: list[bytes | memoryview]) -> None:
        total = sum(len(p) for p in parts)
        written = os.writev(self._fd, parts)
        self.size += written
        if written < total:  # a short write: finish the rest plainly
            rest = memoryview(b"".join(parts))[written:]
            while rest:
                n = os.write(self._fd, rest)
                rest = rest[n:]
                self.size += n

    def _give_back(self, end: int, exc: OSError) -> NoReturn:
        """A failed write: cut the pack back to its last whole record, then raise (NoSpace when the disk is full)."""
        os.ftruncate(self._fd, end)
        self.size = end
        if is_disk_full(exc):
            raise NoSpace(self.path) from exc
        raise exc

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1


def _writev_groups(parts: list[bytes | memoryview]) -> list[list[bytes | memoryview]]:
    """Consecutive parts in groups of about WRITEV_BYTES, at most WRITEV_PARTS each, records whole."""
    groups: list[list[bytes | memoryview]] = [[]]
    size = 0
    for header, payload in zip(parts[::2], parts[1::2]):
        if groups[-1] and (size >= WRITEV_BYTES or len(groups[-1]) >= WRITEV_PARTS):
            groups.append([])
            size = 0
        groups[-1] += [header, payload]
        size += len(header) + len(payload)
    return groups


def is_locked(path: Path) -> bool:
    """True when a live writer holds the pack (its tail is still growing)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def record_is_valid(record: Record, payload: bytes | memoryview) -> bool:
    if record.kind == KIND_FILE:
        return decode_file_payload(payload) is not None
    data = decode_chunk(payload, record.flags, record.raw_len)
    return data is not None and blake3.blake3(data).digest() == record.id


# A record header as a writer makes it: kind C or F, flags 0 or 1, reserved 0. Resynchronising after
# damage looks for this pattern and takes a position only if the whole record verifies.
_HEADER_START = re.compile(rb"[CF][\x00\x01]\x00\x00")


@dataclass
class PackScan:
    """What a full, verified scan of one pack found."""

    records: list[Record] = field(default_factory=list)
    damaged: list[tuple[int, int]] = field(default_factory=list)  # byte spans no valid record covers
    bad_magic: bool = False
    torn_tail: int | None = None  # offset of an incomplete last record (a killed writer, or a cut)


def scan_pack(path: Path, start: int = 0) -> PackScan:
    """Every valid record of a pack, resynchronising past damaged bytes instead of stopping there.

    Records are self-verifying (BLAKE3 of a chunk, checksum of a file record), so a record found
    after damage is as trustworthy as any other. The spans between valid records are reported.
    """
    scan = PackScan()
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return scan
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            pos = start
            if start == 0:
                scan.bad_magic = data[: len(PACK_MAGIC)] != PACK_MAGIC
                pos = len(PACK_MAGIC)
                if scan.bad_magic:
                    scan.damaged.append((0, min(size, len(PACK_MAGIC))))
            while pos < size:
                record = _record_at(data, pos, size)
                if record is not None:
                    scan.records.append(record)
                    pos = record.offset + record.stored_len
                    continue
                following = _next_record(data, pos + 1, size)
                if following is None:
                    if _is_torn(data, pos, size):
                        scan.torn_tail = pos
                    else:
                        scan.damaged.append((pos, size))
                    break
                scan.damaged.append((pos, following.offset - RECORD_HEADER.size))
                pos = following.offset - RECORD_HEADER.size
    return scan


def _record_at(data: mmap.mmap, pos: int, size: int) -> Record | None:
    if pos + RECORD_HEADER.size > size:
        return None
    kind, flags, reserved, stored_len, raw_len, record_id = RECORD_HEADER.unpack_from(data, pos)
    if kind not in (KIND_CHUNK, KIND_FILE) or reserved or flags > FLAG_ZSTD or stored_len > MAX_RECORD:
        return None
    offset = pos + RECORD_HEADER.size
    if offset + stored_len > size:
        return None
    record = Record(kind, flags, record_id, offset, stored_len, raw_len)
    return record if record_is_valid(record, data[offset : offset + stored_len]) else None


def _next_record(data: mmap.mmap, pos: int, size: int) -> Record | None:
    for match in _HEADER_START.finditer(data, pos):
        record = _record_at(data, match.start(), size)
        if record is not None:
            return record
    return None


def _is_torn(data: mmap.mmap, pos: int, size: int) -> bool:
    """An incomplete last record: a header cut short, or a plausible header whose payload is cut."""
    if pos + RECORD_HEADER.size > size:
        return True
    kind, flags, reserved, stored_len, _raw, _id = RECORD_HEADER.unpack_from(data, pos)
    plausible = kind in (KIND_CHUNK, KIND_FILE) and not reserved and flags <= FLAG_ZSTD and stored_len <= MAX_RECORD
    return plausible and pos + RECORD_HEADER.size + stored_len > size
