"""Writing a stored file to disk fast: chunks read, verified and written on several threads.

The file is cut into batches of about 4 MiB whose offsets are known from the chunk lengths; a pool
thread reads each chunk of a batch (pread) and verifies it against its BLAKE3 id before any of its
bytes reach the file. A chunk stored raw (random data, models: most of a large file's bytes) is then
copied from its pack into the file by the kernel (`copy_file_range`: no copy through this process,
a quarter of the CPU of a `pwrite` here, bench/RESULTS.md run E); a compressed one is decompressed and
written (pwritev). Reading, zstd, BLAKE3 and both writes release the GIL.

This thread takes the batches in file order and hashes what the file now holds (read back from the
page cache), so the whole-file check is of the very bytes the caller renames into place, whichever
road they took. A failure at any point leaves no file with wrong content. Memory is bounded by the
batches in flight (``LOOKAHEAD`` x ``BATCH_BYTES``), whatever the file size.
"""

from __future__ import annotations

import errno
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Self

import blake3

from branchml.errors import CorruptObject
from branchml.store.chunk import FLAG_ZSTD
from branchml.store.index import ChunkLocation
from branchml.store.pointer import Pointer
from branchml.store.store import FileRecord, Store

BATCH_BYTES = 4 << 20
LOOKAHEAD = 6  # batches verified ahead of the writer, per file
WORKERS = max(2, min(8, os.cpu_count() or 2))
_Batch = list[tuple[bytes, ChunkLocation]]
# copy_file_range cannot serve here (another file system, an old kernel, a file system without it):
# write the verified bytes instead
NO_KERNEL_COPY = {errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EBADF}


class Restorer:
    """Rebuilds files of one store into open file descriptors; one thread pool for every file."""

    def __init__(self, store: Store, workers: int = WORKERS) -> None:
        self.store = store
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="branchml-restore")
        self.hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="branchml-hash")  # in file order
        self.kernel_copy = hasattr(os, "copy_file_range")

    def close(self) -> None:
        self.pool.shutdown()
        self.hasher.shutdown()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, pointer: Pointer, fd: int, where: str = "") -> None:
        """Write the file's verified content at offset 0 of `fd`, open for reading and writing
        (raises CorruptObject/MissingObject)."""
        record = self.store.require(pointer, where)
        whole = blake3.blake3()
        size = sum(self._written_and_hashed(record, fd, whole))
        if size != pointer.size or whole.hexdigest() != pointer.oid:
            raise CorruptObject(
                f"{where}: rebuilt content does not match oid {pointer.oid[:16]}… (the file was not written)",
                hint="run `branchml fsck` to find the damaged record",
            )

    def _written_and_hashed(self, record: FileRecord, fd: int, whole: blake3.blake3) -> Iterator[int]:
        """Length of each batch once written and hashed, in file order, LOOKAHEAD batches in flight.

        Three stages overlap: this thread looks chunks up in the index and hands out batches, the
        pool reads, verifies and writes them, and the hasher thread reads each written batch back
        into the whole-file hash in file order (it was this thread's job, and the pool sat idle).
        """
        writes: list[Future[int]] = []
        hashes: deque[Future[int]] = deque()
        offset = 0
        try:
            for batch in self._batches(record):
                written = self.pool.submit(self._restore_batch, batch, fd, offset)
                writes.append(written)
                hashes.append(self.hasher.submit(_hash_written, whole, written, fd, offset))
                offset += sum(loc.raw_len for _, loc in batch)
                if len(hashes) >= LOOKAHEAD:
                    yield hashes.popleft().result()
            while hashes:
                yield hashes.popleft().result()
        finally:
            _settle(writes, hashes)

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

    def _restore_batch(self, batch: _Batch, fd: int, offset: int) -> int:
        """Read and verify every chunk of the batch, then put each at its offset; the bytes written."""
        start = offset
        run: list[bytes] = []  # verified bytes to write, contiguous from run_at
        run_at = offset
        for cid, loc in batch:
            data = self.store.read_chunk(cid, loc)  # verified before any of its bytes reach the file
            if loc.flags & FLAG_ZSTD or loc.stored_len != loc.raw_len or not self._copy(loc, fd, offset):
                if not run:
                    run_at = offset
                run.append(data)
            elif run:
                _pwritev_all(fd, run, run_at)
                run = []
            offset += loc.raw_len
        if run:
            _pwritev_all(fd, run, run_at)
        return offset - start

    def _copy(self, loc: ChunkLocation, fd: int, offset: int) -> bool:
        """Copy a raw chunk's stored bytes from its pack to `offset` in the kernel; False: write them."""
        if not self.kernel_copy:
            return False
        source = self.store.pack_fd(loc.pack)
        done = 0
        try:
            while done < loc.stored_len:
                n = os.copy_file_range(source, fd, loc.stored_len - done, loc.offset + done, offset + done)
                if n == 0:
                    return False  # the pack ended early (it was just read whole): let the write say more
                done += n
        except OSError as exc:
            if exc.errno not in NO_KERNEL_COPY:
                raise
            self.kernel_copy = False
            return False
        return True


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


def _hash_written(whole: blake3.blake3, written: Future[int], fd: int, offset: int) -> int:
    length = written.result()
    whole.update(_read_back(fd, offset, length))
    return length


def _settle(writes: list[Future[int]], hashes: deque[Future[int]]) -> None:
    """After a failure: cancel what has not started and wait for what has, so that no thread
    writes to the descriptor after the caller closed it (its number may name another file then)."""
    for future in [*hashes, *writes]:
        future.cancel()
    wait([*hashes, *writes])


def _read_back(fd: int, offset: int, length: int) -> bytes:
    """`length` bytes of the file at `offset` (just written: from the page cache)."""
    data = os.pread(fd, length, offset)
    while len(data) < length:
        more = os.pread(fd, length - len(data), offset + len(data))
        if not more:
            break  # short: the size check that follows fails
        data += more
    return data
