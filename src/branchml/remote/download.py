"""Fetch: bring files and chunks from a remote into the local store, every record verified.

Reads are grouped by pack and neighbouring records are fetched as one range; a batch is checked
whole (each chunk's BLAKE3, each file record's checksum) before any of it is stored, so a remote
that returns wrong bytes is reported and nothing of that batch is kept.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from branchml.errors import CorruptObject, MissingObject
from branchml.remote.catalog import Catalog
from branchml.remote.objects import RemoteRecord
from branchml.remote.storage import RemoteStorage
from branchml.store import records as rec
from branchml.store.pack import KIND_CHUNK, KIND_FILE
from branchml.store.store import Store

MAX_GAP = 256 << 10  # fetch the gap rather than start a new range
MAX_RANGE = 16 << 20
BATCH_BYTES = 32 << 20  # held in memory before being verified and stored
READ_AHEAD = 2  # batches read while the current one is verified: memory <= (1 + READ_AHEAD) batches


@dataclass
class FetchReport:
    remote: str
    files: int = 0
    chunks: int = 0
    bytes: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def fetch(store: Store, storage: RemoteStorage, catalog: Catalog, file_oids: list[bytes], chunk_ids: list[bytes],
          advance: Callable[[int], None] = lambda n: None, inserter: rec.RecordInserter | None = None) -> FetchReport:
    """Make `file_oids` (with all their chunks) and `chunk_ids` present in the local store."""
    own = inserter is None
    inserter = inserter or rec.RecordInserter(store)
    try:
        return _fetch(store, storage, catalog, file_oids, chunk_ids, advance, inserter)
    finally:
        if own:
            inserter.close()


def fetch_file_records(store: Store, storage: RemoteStorage, catalog: Catalog, file_oids: list[bytes]) -> int:
    """Only the records of `file_oids` (their chunk lists), none of their chunks: for ranged reads."""
    inserter = rec.RecordInserter(store)
    try:
        wanted = [oid for oid in dict.fromkeys(file_oids) if store.index.file(oid) is None]
        return _download(inserter, storage, catalog, wanted, KIND_FILE, FetchReport(storage.spec.name), lambda n: None)
    finally:
        inserter.close()


def _fetch(store: Store, storage: RemoteStorage, catalog: Catalog, file_oids: list[bytes], chunk_ids: list[bytes],
           advance: Callable[[int], None], inserter: rec.RecordInserter) -> FetchReport:
    report = FetchReport(storage.spec.name)
    files = [oid for oid in dict.fromkeys(file_oids) if store.index.file(oid) is None]
    report.files = _download(inserter, storage, catalog, files, KIND_FILE, report, advance)
    wanted = dict.fromkeys(chunk_ids)
    for oid in dict.fromkeys(file_oids):
        row = store.index.file(oid)
        if row is not None:
            wanted.update(dict.fromkeys(row[1][i : i + 32] for i in range(0, len(row[1]), 32)))
    present = store.index.known_chunks(list(wanted))  # one query per 500 ids, not one per chunk
    chunks = [cid for cid in wanted if cid not in present]
    report.chunks = _download(inserter, storage, catalog, chunks, KIND_CHUNK, report, advance)
    return report


def _download(inserter: rec.RecordInserter, storage: RemoteStorage, catalog: Catalog, ids: list[bytes], kind: bytes,
              report: FetchReport, advance: Callable[[int], None]) -> int:
    """One plan for every id: sorted by pack and offset, read in coalesced ranges, the next batch
    read (on one thread: transports need not be thread-safe) while this one is verified and stored."""
    if not ids:
        return 0
    located = locate(catalog, ids, kind)
    plan = read_plan(located.values())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="branchml-fetch") as reader:
        ahead = deque(reader.submit(read_records, storage, pack, batch) for pack, batch in plan[:READ_AHEAD])
        for i, (pack, batch) in enumerate(plan):
            raw = ahead.popleft().result()
            if i + READ_AHEAD < len(plan):
                ahead.append(reader.submit(read_records, storage, *plan[i + READ_AHEAD]))
            inserter.insert(raw, where=f"blob remote {storage.spec.name!r}, pack {pack[:16]}…")
            size = sum(r.stored_len for r in batch)
            report.bytes += size
            advance(size)
    return len(located)


def locate(catalog: Catalog, ids: list[bytes], kind: bytes) -> dict[bytes, RemoteRecord]:
    """Where the remote holds each id; refreshes the catalog once if some are not known yet."""
    found = catalog.lookup(ids, kind)
    if len(found) < len(ids):
        catalog.refresh()
        found = catalog.lookup(ids, kind)
    missing = [i for i in ids if i not in found]
    if missing:
        spec = catalog.storage.spec
        raise MissingObject(
            f"blob remote {spec.name!r} ({spec.url}) lacks {len(missing)} {'file' if kind == KIND_FILE else 'chunk'}(s) "
            f"(first {missing[0].hex()[:16]}…)",
            hint="whoever committed them has not pushed their blobs: ask them to run `branchml push`",
        )
    return found


def read_plan(located: Iterable[RemoteRecord]) -> list[tuple[str, list[RemoteRecord]]]:
    """(pack, records) batches of at most BATCH_BYTES, by pack and offset: the order reads coalesce in."""
    by_pack: dict[str, list[RemoteRecord]] = defaultdict(list)
    for record in located:
        by_pack[record.pack].append(record)
    return [(pack, batch) for pack, records in sorted(by_pack.items())
            for batch in _batches(sorted(records, key=lambda r: r.offset))]


def _batches(records: list[RemoteRecord]) -> list[list[RemoteRecord]]:
    batches: list[list[RemoteRecord]] = []
    current: list[RemoteRecord] = []
    size = 0
    for record in records:
        if current and size + record.stored_len > BATCH_BYTES:
            batches.append(current)
            current, size = [], 0
        current.append(record)
        size += record.stored_len
    return batches + ([current] if current else [])


def read_records(storage: RemoteStorage, pack: str, records: list[RemoteRecord]) -> list[rec.RawRecord]:
    """Payloads of records of one pack (sorted by offset), fetched as few coalesced ranges."""
    ranges: list[list[int]] = []
    for r in records:
        end = r.offset + r.stored_len
        if ranges and r.offset - ranges[-1][1] <= MAX_GAP and end - ranges[-1][0] <= MAX_RANGE:
            ranges[-1][1] = max(ranges[-1][1], end)
        else:
            ranges.append([r.offset, end])
    blobs = storage.read_ranges(pack, [(s, e) for s, e in ranges])
    out, i = [], 0
    for r in records:
        while r.offset >= ranges[i][1]:
            i += 1
        start = r.offset - ranges[i][0]
        payload = memoryview(blobs[i])[start : start + r.stored_len]  # no copy
        if len(payload) != r.stored_len:
            raise CorruptObject(
                f"blob remote {storage.spec.name!r}: pack {pack[:16]}… is shorter than its index says "
                "(truncated); nothing was stored",
                hint="the remote copy is damaged: push again from a clone that has the data (`branchml push`)",
            )
        out.append(rec.RawRecord(r.kind, r.flags, r.id, r.raw_len, payload))
    return out


def remote_file_chunks(storage: RemoteStorage, catalog: Catalog, oids: list[bytes]) -> dict[bytes, list[bytes]]:
    """Chunk lists of the files the remote's catalog lists, read from its file records (verified)."""
    located = catalog.lookup(oids, KIND_FILE)
    out: dict[bytes, list[bytes]] = {}
    by_pack: dict[str, list[RemoteRecord]] = defaultdict(list)
    for record in located.values():
        by_pack[record.pack].append(record)
    for pack, records in by_pack.items():
        for raw in read_records(storage, pack, sorted(records, key=lambda r: r.offset)):
            if not rec.is_valid(raw):
                raise CorruptObject(f"blob remote {storage.spec.name!r}: file record {raw.id.hex()[:16]}… is damaged")
            out[raw.id] = rec.file_chunk_ids(raw)
    return out
