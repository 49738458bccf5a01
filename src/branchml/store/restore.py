"""Writing a stored file to disk fast: chunks read, verified and written on several threads.

Reading a chunk (pread), decompressing it (zstd), hashing it (BLAKE3) and writing it (pwritev) all
release the GIL. The file is cut into batches of about 4 MiB whose offsets are known from the chunk
lengths; each batch is read, verified chunk by chunk, and written at its offset by a pool thread.
This thread takes the batches in file order for the whole-file hash. Only verified chunks are
written; the whole-file check runs before the caller renames the temp file into place, so a failure
at any point leaves no file with wrong content. Memory is bounded by the batches in flight
(``LOOKAHEAD`` x ``BATCH_BYTES``), whatever the file size.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Self

import blake3

from branchml.errors import CorruptObject
from branchml.store.index import ChunkLocation
from branchml.store.pointer import Pointer
from branchml.store.store import FileRecord, Store

BATCH_BYTES = 4 << 20
LOOKAHEAD = 6  # batches verified ahead of the writer, per file
WORKERS = max(2, min(8, os.cpu_count() or 2))
_Batch = list[tuple[bytes, ChunkLocation]]


class Restorer:
    """Rebuilds files of one store into open file descriptors; one thread pool for every file."""

    def __init__(self, store: Store, workers: int = WORKERS) -> None:
        self.store = store
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="branchml-restore")

    def close(self) -> None:
        self.pool.shutdown()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, pointer: Pointer, fd: int, where: str = "") -> None:
        """Write the file's verified content at offset 0 of `fd` (raises CorruptObject/MissingObject)."""
        record = self.store.require(pointer, where)
        whole = blake3.blake3()
        size = 0
        for data in self._written_batches(record, fd):
            for piece in data:
                whole.update(piece)
                size += len(piece)
        if size != pointer.size or whole.hexdigest() != pointer.oid:
            raise CorruptObject(
                f"{where}: rebuilt content does not match oid {pointer.oid[:16]}… (the file was not written)",
                hint="run `branchml fsck` to find the damaged record",
            )

    def _written_batches(self, record: FileRecord, fd: int) -> Iterator[list[bytes]]:
        """Batches of verified (and written) chunk bytes in file order, LOOKAHEAD batches in flight."""
        in_flight: deque[Future[list[bytes]]] = deque()
        offset = 0
        try:
            for batch in self._batches(record):
                in_flight.append(self.pool.submit(self._restore_batch, batch, fd, offset))
                offset += sum(loc.raw_len for _, loc in batch)
                if len(in_flight) >= LOOKAHEAD:
                    yield in_flight.popleft().result()
            while in_flight:
                yield in_flight.popleft().result()
        finally:
            for future in in_flight:
                future.cancel()

    def _batches(self, record: FileRecord) -> Iterator[_Batch]:
        ids = record.chunk_list()
        for start in range(0, len(ids), 1024):
            part = ids[start : start + 1024]
            locations = self.store.index.chunk_locations(part)
            batch: _Batch = []
            size = 0
            for cid in part:
                loc = locations[cid]
                batch.append((cid, loc))
                size += loc.raw_len
                if size >= BATCH_BYTES:
                    yield batch
                    batch, size = [], 0
            if batch:
                yield batch

    def _restore_batch(self, batch: _Batch, fd: int, offset: int) -> list[bytes]:
        """Read and verify every chunk of the batch, then write them all at `offset`."""
        data = [self.store.read_chunk(cid, loc) for cid, loc in batch]
        _pwritev_all(fd, data, offset)
        return data


def _pwritev_all(fd: int, buffers: list[bytes], offset: int) -> int:
    """Write every buffer at `offset` on, finishing short writes; return the bytes written."""
    total = sum(len(b) for b in buffers)
    done = os.pwritev(fd, buffers, offset)
    if done < total:
        rest = b"".join(buffers)[done:]
        view = memoryview(rest)
        while view:
            n = os.pwrite(fd, view, offset + done)
            view = view[n:]
            done += n
    return total
