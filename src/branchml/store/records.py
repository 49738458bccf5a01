"""Raw records in and out of the store, for transports (remotes) that move chunks as stored.

A chunk travels in its stored form (zstd or raw, as in the pack) with its flags; a file record
travels as its pack payload. Nothing enters the store unverified: `insert_records` checks every
chunk's BLAKE3 and every file payload's checksum before writing a byte, and writes nothing when
one fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from branchml.errors import CorruptObject, MissingObject
from branchml.store import store as _store
from branchml.store.gc import GcLock
from branchml.store.index import PendingBatch
from branchml.store.pack import (
    KIND_CHUNK,
    KIND_FILE,
    PackWriter,
    Record,
    decode_file_payload,
    encode_file_payload,
    record_is_valid,
)
from branchml.store.store import Store

CHECKERS = max(2, min(4, os.cpu_count() or 2))


@dataclass(frozen=True)
class RawRecord:
    kind: bytes  # KIND_CHUNK or KIND_FILE
    flags: int
    id: bytes
    raw_len: int  # 0 for file records
    payload: bytes | memoryview


def stored_chunks(store: Store, chunk_ids: Iterable[bytes]) -> Iterator[RawRecord]:
    """Chunks as stored in their packs (still compressed), each verified before it leaves the store."""
    ids = list(chunk_ids)
    for start in range(0, len(ids), 512):
        part = ids[start : start + 512]
        locations = store.index.chunk_locations(part)
        for chunk_id in part:
            loc = locations.get(chunk_id)
            if loc is None:
                raise MissingObject(f"chunk {chunk_id.hex()[:16]}… is not in the local store", hint="run `branchml fsck`")
            payload = os.pread(store.pack_fd(loc.pack), loc.stored_len, loc.offset)
            record = RawRecord(KIND_CHUNK, loc.flags, chunk_id, loc.raw_len, payload)
            if not is_valid(record):
                raise CorruptObject(
                    f"chunk {chunk_id.hex()[:16]}… in {loc.pack} is corrupt", hint="run `branchml fsck` before pushing"
                )
            yield record


def file_records(store: Store, oids: Iterable[bytes]) -> Iterator[RawRecord]:
    for oid in oids:
        yield file_record(store, oid)


def file_record(store: Store, oid: bytes) -> RawRecord:
    row = store.index.file(oid)
    if row is None:
        raise MissingObject(f"file {oid.hex()[:16]}… is not in the local store", hint="run `branchml fsck`")
    return RawRecord(KIND_FILE, 0, oid, 0, encode_file_payload(row[0], row[1]))


def file_chunk_ids(record: RawRecord) -> list[bytes]:
    """The chunk ids a (valid) file record lists, in order."""
    decoded = decode_file_payload(record.payload)
    if decoded is None:
        raise CorruptObject(f"file record {record.id.hex()[:16]}… fails its checksum")
    ids = decoded[1]
    return [ids[i : i + 32] for i in range(0, len(ids), 32)]


def is_valid(record: RawRecord) -> bool:
    probe = Record(record.kind, record.flags, record.id, 0, len(record.payload), record.raw_len)
    return record.kind in (KIND_CHUNK, KIND_FILE) and record_is_valid(probe, record.payload)


class RecordInserter:
    """Adds verified records to one pack that stays open across batches (a fetcher called per file
    must not leave a pack per file). Each batch is fsynced and indexed before `insert` returns."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.pack: PackWriter | None = None
        self.gc_lock = GcLock(store.root, exclusive=False)  # a writer like any other (docs/store-format.md)
        self._checkers: ThreadPoolExecutor | None = None

    def insert(self, records: Iterable[RawRecord], where: str = "") -> int:
        """Add the records the store lacks, all checked first; return how many were added."""
        records = list(records)
        bad = self._first_invalid(records)
        if bad is not None:
            raise _corrupt(bad, where)
        if self.pack is not None and self.pack.size >= _store.PACK_TARGET_SIZE:
            self._close_pack()  # only between batches: a batch's rows all name one pack
        batch = PendingBatch.empty()
        seen: set[tuple[bytes, bytes]] = set()
        present = self.store.index.known_chunks([r.id for r in records if r.kind == KIND_CHUNK])  # one query
        new: list[RawRecord] = []
        for record in records:
            key = (record.kind, record.id)  # a one-chunk file's oid is also its chunk's id
            if key in seen or (record.id in present if record.kind == KIND_CHUNK else _present(self.store, record)):
                if record.kind == KIND_FILE:
                    batch.reused.append(record.id)  # a gc that marked it dead must keep it
                continue
            seen.add(key)
            new.append(record)
        offsets = self._pack().append_many([(r.kind, r.flags, r.id, r.payload, r.raw_len) for r in new]) if new else []
        for record, offset in zip(new, offsets, strict=True):
            _add_to_batch(batch, record, offset)  # one writev per few hundred records, not one per record
        if seen:
            pack = self._pack()
            pack.sync()
            self.store.index.commit(pack.name, batch, pack.size, pack.size)
        else:
            self.store.index.record_reused(batch.reused)
        return len(seen)

    def _first_invalid(self, records: list[RawRecord]) -> RawRecord | None:
        """Check every record, on CHECKERS threads (BLAKE3 and zstd release the GIL)."""
        if len(records) < 64:
            return next((r for r in records if not is_valid(r)), None)
        self._checkers = self._checkers or ThreadPoolExecutor(CHECKERS, thread_name_prefix="branchml-verify")
        step = -(-len(records) // CHECKERS)
        parts = [records[i : i + step] for i in range(0, len(records), step)]
        found = self._checkers.map(lambda part: next((r for r in part if not is_valid(r)), None), parts)
        return next((r for r in found if r is not None), None)

    def _pack(self) -> PackWriter:
        if self.pack is None:
            self.pack = PackWriter(self.store.packs_dir)
        return self.pack

    def _close_pack(self) -> None:
        if self.pack is not None:
            self.pack.close()
            self.pack = None

    def close(self) -> None:
        self._close_pack()
        self.gc_lock.release()
        if self._checkers is not None:
            self._checkers.shutdown()
            self._checkers = None


def insert_records(store: Store, records: Iterable[RawRecord], where: str = "") -> int:
    """One batch in a pack of its own (see RecordInserter)."""
    inserter = RecordInserter(store)
    try:
        return inserter.insert(records, where)
    finally:
        inserter.close()


def _corrupt(record: RawRecord, where: str) -> CorruptObject:
    what = "chunk" if record.kind == KIND_CHUNK else "file record"
    return CorruptObject(
        f"{where}: {what} {record.id.hex()[:16]}… does not match its id; nothing was stored",
        hint="the remote holds damaged data: run `branchml fsck` where it was pushed from, then push again",
    )


def _present(store: Store, record: RawRecord) -> bool:
    """A file record's presence (chunks are asked of the index a batch at a time)."""
    return store.index.file(record.id) is not None


def _add_to_batch(batch: PendingBatch, record: RawRecord, offset: int) -> None:
    if record.kind == KIND_CHUNK:
        batch.chunks.append((record.id, offset, len(record.payload), record.raw_len, record.flags))
    else:
        size, ids = decode_file_payload(record.payload)  # type: ignore[misc]  # validated above
        batch.files.append((record.id, size, ids))
