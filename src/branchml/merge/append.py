"""The streaming path of `rows`: both sides only appended to the base (logs, raw uploads).

Then the merge is ours, followed by the rows theirs appended that ours did not append too: the same
result as the general merge (unkeyed), but only the appended tails are held in memory, so files far
larger than memory merge. The base must end at a row boundary (a newline outside quotes).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import blake3

from branchml.merge.records import Record
from branchml.merge.rows import RowFormat, line_end, split_rows, to_records
from branchml.merge.sides import OpenStore, Side

BLOCK = 1 << 20


def content(side: Side, store: OpenStore, where: str) -> Iterator[bytes]:
    """The side's bytes, block by block (verified chunks for a pointer)."""
    if side.pointer is not None:
        yield from store().iter_file(side.pointer, f"{where} ({side.name})")
        return
    with open(side.path, "rb") as f:
        while block := f.read(BLOCK):
            yield block


def base_digest(base: Side, store: OpenStore, where: str) -> tuple[str, int, bool]:
    """(BLAKE3 hex, size, ends at a row boundary) of the base's content."""
    digest, size, quotes, last = blake3.blake3(), 0, 0, b""
    for block in content(base, store, where):
        digest.update(block)
        size += len(block)
        quotes += block.count(b'"')
        last = block[-1:]
    return digest.hexdigest(), size, last == b"\n" and quotes % 2 == 0


def tail_after_prefix(side: Side, store: OpenStore, where: str, digest: str, size: int, limit: int) -> bytes | None:
    """The bytes after the first `size` bytes if those are the base's (same BLAKE3), else None."""
    prefix, seen, tail = blake3.blake3(), 0, bytearray()
    for block in content(side, store, where):
        if seen < size:
            take = min(size - seen, len(block))
            prefix.update(block[:take])
            seen += take
            block = block[take:]
            if seen == size and prefix.hexdigest() != digest:
                return None
        tail += block
        if len(tail) > limit:
            return None
    return bytes(tail) if seen == size and prefix.hexdigest() == digest else None


def theirs_extra(ours_tail: bytes, theirs_tail: bytes, fmt: RowFormat) -> list[bytes]:
    """Rows theirs appended, less those ours appended too (counted, like the general merge)."""
    ours_counts = Counter(r.ident for r in _rows(ours_tail, fmt))
    extra = []
    for record in _rows(theirs_tail, fmt):
        if ours_counts[record.ident] > 0:
            ours_counts[record.ident] -= 1
        else:
            extra.append(record.value)
    return extra


def _rows(tail: bytes, fmt: RowFormat) -> list[Record]:
    return to_records(split_rows(tail, fmt), fmt, None, None, "")


def write_appended(target: Path, ours: Side, ours_tail: bytes, extra: list[bytes], store: OpenStore, where: str) -> None:
    """Stream ours, then the extra rows, into `target` (rows end as ours' rows do)."""
    eol = line_end(ours_tail)
    last = b""
    with open(target, "wb") as out:
        for block in content(ours, store, where):
            out.write(block)
            last = block[-1:]
        if extra and last != b"\n":
            out.write(eol)
        for i, row in enumerate(extra):
            out.write(row if row.endswith(b"\n") or i == len(extra) - 1 else row + eol)
