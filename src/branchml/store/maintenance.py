"""fsck and gc of the chunk store (the Git side, which files are reachable, is the caller's).

gc never edits a pack: it copies the live records of a pack into a new one, fsyncs it, swaps the
index rows in one transaction, then deletes the old pack. A kill at any point leaves either the old
rows or the new ones (and at worst an unindexed pack that the next open re-indexes as garbage).
Writers hold a shared lock on `gc.lock` for their lifetime; gc takes it exclusively, so a writer that
deduplicated against a chunk can never see that chunk deleted under it.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from branchml.errors import BranchmlError, CorruptObject
from branchml.store.index import PendingBatch
from branchml.store.pack import (
    KIND_CHUNK,
    KIND_FILE,
    PACK_MAGIC,
    PackWriter,
    encode_file_payload,
    is_locked,
)


@dataclass
class Problem:
    kind: str  # missing-pack | truncated-pack | bad-pack | missing-chunk | corrupt-chunk
    object_id: str
    detail: str
    files: list[str] = field(default_factory=list)  # oids of files it breaks

    def as_dict(self) -> dict:
        return {"kind": self.kind, "id": self.object_id, "detail": self.detail, "files": self.files}


def check_store(store, *, read_data: bool = False, advance: Callable[[int], None] = lambda n: None) -> list[Problem]:
    """Every chunk the index knows must lie inside an existing pack (and, with read_data, hash right)."""
    problems: dict[bytes, Problem] = {}
    sizes: dict[str, int | None] = {}
    for name in store.index.pack_states():
        path = store.packs_dir / name
        sizes[name] = path.stat().st_size if path.exists() else None
        if sizes[name] is not None and _magic(path) != PACK_MAGIC:
            problems[name.encode()] = Problem("bad-pack", name, f"{path} does not start with the pack magic")
    for cid, loc in store.index.iter_chunks():
        size = sizes.get(loc.pack)
        if size is None:
            problems[cid] = Problem("missing-chunk", cid.hex(), f"pack {loc.pack} is missing")
        elif loc.offset + loc.stored_len > size:
            problems[cid] = Problem("missing-chunk", cid.hex(), f"pack {loc.pack} is truncated at {size} bytes")
        elif read_data:
            try:
                store.read_chunk(cid, loc)
            except CorruptObject:
                problems[cid] = Problem("corrupt-chunk", cid.hex(), f"bytes at {loc.pack}:{loc.offset} do not match")
        advance(loc.raw_len)
    _attach_files(store, problems)
    return list(problems.values())


def missing_chunks_of_files(store, oids: Iterable[str]) -> list[Problem]:
    """Files (by oid) the store lacks entirely or in part: what a checkout of them would fail on."""
    out = []
    for oid in oids:
        record = store.file_record(oid)
        if record is None:
            out.append(Problem("missing-file", oid, "no file record in the store", [oid]))
            continue
        missing = store.missing_chunks(record)
        if missing:
            out.append(Problem("missing-chunk", missing[0].hex(), f"{len(missing)} chunk(s) missing", [oid]))
    return out


def _magic(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(len(PACK_MAGIC))


def _attach_files(store, problems: dict[bytes, Problem]) -> None:
    if not problems:
        return
    for oid, _size, ids in store.index.iter_files():
        for i in range(0, len(ids), 32):
            problem = problems.get(ids[i : i + 32])
            if problem is not None and len(problem.files) < 50:
                problem.files.append(oid.hex())


# -- gc ---------------------------------------------------------------------------------------
class GcLock:
    """Exclusive (gc) or shared (writers) lock on `<store>/gc.lock`."""

    def __init__(self, root: Path, exclusive: bool) -> None:
        self.fd = os.open(root / "gc.lock", os.O_RDWR | os.O_CREAT, 0o644)
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(self.fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            if exclusive:
                raise BranchmlError(
                    "another branchml process is writing to the store", hint="retry `branchml gc` when it is done"
                ) from None
            raise BranchmlError("`branchml gc` is running on this store", hint="retry when it is done") from None

    def release(self) -> None:
        if self.fd >= 0:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = -1


@dataclass
class GcReport:
    live_files: int = 0
    dead_files: int = 0
    dead_chunks: int = 0
    freed_bytes: int = 0
    packs_rewritten: int = 0
    packs_deleted: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def collect_garbage(store, live_oids: set[bytes], *, dry_run: bool = False) -> GcReport:
    """Drop every file record not in live_oids and every chunk no live file uses."""
    lock = GcLock(store.root, exclusive=True)
    try:
        return _collect(store, live_oids, dry_run)
    finally:
        lock.release()


def _collect(store, live_oids: set[bytes], dry_run: bool) -> GcReport:
    report = GcReport()
    live_chunks: set[bytes] = set()
    files_by_pack: dict[str, list[tuple[bytes, int, bytes]]] = {}
    dead_file_packs: set[str] = set()
    for oid, size, ids, pack in store.index.iter_files_with_pack():
        if oid in live_oids:
            report.live_files += 1
            live_chunks.update(ids[i : i + 32] for i in range(0, len(ids), 32))
            files_by_pack.setdefault(pack, []).append((oid, size, ids))
        else:
            report.dead_files += 1
            dead_file_packs.add(pack)
    chunks_by_pack: dict[str, list] = {}
    dead_by_pack: dict[str, int] = {}
    for cid, loc in store.index.iter_chunks():
        if cid in live_chunks:
            chunks_by_pack.setdefault(loc.pack, []).append((cid, loc))
        else:
            report.dead_chunks += 1
            report.freed_bytes += loc.stored_len
            dead_by_pack[loc.pack] = dead_by_pack.get(loc.pack, 0) + 1
    to_rewrite = [
        name for name in store.index.pack_states()
        if (name in dead_by_pack or name in dead_file_packs) and not is_locked(store.packs_dir / name)
    ]
    if dry_run or not to_rewrite:
        return report
    for name in to_rewrite:
        _rewrite_pack(store, name, chunks_by_pack.get(name, []), files_by_pack.get(name, []))
        report.packs_rewritten += 1
    return report


def _rewrite_pack(store, name: str, chunks: list, files: list) -> None:
    old_path = store.packs_dir / name
    new_name = None
    batch = PendingBatch.empty()
    if chunks or files:
        writer = PackWriter(store.packs_dir)
        for cid, loc in chunks:
            stored = os.pread(store._fd(loc.pack), loc.stored_len, loc.offset)
            offset = writer.append(KIND_CHUNK, loc.flags, cid, stored, loc.raw_len)
            batch.chunks.append((cid, offset, len(stored), loc.raw_len, loc.flags))
        for oid, size, ids in files:
            writer.append(KIND_FILE, 0, oid, encode_file_payload(size, ids), 0)
            batch.files.append((oid, size, ids))
        writer.sync()
        new_name = writer.name
        store.index.replace_pack(name, new_name, batch, writer.size)
        writer.close()
    else:
        store.index.replace_pack(name, None, batch, 0)
    store.forget_fd(name)
    old_path.unlink(missing_ok=True)
