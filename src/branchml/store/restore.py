"""Writing a stored file to disk: every chunk read once, verified, written and hashed while hot.

A file is written front to back by one thread, a run of neighbouring chunks at a time (records
that follow each other in one pack, up to RUN_BYTES): their stored bytes are read with one `preadv`
into a buffer the thread reuses, each is verified against its BLAKE3 id (decompressed first where
stored compressed), and only then are they written at their offset with one `pwritev`; the very
bytes written go on into the whole-file hash. Every byte is read once, and all steps work on a
run still in the core's L2 cache: batches of megabytes spread over threads, or a kernel copy with
a read-back for the whole-file hash, cost 20-80% more CPU (bench/RESULTS.md, run G); a run of up to
512 KiB instead of one chunk at a time saves a quarter (run L). Callers write several files at once
for parallelism (`checkout`); reading, zstd, BLAKE3 and the write release the GIL.

The caller renames the file into place only after the whole-file hash matched the oid, so a failure
at any point leaves no file with wrong content. Memory is one run's buffer per file being written,
whatever the file size.

The whole-file hash is computed once per record: a record whose listing (size, chunk ids and
lengths) was checked to rebuild its oid before, by such a pass or by the local `add`, is written
with every chunk verified but without the second hash over every byte (store/verified.py gives the
argument). When the listing met differs from the one recorded, the file is written again with the
whole-file pass, which alone decides.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import blake3

from branchml.errors import CorruptObject, MissingObject
from branchml.store.index import ChunkLocation
from branchml.store.pack import RECORD_HEADER
from branchml.store.pointer import Pointer
from branchml.store.store import MAX_CHUNK, FileRecord, Store
from branchml.store.verified import Listing

LOOKUP = 1024  # chunk locations asked of the index at once
RUN_BYTES = 512 << 10  # neighbouring chunks read, verified and written at once: stays in a core's L2
MAX_STORED = MAX_CHUNK + (MAX_CHUNK >> 2)  # a chunk's stored bytes may exceed its raw ones a bit
_LOOKUPS = threading.Lock()  # writers of several files share the store's one SQLite connection


class Stopped(Exception):
    """Raised by write_file when its `stop` event is set (the file is left unfinished)."""


def write_file(store: Store, record: FileRecord, pointer: Pointer, fd: int, where: str = "", *,
               stop: threading.Event | None = None, quarantine: bool = True) -> None:
    """Write the file's verified content (`record`, from `store.require`) at offset 0 of `fd`, open
    for writing (raises CorruptObject/MissingObject: `fd` then holds verified chunks, never a
    wrong byte, but not the whole file). `stop` ends it early (Stopped); without `quarantine` a
    corrupt chunk is only reported, for a writer whose caller tries again and reports (handoff.py)."""
    with _LOOKUPS:
        known = store.index.verified_listing(pointer.oid_bytes)
    try:
        if known is not None:
            listing = Listing(pointer.size)
            size = _write_chunks(store, record, fd, listing, None, stop, quarantine)
            if size == pointer.size and listing.digest() == known:
                return  # every chunk verified, and this very listing once rebuilt the oid
        listing = Listing(pointer.size)
        whole = blake3.blake3()
        size = _write_chunks(store, record, fd, listing, whole, stop, quarantine)
        os.ftruncate(fd, size)  # after a first pass whose listing differed: nothing of it may remain
    except (CorruptObject, MissingObject) as exc:  # a chunk's message names the pack: add the file
        raise type(exc)(f"{where}: {exc.message}" if where else exc.message, hint=exc.hint) from exc
    if size != pointer.size or whole.hexdigest() != pointer.oid:
        raise CorruptObject(
            f"{where}: rebuilt content does not match oid {pointer.oid[:16]}… (the file was not written)",
            hint="run `branchml fsck` to find the damaged record",
        )
    with _LOOKUPS:
        store.index.remember_verified(pointer.oid_bytes, listing.digest())


def _write_chunks(store: Store, record: FileRecord, fd: int, listing: Listing, whole: blake3.blake3 | None,
                  stop: threading.Event | None, quarantine: bool) -> int:
    """The chunks read, verified, written and hashed in file order, a run of neighbours at a time
    (`whole`: None when the listing vouches for the oid); the bytes written."""
    space = memoryview(bytearray(RUN_BYTES + MAX_STORED))
    offset = 0
    for run in _runs(_located(store, record), len(space)):
        if stop is not None and stop.is_set():
            raise Stopped(record.oid)
        stored = _read_run(store, run, space, quarantine)
        raw = [store.check_chunk(cid, loc, view, quarantine=quarantine) for (cid, loc), view in zip(run, stored)]
        _pwritev_all(fd, raw, offset)  # only once every chunk of the run is verified
        for (cid, _loc), data in zip(run, raw):
            listing.add(cid, len(data))
            if whole is not None:
                whole.update(data)
            offset += len(data)
    return offset


def _runs(located: Iterator[tuple[bytes, ChunkLocation]], room: int) -> Iterator[list[tuple[bytes, ChunkLocation]]]:
    """Consecutive chunks whose records follow each other in one pack (a fresh add stores a file's
    new chunks so), up to `room` stored bytes: one `preadv` reads them, one `pwritev` writes them."""
    run: list[tuple[bytes, ChunkLocation]] = []
    used = end = 0
    for cid, loc in located:
        if run and (loc.pack != run[-1][1].pack or loc.offset != end or used + loc.stored_len > room):
            yield run
            run, used = [], 0
        run.append((cid, loc))
        used += loc.stored_len
        end = loc.offset + loc.stored_len + RECORD_HEADER.size  # the next record's payload
    if run:
        yield run


def _read_run(store: Store, run: list[tuple[bytes, ChunkLocation]], space: memoryview, quarantine: bool) -> list[memoryview]:
    """The stored bytes of a run's chunks, read into `space` with one `preadv` (the record headers
    between them into a scratch buffer); chunk by chunk where that comes back short."""
    if len(run) == 1:
        cid, loc = run[0]
        return [_read_stored(store, cid, loc, _room(space, loc), quarantine)]
    views: list[memoryview] = []
    pos = 0
    for _cid, loc in run:  # _runs keeps a run of several chunks within `space`
        views.append(space[pos : pos + loc.stored_len])
        pos += loc.stored_len
    try:
        fd = store.pack_fd(run[0][1].pack)
    except MissingObject:
        return [_read_stored(store, *run[0], views[0], quarantine)]  # sets it aside and raises
    gap = memoryview(bytearray(RECORD_HEADER.size))
    parts = [part for view in views for part in (view, gap)][:-1]
    if os.preadv(fd, parts, run[0][1].offset) == pos + gap.nbytes * (len(views) - 1):
        return views
    return [_read_stored(store, cid, loc, view, quarantine) for (cid, loc), view in zip(run, views)]  # cut short


def _room(space: memoryview, loc: ChunkLocation) -> memoryview:
    return space if loc.stored_len <= len(space) else memoryview(bytearray(loc.stored_len))


def _located(store: Store, record: FileRecord) -> Iterator[tuple[bytes, ChunkLocation]]:
    """The file's chunks with their place in the packs, in file order (MissingObject if one lacks)."""
    ids = record.chunk_list()
    for start in range(0, len(ids), LOOKUP):
        part = ids[start : start + LOOKUP]
        with _LOOKUPS:
            locations = store.index.chunk_locations(part)
        for cid in part:
            loc = locations.get(cid)
            if loc is None:
                raise MissingObject(f"chunk {cid.hex()[:16]}… of {record.oid[:16]}… is not in the store",
                                    hint="fetch it from the blob remote (`branchml fetch`), or run `branchml fsck`")
            yield cid, loc


def _read_stored(store: Store, cid: bytes, loc: ChunkLocation, buffer: memoryview, quarantine: bool) -> memoryview:
    """The chunk's stored bytes read into `buffer` (short where its pack ends early)."""
    try:
        fd = store.pack_fd(loc.pack)
    except MissingObject:
        store.read_chunk(cid, loc, quarantine=quarantine)  # sets the chunk aside (if asked) and raises
        raise
    into = buffer[: loc.stored_len]
    got = 0
    while got < len(into):
        n = os.preadv(fd, [into[got:]], loc.offset + got)
        if n == 0:
            break  # short: the check that follows fails
        got += n
    return into[:got]


def _pwritev_all(fd: int, parts: list[bytes | memoryview], offset: int) -> None:
    written = os.pwritev(fd, parts, offset)
    if written < sum(len(part) for part in parts):  # short: the rest plainly
        _pwrite_all(fd, memoryview(b"".join(parts))[written:], offset + written)


def _pwrite_all(fd: int, data: bytes | memoryview, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view = view[n:]
        offset += n
