"""Cutting a file into chunks block by block, following the previous version's chunks where they match.

Why blocks: pyfastcdc's stream chunker reads in small pieces, and every chunk it hands out had to be
copied (`bytes(chunk.data)`) before the next read overwrote it; for 1 GiB that was most of the
add's CPU. Here the writer reads 4 MiB blocks into buffers it reuses, `cut_buf` cuts a block in
place (its loop runs without the GIL), and the chunks travel to the hash and store threads as views
into the block. The uncut tail of a block (less than one maximal chunk) is copied in front of the
next block's bytes, into head room kept for it.

Why follow: re-adding a file whose previous version is known (a 1% change of 1 GiB) mostly meets the
previous version's chunks again. While they match, the old chunk boundaries are taken as they are
and only checked (BLAKE3 of each candidate against the old id), with no content-defined cutting.
After a chunk that differs, cutting resumes; when a cut chunk is again one of the old version's,
following resumes after it (an insertion or deletion only shifts where the old chunks are).

The result equals a full cut exactly (tests/test_store.py compares the chunk lists). FastCDC's cut
after a chunk depends on the chunk's bytes and the one byte after it, and on how much data follows
(up to one maximal chunk). A followed chunk whose successor also matched has both; the last one of
a run is re-cut once with `cut_buf` to confirm the boundary, or kept for the next block when too
little data is there to decide. The previous version's last chunk (cut by its end of file) is
never followed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pyfastcdc import FastCDC

HashMany = Callable[[list[memoryview]], list[bytes]]


@dataclass(frozen=True)
class Previous:
    """The chunk list of the version a path held before: ids and raw lengths, in file order."""

    ids: list[bytes]
    lengths: list[int]  # only for the chunks that may be followed (never the last one)

    @classmethod
    def of(cls, ids: list[bytes], known_lengths: dict[bytes, int]) -> Previous:
        """Followable chunks: up to the first one the index does not hold, never the file's last."""
        lengths = []
        for cid in ids[:-1]:
            if cid not in known_lengths:
                break
            lengths.append(known_lengths[cid])
        return cls(ids, lengths)

    def resume_after(self) -> dict[bytes, int]:
        """chunk id -> index of the chunk that follows it (the first occurrence of a repeated id)."""
        after: dict[bytes, int] = {}
        for k, cid in enumerate(self.ids[: len(self.lengths) - 1]):
            after.setdefault(cid, k + 1)
        return after


@dataclass
class Piece:
    """What one block gave: its chunks (views into the block), their ids, and the bytes they cover."""

    span: memoryview
    chunks: list[memoryview] = field(default_factory=list)
    ids: list[bytes] = field(default_factory=list)


class Cutter:
    """Cuts the consecutive blocks of one file; keeps the uncut tail from one block to the next."""

    def __init__(self, cdc: FastCDC, hash_many: HashMany, previous: Previous | None = None) -> None:
        self.cdc = cdc
        self.max = cdc.max_size
        self.hash_many = hash_many
        self.tail = b""
        self.followed = 0  # bytes taken as the previous version's chunks, without cutting
        self.follow(previous)

    def follow(self, previous: Previous | None) -> None:
        """Follow `previous` from the file's start (before the first block is cut: the writer loads
        the previous version while its first block is read)."""
        self.previous = previous
        self.next_old = 0 if previous and previous.lengths else -1  # the old chunk to follow, -1: cutting
        self.resume = previous.resume_after() if previous else {}

    @property
    def head_room(self) -> int:
        """Bytes to keep free in front of each block for the previous block's tail."""
        return self.max

    def cut(self, buffer: bytearray, length: int, eof: bool) -> Piece:
        """Cut `buffer[head_room : head_room + length]` preceded by the tail kept from the last block.

        A block that is not the last must be full, so the tail stays under one maximal chunk.
        """
        start = self.head_room - len(self.tail)
        buffer[start : self.head_room] = self.tail
        data = memoryview(buffer)[start : self.head_room + length]
        piece = Piece(data)
        pos = self._follow(data, 0, eof, piece) if self.next_old >= 0 else 0
        if self.next_old < 0:
            pos = self._cut_rest(data, pos, eof, piece)
        self.tail = bytes(data[pos:]) if not eof else b""
        piece.span = data[:pos] if not eof else data
        return piece

    def _follow(self, data: memoryview, pos: int, eof: bool, piece: Piece) -> int:
        """Take the old chunks that still match from `pos`; return where following stopped."""
        assert self.previous is not None
        lengths, old_ids = self.previous.lengths, self.previous.ids
        k, end, candidates = self.next_old, pos, []
        while k < len(lengths) and end + lengths[k] <= len(data):
            candidates.append(data[end : end + lengths[k]])
            end += lengths[k]
            k += 1
        ids = self.hash_many(candidates)
        matched = 0
        while matched < len(ids) and ids[matched] == old_ids[self.next_old + matched]:
            matched += 1
        ran_out = matched < len(candidates) or self.next_old + matched >= len(lengths) or eof
        if matched and not self._boundary_holds(data, pos + sum(map(len, candidates[: matched - 1])),
                                                len(candidates[matched - 1]), eof):
            matched -= 1  # the last match's end is not a cut here (or cannot be told yet)
            ran_out = ran_out or len(data) - pos - sum(map(len, candidates[:matched])) >= self.max
        piece.chunks += candidates[:matched]
        piece.ids += ids[:matched]
        self.next_old += matched
        if ran_out:
            self.next_old = -1
        taken = sum(map(len, candidates[:matched]))
        self.followed += taken
        return pos + taken

    def _boundary_holds(self, data: memoryview, start: int, length: int, eof: bool) -> bool:
        """Whether a full cut from `start` ends its first chunk after `length` bytes (False too when
        less than a maximal chunk is there and more data will come: the next block decides)."""
        window = data[start : start + self.max]
        if len(window) < self.max and not eof:
            return False
        first = next(iter(self.cdc.cut_buf(window)))
        return int(first.length) == length

    def _cut_rest(self, data: memoryview, pos: int, eof: bool, piece: Piece) -> int:
        """Content-defined cuts from `pos`; a chunk counts only when what follows cannot move its end."""
        last_start = len(data) - self.max  # a chunk starting later may be cut short by the block's end
        chunks = []
        for chunk in self.cdc.cut_buf(data[pos:]):
            if not eof and pos + int(chunk.offset) > last_start:
                break
            chunks.append(chunk.data)
        ids = self.hash_many(chunks)
        piece.chunks += chunks
        piece.ids += ids
        if ids and not eof:
            self.next_old = self.resume.get(ids[-1], -1)  # back on the old version's chunks: follow them
        return pos + sum(map(len, chunks))
