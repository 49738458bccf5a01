"""Record the stat data of files branchml just wrote straight into Git's index file.

After branchml writes a large file outside Git's pipe, the index still holds the stat data of the
pointer Git wrote, and `git update-index --refresh` would pipe every byte of the file through the
clean filter once more only to learn that it matches (docs/materialise.md). The content is known
already: it was verified chunk by chunk and as a whole before the rename. So the stat fields of
those entries are rewritten in place, the way Git's own refresh would write them
(read-cache.c: `fill_stat_data`, each field truncated to 32 bits), under Git's `index.lock`.

Only what this module understands is touched: index versions 2 to 4, a trailer that checks (SHA-1
or SHA-256), no split index (`link`) and no sparse directories (`sdir`); an entry is patched only
when it is the file's stage-0 entry and still stages the pointer branchml wrote the content of.
Anything else returns the paths not patched, and the caller refreshes those through Git as before.
Entry sizes and order never change, so extensions that hold offsets (EOIE, IEOT) stay valid.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path

STAT = struct.Struct(">10I")  # ctime s, ctime ns, mtime s, mtime ns, dev, ino, mode, uid, gid, size
HEADER = struct.Struct(">4sII")
UNSUPPORTED_EXTENSIONS = (b"link", b"sdir")
EXTENDED = 0x4000
STAGE_MASK = 0x3000
NAME_MASK = 0x0FFF
U32 = 0xFFFFFFFF
NS = 1_000_000_000


@dataclass(frozen=True)
class NewStat:
    """A work-tree file branchml wrote: the blob its entry must stage, and the file's stat now."""

    blob: str  # hex id of the pointer blob
    stat: os.stat_result


@dataclass(frozen=True)
class _Entry:
    offset: int  # of the stat fields
    path: bytes
    blob: bytes
    stage: int


def record_stat_data(index: Path, files: dict[str, NewStat]) -> set[str]:
    """Write the stat data of `files` into the index at `index`; return the paths NOT recorded."""
    wanted = {os.fsencode(path): new for path, new in files.items()}
    lock = index.with_name(index.name + ".lock")
    try:
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError:
        return set(files)  # Git is writing the index (or it cannot be locked): let Git refresh
    renamed = False
    try:
        data = bytearray(index.read_bytes())
        done = _patch(data, wanted)
        if done:
            _write_all(fd, data)
            os.close(fd)
            fd = -1
            os.replace(lock, index)
            renamed = True
    except OSError:
        done = set()
    finally:
        if fd >= 0:
            os.close(fd)
        if not renamed:
            lock.unlink(missing_ok=True)
    return {path for path in files if os.fsencode(path) not in done}


def _patch(data: bytearray, wanted: dict[bytes, NewStat]) -> set[bytes]:
    """Patch matching entries of `data` in place and re-seal its trailer; the paths patched."""
    hash_size = _trailer_hash_size(data)
    if hash_size is None or len(data) < HEADER.size:
        return set()
    signature, version, count = HEADER.unpack_from(data)
    if signature != b"DIRC" or version not in (2, 3, 4):
        return set()
    entries, end = _entries(data, version, count, hash_size)
    if entries is None or _has_unsupported_extension(data, end, len(data) - hash_size):
        return set()
    done: set[bytes] = set()
    for entry in entries:
        new = wanted.get(entry.path)
        if new is not None and entry.stage == 0 and entry.blob == bytes.fromhex(new.blob):
            _set_stat(data, entry.offset, new.stat)
            done.add(entry.path)
    if done:
        body = memoryview(data)[: len(data) - hash_size]
        data[len(data) - hash_size :] = _digest(hash_size, body)
    return done


def _trailer_hash_size(data: bytearray) -> int | None:
    """20 (SHA-1) or 32 (SHA-256): whichever checksum the trailer holds; None when neither does."""
    for size in (20, 32):
        if len(data) > size and _digest(size, memoryview(data)[:-size]) == data[-size:]:
            return size
    return None


def _digest(size: int, body: memoryview) -> bytes:
    return (hashlib.sha1 if size == 20 else hashlib.sha256)(body).digest()


def _entries(data: bytearray, version: int, count: int, hash_size: int) -> tuple[list[_Entry] | None, int]:
    """Every entry (offset of its stat fields, path, blob id, stage) and where the entries end."""
    entries: list[_Entry] = []
    pos = HEADER.size
    previous = b""
    limit = len(data) - hash_size
    try:
        for _ in range(count):
            flags_at = pos + STAT.size + hash_size
            (flags,) = struct.unpack_from(">H", data, flags_at)
            name_at = flags_at + 2 + (2 if flags & EXTENDED else 0)
            if version == 4:
                strip, name_at = _varint(data, name_at)
                name_end = data.index(0, name_at)
                path = previous[: len(previous) - strip] + bytes(data[name_at:name_end])
                following = name_end + 1
            else:
                name_end = data.index(0, name_at)
                path = bytes(data[name_at:name_end])
                following = pos + ((name_end - pos + 8) & ~7)
            if following > limit or (flags & NAME_MASK) not in (len(path), NAME_MASK):
                return None, 0
            blob = bytes(data[pos + STAT.size : flags_at])
            entries.append(_Entry(pos, path, blob, (flags & STAGE_MASK) >> 12))
            previous, pos = path, following
    except (ValueError, struct.error, IndexError):
        return None, 0
    return entries, pos


def _varint(data: bytearray, pos: int) -> tuple[int, int]:
    """Git's offset varint (varint.c): the value and the position after it."""
    c = data[pos]
    pos += 1
    value = c & 127
    while c & 128:
        c = data[pos]
        pos += 1
        value = ((value + 1) << 7) + (c & 127)
    return value, pos


def _has_unsupported_extension(data: bytearray, pos: int, end: int) -> bool:
    while pos + 8 <= end:
        signature, size = struct.unpack_from(">4sI", data, pos)
        if signature in UNSUPPORTED_EXTENSIONS:
            return True
        pos += 8 + size
    return pos != end  # extensions that do not add up: not an index this module understands


def _set_stat(data: bytearray, offset: int, st: os.stat_result) -> None:
    """The fields as read-cache.c's fill_stat_data stores them; the mode is the entry's own, kept."""
    mode = STAT.unpack_from(data, offset)[6]
    STAT.pack_into(
        data, offset,
        (st.st_ctime_ns // NS) & U32, st.st_ctime_ns % NS, (st.st_mtime_ns // NS) & U32, st.st_mtime_ns % NS,
        st.st_dev & U32, st.st_ino & U32, mode, st.st_uid & U32, st.st_gid & U32, st.st_size & U32,
    )


def _write_all(fd: int, data: bytearray) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
