"""Chunk encoding: zstd when it pays, raw otherwise."""

from __future__ import annotations

import zstandard

FLAG_ZSTD = 1  # a record flag (docs/store-format.md): the payload is a zstd frame
ZSTD_LEVEL = 1
# Keep the compressed form only when it saves at least this share of the bytes.
MIN_SAVING = 0.03
_decompressor = zstandard.ZstdDecompressor()


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


def decode_chunk(stored: bytes, flags: int, raw_len: int) -> bytes | None:
    """The raw bytes of a stored chunk, or None when they cannot be decoded to raw_len bytes."""
    if not flags & FLAG_ZSTD:
        return stored if len(stored) == raw_len else None
    try:
        data = _decompressor.decompress(stored, max_output_size=raw_len)
    except zstandard.ZstdError:
        return None
    return data if len(data) == raw_len else None
