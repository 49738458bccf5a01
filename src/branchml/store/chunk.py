"""Chunk encoding: zstd when it pays, raw otherwise."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import overload

import zstandard

FLAG_ZSTD = 1  # a record flag (docs/store-format.md): the payload is a zstd frame
ZSTD_LEVEL = 1
# Keep the compressed form only when it saves at least this share of the bytes.
MIN_SAVING = 0.03
COMPRESSORS = max(2, min(4, os.cpu_count() or 2))
# zstandard's compressors and decompressors must not be used by two threads at once: one shared
# decompressor gave wrong bytes when checkout wrote several files at once (so one per thread).
_local = threading.local()


class ChunkEncoder:
    """Compresses chunks, and stops trying for a while on data that does not compress.

    Random or already-compressed data (models, images, parquet) wastes zstd time; after a run of
    misses the encoder only re-tests every ``PROBE_EVERY``-th chunk.
    """

    PROBE_EVERY = 16
    MISSES_BEFORE_BACKOFF = 4

    def __init__(self) -> None:
        self._compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        self._misses = 0
        self._skipped = 0
        self._pool: ThreadPoolExecutor | None = None

    def encode(self, data: memoryview | bytes) -> tuple[int, bytes | memoryview]:
        """(flags, stored bytes) for one raw chunk."""
        if self._misses >= self.MISSES_BEFORE_BACKOFF:
            self._skipped += 1
            if self._skipped % self.PROBE_EVERY:
                return 0, data
        packed = self._compressor.compress(data)
        if len(packed) <= len(data) * (1 - MIN_SAVING):
            self._misses = 0
            return FLAG_ZSTD, packed
        self._misses += 1
        return 0, data


    def encode_many(self, chunks: Sequence[memoryview | bytes]) -> list[tuple[int, bytes | memoryview]]:
        """(flags, stored bytes) for a batch of chunks; compressible batches on several threads.

        The first chunk is the probe (it also drives the back-off above): when it compresses, the
        batch is most likely the same kind of data, and the rest are compressed in parallel (zstd
        releases the GIL); when it does not, the rest go through the cheap back-off path.
        """
        if not chunks:
            return []
        first = self.encode(chunks[0])
        if not first[0] & FLAG_ZSTD or len(chunks) < 4:
            return [first, *(self.encode(c) for c in chunks[1:])]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(COMPRESSORS, thread_name_prefix="branchml-zstd")
        return [first, *self._pool.map(_compress_if_pays, chunks[1:])]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


def _compress_if_pays(data: memoryview | bytes) -> tuple[int, bytes | memoryview]:
    compressor = getattr(_local, "compressor", None)
    if compressor is None:
        compressor = _local.compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    packed = compressor.compress(data)
    if len(packed) <= len(data) * (1 - MIN_SAVING):
        return FLAG_ZSTD, packed
    return 0, data


@overload
def decode_chunk(stored: bytes, flags: int, raw_len: int) -> bytes | None: ...
@overload
def decode_chunk(stored: bytes | memoryview, flags: int, raw_len: int) -> bytes | memoryview | None: ...
def decode_chunk(stored: bytes | memoryview, flags: int, raw_len: int) -> bytes | memoryview | None:
    """The raw bytes of a stored chunk, or None when they cannot be decoded to raw_len bytes
    (a raw chunk read as a memoryview comes back as that view, uncopied)."""
    if not flags & FLAG_ZSTD:
        return stored if len(stored) == raw_len else None
    try:
        data = _decompressor().decompress(stored, max_output_size=raw_len)
    except zstandard.ZstdError:
        return None
    return data if len(data) == raw_len else None


def _decompressor() -> zstandard.ZstdDecompressor:
    """This thread's decompressor (see `_local`)."""
    decompressor: zstandard.ZstdDecompressor | None = getattr(_local, "decompressor", None)
    if decompressor is None:
        decompressor = _local.decompressor = zstandard.ZstdDecompressor()
    return decompressor
