"""Fixed-size entries sorted into numbered buckets, held in memory up to a limit, then spilled to disk.

The external record merge writes one entry per record into the bucket of its digest (so all the
versions of one record meet in one bucket), then reads the buckets one at a time: memory holds one
bucket, never the whole file. Entries keep the order in which they were added.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO


class Buckets:
    def __init__(self, count: int, folder: Path | None, held_limit: int) -> None:
        self.count = count
        self._folder = folder
        self._limit = held_limit
        self._held = 0
        self._buffers = [bytearray() for _ in range(count)]
        self._segments: list[list[tuple[int, int]]] = [[] for _ in range(count)]
        self._file: IO[bytes] | None = None
        self._end = 0

    def add(self, index: int, entry: bytes) -> None:
        self._buffers[index] += entry
        self._held += len(entry)
        if self._held > self._limit:
            self._spill()

    def read(self, index: int) -> bytes:
        """Every entry of one bucket, in the order added."""
        parts = [os.pread(self._fd(), length, offset) for offset, length in self._segments[index]]
        parts.append(bytes(self._buffers[index]))
        return b"".join(parts)

    def _spill(self) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="branchml-merge-", dir=self._folder)  # noqa: SIM115 (closed by close())
        for index, buffer in enumerate(self._buffers):
            if buffer:
                self._segments[index].append((self._end, len(buffer)))
                self._file.write(buffer)
                self._end += len(buffer)
                buffer.clear()
        self._file.flush()
        self._held = 0

    def _fd(self) -> int:
        assert self._file is not None
        return self._file.fileno()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
