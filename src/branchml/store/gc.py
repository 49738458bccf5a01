"""gc of the chunk store: drop what nothing reaches, without ever racing a writer.

The Git side (which files refs, reflogs and indexes reach) is the caller's; this module keeps the
store's half of the write-order rules of docs/store-format.md ("gc and writers"):

* `mark()` is taken before the caller computes what Git reaches. Packs that appear after it, or
  that a writer still held then, are not touched by this gc and everything they list stays live;
  files a writer reused (deduplicated against) after the mark stay live.
* The sweep runs under `gc.lock` held exclusively. Writers hold it shared for their whole life and
  wait while gc holds it, so no writer is half-way through a file during the sweep.

gc never edits a pack: it copies the live, verified records of a pack into a new one, fsyncs it,
swaps the index rows in one transaction, then deletes the old pack. A pack holding damaged bytes
is not deleted but moved to `damaged/`, and the report says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from branchml.errors import CorruptObject, MissingObject
from branchml.store.gclock import (
    GcLock as GcLock,  # re-exported: gc and writers share it
)
from branchml.store.index import ChunkLocation, PendingBatch
from branchml.store.pack import (
    KIND_CHUNK,
    KIND_FILE,
    PACK_MAGIC,
    RECORD_HEADER,
    PackWriter,
    Record,
    decode_file_payload,
    encode_file_payload,
    is_locked,
    scan_pack,
)

if TYPE_CHECKING:
    from branchml.store.store import Store

@dataclass(frozen=True)
class GcMark:
    """The store as gc found it before asking Git what is live."""

    packs: frozenset[str]  # complete packs no writer held: the only ones this gc may rewrite
    reused_seq: int  # reuses journalled up to here happened before the mark


def mark(store: Store) -> GcMark:
    store.recover()
    packs = frozenset(n for n in store.pack_names() if not is_locked(store.packs_dir / n))
    return GcMark(packs, store.index.last_reused_seq())


@dataclass
class GcReport:
    live_files: int = 0
    dead_files: int = 0
    dead_chunks: int = 0
    freed_bytes: int = 0
    packs_rewritten: int = 0
    packs_deleted: int = 0
    damaged_packs: list[str] = field(default_factory=list)  # moved to damaged/, named in the report
    dropped_corrupt: list[str] = field(default_factory=list)  # chunk ids found corrupt, not copied
    leftovers: int = 0  # tmp/ entries of killed processes removed (store/leftovers.py)
    leftover_bytes: int = 0
    dry_run: bool = False  # nothing was removed: the figures say what would be

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass
class _Plan:
    live_chunks: set[bytes] = field(default_factory=set)
    files_by_pack: dict[str, list[tuple[bytes, int, bytes]]] = field(default_factory=dict)
    chunks_by_pack: dict[str, list[tuple[bytes, ChunkLocation]]] = field(default_factory=dict)
    indexed_bytes: dict[str, int] = field(default_factory=dict)
    garbage_packs: set[str] = field(default_factory=set)


def sweep(store: Store, gc_mark: GcMark, live_oids: set[bytes], *, dry_run: bool = False) -> GcReport:
    """Drop every file record nothing keeps live and every chunk no live file uses.

    The caller holds the exclusive GcLock. Live: `live_oids` (what Git reaches), files reused since
    the mark, and everything in packs that are not part of the mark (written since gc started).
    """
    store.recover()
    live = live_oids | store.index.reused_since(gc_mark.reused_seq)
    report = GcReport(dry_run=dry_run)
    plan = _plan(store, gc_mark, live, report)
    plan.garbage_packs |= _packs_with_unindexed_bytes(store, gc_mark, plan)
    if not dry_run:
        for name in sorted(plan.garbage_packs):
            _rewrite_pack(store, name, plan, report)
        store.index.forget_reused(gc_mark.reused_seq)
        store.index.forget_unlisted_verified()
    return report


def _plan(store: Store, gc_mark: GcMark, live: set[bytes], report: GcReport) -> _Plan:
    plan = _Plan()
    for oid, size, ids, pack in store.index.iter_files_with_pack():
        plan.indexed_bytes[pack] = plan.indexed_bytes.get(pack, 0) + RECORD_HEADER.size + 8 + len(ids) + 32
        if oid in live or pack not in gc_mark.packs:
            report.live_files += 1
            plan.live_chunks.update(ids[i : i + 32] for i in range(0, len(ids), 32))
            plan.files_by_pack.setdefault(pack, []).append((oid, size, ids))
        else:
            report.dead_files += 1
            plan.garbage_packs.add(pack)
    for cid, loc in store.index.iter_chunks():
        plan.indexed_bytes[loc.pack] = plan.indexed_bytes.get(loc.pack, 0) + RECORD_HEADER.size + loc.stored_len
        if cid in plan.live_chunks or loc.pack not in gc_mark.packs:
            plan.chunks_by_pack.setdefault(loc.pack, []).append((cid, loc))
        else:
            report.dead_chunks += 1
            report.freed_bytes += loc.stored_len
            plan.garbage_packs.add(loc.pack)
    plan.garbage_packs &= gc_mark.packs
    return plan


def _packs_with_unindexed_bytes(store: Store, gc_mark: GcMark, plan: _Plan) -> set[str]:
    """Packs holding bytes no index row points to: a second copy of content two writers stored at
    once, a killed writer's torn tail, or records set aside as damaged. Rewriting reclaims them."""
    out = set()
    quarantined = {row[2] for row in store.index.quarantined()}
    for name in gc_mark.packs:
        path = store.packs_dir / name
        if not path.exists():
            continue
        expected = len(PACK_MAGIC) + plan.indexed_bytes.get(name, 0)
        if path.stat().st_size > expected or name in quarantined or _magic(path) != PACK_MAGIC:
            out.add(name)
    return out


def _magic(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(len(PACK_MAGIC))


def _rewrite_pack(store: Store, name: str, plan: _Plan, report: GcReport) -> None:
    """Copy the pack's live records, each verified, into a new pack; then retire the old one."""
    old_path = store.packs_dir / name
    scan = scan_pack(old_path)
    valid = {(r.kind, r.offset) for r in scan.records}
    batch = PendingBatch.empty()
    writer: PackWriter | None = None
    for cid, loc in plan.chunks_by_pack.get(name, []):
        stored = _verified_chunk(store, cid, loc, valid, report)
        if stored is None:
            continue
        writer = writer or PackWriter(store.packs_dir)
        offset = writer.append(KIND_CHUNK, loc.flags, cid, stored, loc.raw_len)
        batch.chunks.append((cid, offset, len(stored), loc.raw_len, loc.flags))
    intact = {r.id: r for r in scan.records if r.kind == KIND_FILE}
    for oid, _size, _ids in plan.files_by_pack.get(name, []):
        record = intact.get(oid)
        if record is None:
            continue  # the pack's copy of this record is damaged: not carried over (fsck names it)
        size, ids = _file_payload(old_path, record)  # the verified record, not the index's copy
        writer = writer or PackWriter(store.packs_dir)
        writer.append(KIND_FILE, 0, oid, encode_file_payload(size, ids), 0)
        batch.files.append((oid, size, ids))
    if writer is not None:
        writer.sync()
        store.index.replace_pack(name, writer.name, batch, writer.size)
        writer.close()
    else:
        store.index.replace_pack(name, None, batch, 0)
    store.index.forget_quarantine(name)
    store.forget_fd(name)
    _retire(store, old_path, scan.damaged, report)
    report.packs_rewritten += 1


def _file_payload(path: Path, record: Record) -> tuple[int, bytes]:
    with open(path, "rb") as f:
        f.seek(record.offset)
        decoded = decode_file_payload(f.read(record.stored_len))
    assert decoded is not None  # scan_pack verified it
    return decoded


def _verified_chunk(store: Store, cid: bytes, loc: ChunkLocation, valid: set[tuple[bytes, int]], report: GcReport) -> bytes | None:
    """The chunk's stored bytes if its record is intact, else None (and the report names it)."""
    if (KIND_CHUNK, loc.offset) in valid:
        return os.pread(store.pack_fd(loc.pack), loc.stored_len, loc.offset)
    try:
        store.read_chunk(cid, loc)  # payload intact under a damaged header: still copy it
        return os.pread(store.pack_fd(loc.pack), loc.stored_len, loc.offset)
    except (CorruptObject, MissingObject):
        report.dropped_corrupt.append(cid.hex())
        return None


def _retire(store: Store, old_path: Path, damaged: list[tuple[int, int]], report: GcReport) -> None:
    """Delete a rewritten pack, unless it holds damaged bytes: those may be someone's only copy."""
    if not damaged:
        old_path.unlink(missing_ok=True)
        report.packs_deleted += 1
        return
    keep = store.root / "damaged"
    keep.mkdir(exist_ok=True)
    os.replace(old_path, keep / old_path.name)
    report.damaged_packs.append(str(keep / old_path.name))
