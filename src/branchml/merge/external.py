"""The record merge of `records`, done in bounded memory and O(n) passes for files of any size.

`records.merge_records` states the rules on lists held in memory; this module gives the same result
by streaming: (1) each side's records are read once and a small entry per record (a 12-byte BLAKE2b
digest of its identity, of its key, its position) goes to a bucket chosen by digest, spilled to disk
beyond `HELD_BYTES`; (2) each bucket is resolved alone (all versions of a record meet in one bucket),
which sets one action byte per record of ours and theirs; (3) ours and then theirs are streamed again
and the kept records written, in the order the rules give. Work is linear in the records; memory
holds one bucket, the action bytes (one per record) and the codec's current record.

A codec (`rows.RowsCodec`, `jsonlist.JsonCodec`) knows the file format: it splits a side into records
and writes the merge (with conflict markers).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple, Protocol

from branchml.merge import resolve
from branchml.merge.records import Unmergeable

HELD_BYTES = 16 << 20  # entries held in memory before they spill to disk
BUCKET_INPUT = 2 << 20  # about this much input per bucket, so one bucket's records fit in memory
MAX_BUCKETS = 4096  # up to 8 GiB of input before a bucket grows past BUCKET_INPUT
BLOCK = 1 << 20
SIDES = ("base", "ours", "theirs")


@dataclass(frozen=True)
class Source:
    """One side's content: bytes in memory, or a file (read in blocks, and at offsets)."""

    name: str
    data: bytes = b""
    path: Path | None = None

    def blocks(self) -> Iterator[bytes]:
        if self.path is None:
            for start in range(0, len(self.data), BLOCK):
                yield self.data[start:start + BLOCK]
            return
        with open(self.path, "rb") as f:
            while block := f.read(BLOCK):
                yield block

    def read_at(self, offset: int, length: int) -> bytes:
        if self.path is None:
            return self.data[offset:offset + length]
        with open(self.path, "rb") as f:
            return os.pread(f.fileno(), length, offset)

    def head(self, size: int = 4096) -> bytes:
        return self.read_at(0, size)

    @property
    def size(self) -> int:
        return len(self.data) if self.path is None else self.path.stat().st_size


class Rec(NamedTuple):  # a tuple: built once per record per pass, so cheaply
    value: Any  # what the codec writes back (a row's bytes, a parsed JSON value)
    ident: bytes  # equal idents mean equal records
    key: str | None  # the record's key when a key is configured and the record has it
    offset: int  # where the record's bytes start in its side
    length: int


class Writer(Protocol):
    conflicts: list[str]

    def record(self, rec: Rec) -> None: ...
    def conflict(self, ours: Rec | None, theirs: Rec | None) -> None: ...
    def close(self) -> None: ...


class Codec(Protocol):
    def records(self, source: Source) -> Iterator[Rec]: ...
    def load(self, source: Source, offset: int, length: int) -> Rec: ...
    def writer(self, out: IO[bytes], conflicted: bool) -> Writer: ...


@dataclass
class Result:
    conflicts: list[str]
    same_as: Source | None  # the merge equals this side: its bytes are the answer (nothing was written)


def digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=12).digest()


def merge(codec: Codec, base: Source, ours: Source, theirs: Source, out: IO[bytes], folder: Path | None) -> Result:
    """Merge the three sides into `out` (unless the result is one side: see Result.same_as)."""
    count = min(MAX_BUCKETS, max(1, (base.size + ours.size + theirs.size) // BUCKET_INPUT))
    index = resolve.Index(count, folder, HELD_BYTES)
    try:
        with tempfile.TemporaryFile(dir=folder) as ours_log, tempfile.TemporaryFile(dir=folder) as theirs_log:
            logs = (None, ours_log, theirs_log)
            sequences = [_index_side(codec, source, side, index, logs[side]) for side, source in enumerate((base, ours, theirs))]
            plan = index.resolve()
            if any(plan.duplicates):
                raise Unmergeable(_duplicate_message(codec, (base, ours, theirs), plan.duplicates))
            ours_log.seek(0)
            theirs_log.seek(0)
            writer = codec.writer(out, plan.conflicts > 0)
            merged = _write(codec, plan, ours, theirs, ours_log, theirs_log, writer)
    finally:
        index.close()
    if not writer.conflicts:
        for sequence, source in zip(sequences[1:], (ours, theirs)):
            if merged == sequence:
                return Result([], source)
    return Result(writer.conflicts, None)


def _index_side(codec: Codec, source: Source, side: int, index: resolve.Index, log: IO[bytes] | None) -> bytes:
    """Enter every record of one side; return the digest of its sequence of identities."""
    sequence = hashlib.blake2b(digest_size=16)
    for position, rec in enumerate(codec.records(source)):
        ident = digest(rec.ident)
        if rec.key is None:
            index.add_unkeyed(ident, side, position)
        else:
            index.add_keyed(digest(rec.key.encode("utf-8", "surrogatepass")), ident, side, position, rec.offset, rec.length)
        if log is not None:
            sequence.update(ident)
            log.write(ident)
    return sequence.digest()


def _write(codec: Codec, plan: resolve.Plan, ours: Source, theirs: Source,
           ours_log: IO[bytes], theirs_log: IO[bytes], writer: Writer) -> bytes:
    """Stream ours then theirs into the writer as the plan says; return the digest of the merged identities."""
    sequence = hashlib.blake2b(digest_size=16)
    for position, rec in enumerate(codec.records(ours)):
        ident, action = ours_log.read(12), plan.ours[position]
        if action == resolve.KEEP:
            writer.record(rec)
            sequence.update(ident)
        elif action == resolve.GONE:
            writer.conflict(rec, None)
        elif action != resolve.DROP:
            offset, length, their_ident = plan.pair(position)
            other = codec.load(theirs, offset, length)
            if action == resolve.SUBST:
                writer.record(other)
                sequence.update(their_ident)
            else:
                writer.conflict(rec, other)
    for position, rec in enumerate(codec.records(theirs)):
        ident, action = theirs_log.read(12), plan.theirs[position]
        if action == resolve.KEEP:
            writer.record(rec)
            sequence.update(ident)
        elif action == resolve.CONFLICT:
            writer.conflict(None, rec)
    writer.close()
    return sequence.digest()


def _duplicate_message(codec: Codec, sources: tuple[Source, ...], duplicates: list[set[bytes]]) -> str:
    """The first key that appears twice, in the order the in-memory merge checks (base, ours, theirs)."""
    for side, source in enumerate(sources):
        if not duplicates[side]:
            continue
        seen: set[bytes] = set()
        for rec in codec.records(source):
            if rec.key is None:
                continue
            key = digest(rec.key.encode("utf-8", "surrogatepass"))
            if key in duplicates[side] and key in seen:
                return f"key {rec.key} appears more than once in {SIDES[side]}"
            seen.add(key)
    return "a key appears more than once"
