"""The Store: put a stream in, get a pointer; give a pointer, get the verified bytes back."""

from __future__ import annotations

import io
import os
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, overload

import blake3
from pyfastcdc import FastCDC

from branchml.errors import CorruptObject, MissingObject, NoSpace, StoreFormatError
from branchml.files import write_atomic
from branchml.store.chunk import ChunkEncoder, decode_chunk
from branchml.store.cutting import Cutter, Previous
from branchml.store.gclock import GcLock
from branchml.store.index import ChunkLocation, Index, PendingBatch, StatKey
from branchml.store.pack import (
    KIND_CHUNK,
    KIND_FILE,
    PackWriter,
    Record,
    decode_file_payload,
    encode_file_payload,
    is_locked,
    scan_pack,
)
from branchml.store.pointer import Pointer
from branchml.store.verified import listing_digest

FORMAT_LINE = "branchml-store 1\n"
AVG_CHUNK = 64 * 1024
MIN_CHUNK = 16 * 1024
MAX_CHUNK = 256 * 1024
PACK_TARGET_SIZE = 256 << 20
# Commit the index at least this often while a long `git add` runs.
COMMIT_EVERY_BYTES = 256 << 20
COMMIT_EVERY_SECONDS = 5.0
BLOCK_BYTES = 4 << 20  # read, cut and handed down the add pipeline at once
CLEAN_STATS_KEPT = 10_000  # paths in the filter's stat cache (git/statcache.py)
IN_FLIGHT = 4  # blocks in the add pipeline at most (their buffers are reused)


class Readable(Protocol):
    def readinto(self, buffer: memoryview) -> int: ...


@dataclass(frozen=True)
class FileRecord:
    oid: str
    size: int
    chunk_ids: bytes  # concatenated 32-byte ids

    @property
    def chunk_count(self) -> int:
        return len(self.chunk_ids) // 32

    def chunk_list(self) -> list[bytes]:
        ids = self.chunk_ids
        return [ids[i : i + 32] for i in range(0, len(ids), 32)]


# Called with the oids of missing files and the ids of missing chunks; fetches what it can.
Fetcher = Callable[[list[bytes], list[bytes]], None]


class Store:
    """A chunk store in one folder (normally ``<git common dir>/branchml``)."""

    def __init__(self, root: Path, *, create: bool = True) -> None:
        self.root = Path(root)
        self.packs_dir = self.root / "packs"
        self._check_format(create)
        self.index = Index(self.root / "index.db")
        self._fds: dict[str, int] = {}
        self._set_aside = threading.Lock()  # checkout verifies chunks on several threads: one transaction at a time
        self.fetcher: Fetcher | None = None
        # Opening must work on a full disk (fsck, reads, gc's own space): records the index cannot
        # take yet stay in their pack, and the next open with space indexes them.
        self.recover(skip_when_full=True)

    def _check_format(self, create: bool) -> None:
        fmt = self.root / "format"
        if fmt.exists():
            if fmt.read_text() != FORMAT_LINE:
                raise StoreFormatError(f"{fmt}: unknown store format {fmt.read_text()[:40]!r}")
            return
        if not create:
            raise StoreFormatError(f"no branchml store at {self.root}", hint="run `branchml init`")
        self.packs_dir.mkdir(parents=True, exist_ok=True)
        (self.root / "tmp").mkdir(exist_ok=True)
        write_atomic(fmt, FORMAT_LINE.encode())

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        self.index.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- recovery -----------------------------------------------------------------------------
    def pack_names(self) -> list[str]:
        return sorted(p.name for p in self.packs_dir.glob("pack-*.pack"))

    def recover(self, include_locked: bool = False, skip_when_full: bool = False) -> int:
        """Index records past a pack's indexed end that killed writers left; return how many.

        With include_locked, also the records a live writer has written but not yet indexed (a
        hook reading what `git commit -a` just cleaned): only complete, verified records are
        taken, and indexing a record twice is harmless. With skip_when_full, a pack whose
        records the full disk cannot index is left for later instead of raising NoSpace.
        """
        states = self.index.pack_states()
        recovered = 0
        for name in self.pack_names():
            path = self.packs_dir / name
            end, scanned = states.get(name, (0, -1))
            size = path.stat().st_size
            if size == scanned or (not include_locked and is_locked(path)):
                continue
            batch = PendingBatch.empty()
            new_end = end
            for rec in scan_pack(path, end).records:
                self._add_scanned(batch, path, rec)
                new_end = rec.offset + rec.stored_len
            try:
                self.index.commit(name, batch, new_end, size)
            except NoSpace:
                if not skip_when_full:
                    raise
                continue
            recovered += len(batch.chunks) + len(batch.files)
        return recovered

    def _add_scanned(self, batch: PendingBatch, path: Path, rec: Record) -> None:
        if rec.kind == KIND_CHUNK:
            batch.chunks.append((rec.id, rec.offset, rec.stored_len, rec.raw_len, rec.flags))
            return
        with open(path, "rb") as f:
            f.seek(rec.offset)
            decoded = decode_file_payload(f.read(rec.stored_len))
        if decoded is not None:
            batch.files.append((rec.id, decoded[0], decoded[1]))

    # -- writing ------------------------------------------------------------------------------
    def writer(self) -> StoreWriter:
        return StoreWriter(self)

    @contextmanager
    def gc_guard(self) -> Iterator[None]:
        """Hold gc off (gc.lock shared) while content is stored and then recorded in Git by plumbing
        (rule 4 of docs/store-format.md): the writer alone lets go before the ref update."""
        lock = GcLock(self.root, exclusive=False)
        try:
            yield
        finally:
            lock.release()

    def put_bytes(self, data: bytes) -> Pointer:
        """Store a small in-memory blob (tests, merge results)."""
        with self.writer() as w:
            return w.add_stream(io.BytesIO(data))

    # -- reading ------------------------------------------------------------------------------
    def has_file(self, oid: str) -> bool:
        return self.index.file(bytes.fromhex(oid)) is not None

    def file_record(self, oid: str) -> FileRecord | None:
        row = self.index.file(bytes.fromhex(oid))
        return FileRecord(oid, row[0], row[1]) if row else None

    def missing_chunks(self, record: FileRecord) -> list[bytes]:
        """The record's chunks the index lacks. Asked by the filter before it answers each file of a
        checkout, while writer threads want the GIL: one counting query per 500 ids, no row
        objects, and the ids found only when some are missing."""
        distinct = list(dict.fromkeys(record.chunk_list()))
        if self.index.count_known(distinct) == len(distinct):
            return []
        found = self.index.known_chunks(distinct)
        return [cid for cid in distinct if cid not in found]

    def require(self, pointer: Pointer, where: str = "") -> FileRecord:
        """The file's record with all its chunks present, fetching through self.fetcher if needed."""
        record = self.file_record(pointer.oid)
        if record is None and self.recover(include_locked=True):
            record = self.file_record(pointer.oid)
        if record is None and self.fetcher:
            self.fetcher([pointer.oid_bytes], [])
            record = self.file_record(pointer.oid)
        if record is None:
            raise MissingObject(
                f"{where or 'file'}: content {pointer.oid[:16]}… ({pointer.size} bytes) is not in the store",
                hint="fetch it from the blob remote (`branchml fetch`), or run `branchml fsck`",
            )
        missing = self.missing_chunks(record)
        if missing and self.fetcher:
            self.fetcher([], missing)
            missing = self.missing_chunks(record)
        if missing:
            raise MissingObject(
                f"{where or 'file'}: {len(missing)} of {record.chunk_count} chunks of {pointer.oid[:16]}… "
                f"are missing (first {missing[0].hex()[:16]}…)",
                hint="fetch them from the blob remote (`branchml fetch`), or run `branchml fsck`",
            )
        if record.size != pointer.size:
            raise CorruptObject(f"{where}: pointer says {pointer.size} bytes, store says {record.size}")
        return record

    def read_chunk(self, chunk_id: bytes, loc: ChunkLocation, *, quarantine: bool = True) -> bytes:
        """One chunk's raw bytes, verified against its BLAKE3 id.

        A chunk that fails is set aside (its index row moves to the quarantine table), so that
        fetch and re-add, which skip what the index has, store a good copy.
        """
        try:
            fd = self.pack_fd(loc.pack)
        except MissingObject:
            if quarantine:
                self._quarantine(chunk_id, loc, f"pack {loc.pack} is missing")
            raise
        return self.check_chunk(chunk_id, loc, os.pread(fd, loc.stored_len, loc.offset), quarantine=quarantine)

    @overload
    def check_chunk(self, chunk_id: bytes, loc: ChunkLocation, stored: bytes, *, quarantine: bool = True) -> bytes: ...
    @overload
    def check_chunk(self, chunk_id: bytes, loc: ChunkLocation, stored: bytes | memoryview, *,
                    quarantine: bool = True) -> bytes | memoryview: ...
    def check_chunk(self, chunk_id: bytes, loc: ChunkLocation, stored: bytes | memoryview, *,
                    quarantine: bool = True) -> bytes | memoryview:
        """The raw bytes of a chunk whose stored bytes were read from `loc` (a raw chunk's view comes
        back uncopied), verified against its BLAKE3 id; a failure is set aside as in read_chunk."""
        data = decode_chunk(stored, loc.flags, loc.raw_len)
        if data is None or blake3.blake3(data).digest() != chunk_id:
            if quarantine:
                self._quarantine(chunk_id, loc, "bytes do not match the id")
            raise CorruptObject(
                f"chunk {chunk_id.hex()[:16]}… in {loc.pack} at offset {loc.offset} is corrupt",
                hint="it is set aside now: `branchml fetch` brings a good copy from the blob remote, or put the "
                "original file back and `git add` it; `branchml fsck` names every file it breaks",
            )
        return data

    def _quarantine(self, chunk_id: bytes, loc: ChunkLocation, detail: str) -> None:
        with self._set_aside:
            self.index.quarantine_chunk(chunk_id, loc, detail)

    def _read_or_refetch(self, chunk_id: bytes, loc: ChunkLocation) -> bytes:
        """read_chunk, and on failure one more try with a copy fetched from the blob remote."""
        try:
            return self.read_chunk(chunk_id, loc)
        except (CorruptObject, MissingObject):
            if self.fetcher is None:
                raise
            self.fetcher([], [chunk_id])
            fresh = self.index.chunk_locations([chunk_id]).get(chunk_id)
            if fresh is None:
                raise
            return self.read_chunk(chunk_id, fresh)

    def iter_file(self, pointer: Pointer, where: str = "") -> Iterator[bytes]:
        """Yield the file's bytes chunk by chunk, every chunk verified, then the whole file.

        The last check (whole-file BLAKE3) raises after the final chunk: callers that stream must
        treat an exception at any point as "discard everything" (the filter tells Git so).
        """
        record = self.require(pointer, where)
        ids = record.chunk_list()
        whole = blake3.blake3()
        for start in range(0, len(ids), 1024):
            part = ids[start : start + 1024]
            locations = self.index.chunk_locations(part)
            for cid in part:
                data = self._read_or_refetch(cid, locations[cid])
                whole.update(data)
                yield data
        if whole.hexdigest() != pointer.oid:
            self.index.quarantine_file(pointer.oid_bytes, "?", "its chunks do not rebuild the oid")
            raise CorruptObject(
                f"{where}: rebuilt content does not match oid {pointer.oid[:16]}… (the store's entry for it is wrong)",
                hint="it is set aside now: `branchml fsck --rebuild-index` re-reads it from the packs, "
                "`branchml fetch` brings it from the blob remote, or put the original file back and `git add` it",
            )

    def verify_file(self, pointer: Pointer, where: str = "") -> None:
        """Read the whole file once and check it, writing nothing: for callers that cannot take
        bytes back once they are out (a terminal, a pipe)."""
        for _ in self.iter_file(pointer, where):
            pass

    def read_file(self, pointer: Pointer) -> bytes:
        """Whole content in memory: for small files only (tests, merge drivers)."""
        return b"".join(self.iter_file(pointer))

    def pack_fd(self, pack: str) -> int:
        fd = self._fds.get(pack)
        if fd is not None:
            return fd
        try:
            fd = os.open(self.packs_dir / pack, os.O_RDONLY)
        except FileNotFoundError:
            raise MissingObject(f"pack {pack} is missing from {self.packs_dir}", hint="run `branchml fsck`") from None
        kept = self._fds.setdefault(pack, fd)  # restore threads may race here: keep one descriptor
        if kept != fd:
            os.close(fd)
        return kept

    def forget_fd(self, pack: str) -> None:
        fd = self._fds.pop(pack, None)
        if fd is not None:
            os.close(fd)

    def stats(self) -> dict[str, int]:
        totals = self.index.totals()
        totals["pack_bytes"] = sum((self.packs_dir / n).stat().st_size for n in self.pack_names())
        return totals


class StoreWriter:
    """Adds files to the store; used as a context manager so the index is always committed."""

    block_size = BLOCK_BYTES  # tests use smaller blocks to cross block ends often

    def __init__(self, store: Store) -> None:
        self.store = store
        self.gc_lock = GcLock(store.root, exclusive=False)
        self.cdc = FastCDC(AVG_CHUNK, min_size=MIN_CHUNK, max_size=MAX_CHUNK)
        self.encoder = ChunkEncoder()
        self.pack: PackWriter | None = None
        self.batch = PendingBatch.empty()
        self._pending_ids: set[bytes] = set()
        self._pending_files: set[bytes] = set()
        self._pending_bytes = 0
        self._last_commit = time.monotonic()
        self.new_bytes = 0
        self.followed_bytes = 0  # bytes of re-added files taken as their previous version's chunks
        self._path_hints: dict[str, bytes] = {}
        self._clean_stats: dict[str, tuple[StatKey, bytes]] = {}
        # the pipeline of add_stream: cutting (and chunk ids, with one helper), the whole-file hash, storing
        self._cutter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="branchml-cut")
        self._ids = ThreadPoolExecutor(max_workers=1, thread_name_prefix="branchml-ids")
        self._hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="branchml-hash")
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="branchml-store")
        self._buffers: list[bytearray] = []  # block buffers, reused from file to file

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.close()

    def _pack(self) -> PackWriter:
        if self.pack is None or self.pack.size >= PACK_TARGET_SIZE:
            self.commit()
            if self.pack is not None:
                self.pack.close()
            self.pack = PackWriter(self.store.packs_dir)
        return self.pack

    def add_stream(self, stream: Readable, previous: bytes | None = None) -> Pointer:
        """Chunk, dedup and store a stream; return its pointer once its records are written.

        Four stages overlap (blake3, FastCDC's cut, zstd and write() release the GIL): this thread
        reads blocks, one thread cuts them into chunks and ids them (store/cutting.py; with the
        previous version's chunk list, `previous`, it checks old chunks in place instead of
        cutting), one hashes the whole file and one compresses and writes the new chunks. At most
        IN_FLIGHT blocks are in the pipeline, so memory stays bounded whatever the file size.
        """
        state = _FileState()
        cutter = Cutter(self.cdc, self._chunk_ids)
        # the previous version's chunk list (one index query per 500 of its ~13,000 chunks for 1 GiB)
        # loads on the cutter thread, first in its queue, while this thread reads the first block:
        # Git waits for no query before it can send
        following = self._cutter.submit(self._follow_previous, cutter, previous)
        flowing: deque[tuple[bytearray, Future[list[Future[None]]]]] = deque()
        try:
            done = False
            while not done:
                if len(flowing) >= IN_FLIGHT:
                    self._settle(*flowing.popleft())
                buffer = self._buffer(cutter.head_room + self.block_size)
                length = _read_exactly(stream, memoryview(buffer)[cutter.head_room :])
                done = length < self.block_size
                flowing.append((buffer, self._cutter.submit(self._cut_block, cutter, state, buffer, length, done)))
            while flowing:
                self._settle(*flowing.popleft())
            following.result()
            self.followed_bytes += cutter.followed
        finally:
            following.exception()  # its error, if any, is raised above or loses to the one raised
            _wait_quietly(flowing)  # after an error: no stage may still use this file's buffers
        return self._finish_file(state)

    def _follow_previous(self, cutter: Cutter, oid: bytes | None) -> None:
        """Cutter thread, before the file's first block: have `cutter` follow the version `oid`."""
        cutter.follow(self._previous(oid))

    def _previous(self, oid: bytes | None) -> Previous | None:
        record = self.store.file_record(oid.hex()) if oid is not None else None
        if record is None:
            return None
        ids = record.chunk_list()
        return Previous.of(ids, self.store.index.raw_lengths(ids[:-1]))

    def _cut_block(self, cutter: Cutter, state: _FileState, buffer: bytearray, length: int, last: bool) -> list[Future[None]]:
        """Cutter thread: cut one block, then hand its chunks on (in file order: one thread per stage)."""
        piece = cutter.cut(buffer, length, last)
        state.ids += b"".join(piece.ids)
        state.lengths.extend(map(len, piece.chunks))
        state.size += len(piece.span)
        return [self._hasher.submit(_hash_whole, state, piece.span),
                self._worker.submit(self._store_chunks, piece.chunks, piece.ids)]

    def _buffer(self, size: int) -> bytearray:
        """A block buffer of `size` bytes: a reused one (its pages are already mapped) or a new one."""
        while self._buffers:
            buffer = self._buffers.pop()
            if len(buffer) == size:  # block_size may have changed since it was made
                return buffer
        return bytearray(size)

    def _settle(self, buffer: bytearray, cut: Future[list[Future[None]]]) -> None:
        """Wait until every stage is done with a block (re-raising a stage's error), then reuse its buffer."""
        for stage in cut.result():
            stage.result()
        self._buffers.append(buffer)

    def _chunk_ids(self, chunks: list[memoryview]) -> list[bytes]:
        """BLAKE3 ids of a block's chunks: half on this (the cutter's) thread, half on another."""
        if len(chunks) < 8:
            return _ids(chunks)
        half = len(chunks) // 2
        first = self._ids.submit(_ids, chunks[:half])
        second = _ids(chunks[half:])
        return first.result() + second

    def _finish_file(self, state: _FileState) -> Pointer:
        oid = state.whole.digest()
        ids = bytes(state.ids)
        if oid not in self._pending_files and self.store.index.file(oid) is None:
            pack = self._pack()
            pack.append(KIND_FILE, 0, oid, encode_file_payload(state.size, ids), 0)
            self.batch.files.append((oid, state.size, ids))
            self.batch.verified.append((oid, state.listing()))  # the oid was hashed from these very chunks
            self._pending_files.add(oid)  # a one-chunk file's oid equals its chunk id: keep sets apart
        elif oid not in self._pending_files:
            self.batch.reused.append(oid)  # stored before: a gc that marked it dead must keep it
        self._maybe_commit()
        return Pointer(oid.hex(), state.size)

    def remember_path(self, path: str, pointer: Pointer) -> None:
        self._path_hints[path] = pointer.oid_bytes

    def remember_clean_stat(self, path: str, stat: StatKey, pointer: Pointer) -> None:
        """The filter's stat cache: written with the path hints, after the records they point to."""
        self._clean_stats[path] = (stat, pointer.oid_bytes)

    def reuse_file(self, oid: bytes) -> bool:
        """A file answered again without reading it: True when the store holds its record, which a
        gc running meanwhile then keeps (like a deduplicated add)."""
        if oid in self._pending_files:
            return True
        if self.store.index.file(oid) is None:
            return False
        self.batch.reused.append(oid)
        self._maybe_commit()
        return True

    def add_bytes(self, data: bytes) -> Pointer:
        """Store a small file held in memory, without the pipeline's threads (per-file cost matters)."""
        state = _FileState()
        chunks = [c.data for c in self.cdc.cut_buf(data)]
        ids = _ids(chunks)
        state.whole.update(data)
        state.ids += b"".join(ids)
        state.lengths.extend(map(len, chunks))
        state.size = len(data)
        self._store_chunks(chunks, ids)
        return self._finish_file(state)

    def _store_chunks(self, chunks: list[memoryview], ids: list[bytes]) -> None:
        """Store thread: write the chunks the store does not hold yet, compressed when that pays."""
        known = self.store.index.known_chunks(ids)
        new: dict[bytes, memoryview] = {}
        for data, cid in zip(chunks, ids):
            if cid not in known and cid not in self._pending_ids and cid not in new:
                new[cid] = data
        encoded = self.encoder.encode_many(list(new.values()))
        if not encoded:
            return
        records = [(KIND_CHUNK, flags, cid, stored, len(data)) for (cid, data), (flags, stored) in zip(new.items(), encoded)]
        offsets = self._pack().append_many(records)
        for (_kind, flags, cid, stored, raw_len), offset in zip(records, offsets):
            self.batch.chunks.append((cid, offset, len(stored), raw_len, flags))
            self._pending_ids.add(cid)
            self._pending_bytes += len(stored)
            self.new_bytes += len(stored)

    def _maybe_commit(self) -> None:
        if self._pending_bytes >= COMMIT_EVERY_BYTES or time.monotonic() - self._last_commit > COMMIT_EVERY_SECONDS:
            self.commit()

    def commit(self) -> None:
        """fsync the pack, then record its new rows in the index (never the other way round)."""
        self._last_commit = time.monotonic()
        if self.pack is None or not (self.batch.chunks or self.batch.files):
            self.store.index.record_reused(self.batch.reused)
            self.batch.reused = []
            return
        self.pack.sync()
        self.store.index.commit(self.pack.name, self.batch, self.pack.size, self.pack.size)
        self.batch = PendingBatch.empty()
        self._pending_ids.clear()
        self._pending_files.clear()
        self._pending_bytes = 0

    def close(self) -> None:
        self.commit()
        self.store.index.remember_paths(self._path_hints)
        self._path_hints = {}
        self.store.index.remember_clean_stats(self._clean_stats, keep=CLEAN_STATS_KEPT)
        self._clean_stats = {}
        if self.pack is not None:
            self.pack.close()
            self.pack = None
        self.gc_lock.release()
        for pool in (self._cutter, self._ids, self._hasher, self._worker):
            pool.shutdown()
        self.encoder.close()


def _hash_whole(state: _FileState, span: memoryview) -> None:
    state.whole.update(span)


def _ids(chunks: list[memoryview]) -> list[bytes]:
    return [blake3.blake3(data).digest() for data in chunks]


def _read_exactly(stream: Readable, view: memoryview) -> int:
    filled = 0
    while filled < len(view):
        n = stream.readinto(view[filled:])
        if not n:
            break
        filled += n
    return filled


def _wait_quietly(flowing: deque[tuple[bytearray, Future[list[Future[None]]]]]) -> None:
    """Let the blocks still in the pipeline finish (their errors are not the first one)."""
    for _buffer, cut in flowing:
        try:
            for stage in cut.result():
                stage.exception()
        except Exception:  # noqa: BLE001 - the error being raised already says what failed
            pass
    flowing.clear()


@dataclass
class _FileState:
    """What the pipeline accumulates for one file (each field written by one thread only)."""

    whole: blake3.blake3 = field(default_factory=blake3.blake3)
    ids: bytearray = field(default_factory=bytearray)
    lengths: array[int] = field(default_factory=lambda: array("I"))  # each chunk's raw length, in file order
    size: int = 0

    def listing(self) -> bytes:
        """The listing digest (store/verified.py) of the chunks cut."""
        ids = bytes(self.ids)
        return listing_digest(self.size, ((ids[k * 32 : k * 32 + 32], n) for k, n in enumerate(self.lengths)))


def discard_index(root: Path) -> None:
    """Move the index aside; the next Store(root) rebuilds it from the packs (they are the truth)."""
    for suffix in ("", "-wal", "-shm"):
        path = Path(root) / f"index.db{suffix}"
        if path.exists():
            path.replace(path.with_name(path.name + ".broken"))
