"""`branchml-rows`: merge row files (CSV, TSV, JSON Lines, plain lines) by appending.

Rows keep their exact bytes; only the merged order is new. CSV/TSV files must have the same header
on both sides. With a key column, rows are matched by key (see `records` for the rules). The merge
streams (`external`): files of any size merge in bounded memory.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from branchml.merge import external
from branchml.merge.external import Rec, Source
from branchml.merge.outcome import Outcome
from branchml.merge.records import Conflict, Record, Unmergeable, describe, marker_block


@dataclass(frozen=True)
class RowFormat:
    kind: str  # "csv", "jsonl" or "lines"
    delimiter: str = ","


def format_for(path: str) -> RowFormat:
    suffix = PurePosixPath(path).suffix.lower()
    if suffix == ".csv":
        return RowFormat("csv")
    if suffix == ".tsv":
        return RowFormat("csv", "\t")
    if suffix in (".jsonl", ".ndjson"):
        return RowFormat("jsonl")
    return RowFormat("lines")


def merge_rows(
    base: bytes, ours: bytes, theirs: bytes, *, fmt: RowFormat, key: str | None = None, marker_size: int = 7
) -> Outcome:
    if ours == theirs or base == theirs:
        return Outcome(ours, [])
    if base == ours:
        return Outcome(theirs, [])
    o, a, b = (Source(side, data=data) for side, data in zip(external.SIDES, (base, ours, theirs)))
    out = io.BytesIO()
    result = merge_row_sources(o, a, b, out, fmt=fmt, key=key, marker_size=marker_size, folder=None)
    return Outcome(result.same_as.data if result.same_as else out.getvalue(), result.conflicts)


def merge_row_sources(base: Source, ours: Source, theirs: Source, out: IO[bytes], *, fmt: RowFormat,
                      key: str | None, marker_size: int, folder: Path | None) -> external.Result:
    codec = RowsCodec(fmt, key, marker_size)
    codec.prepare(ours, theirs)
    return external.merge(codec, base, ours, theirs, out, folder)


def iter_rows(blocks: Iterable[bytes], fmt: RowFormat) -> Iterator[tuple[bytes, int]]:
    """(row, offset) in order, rows with their line ends; a CSV row may span lines inside quotes."""
    offset, pending, quotes = 0, [], 0
    if fmt.kind != "csv":  # a row is a line
        for line in _lines(blocks):
            yield line, offset
            offset += len(line)
        return
    for line in _lines(blocks):
        pending.append(line)
        quotes += line.count(b'"')
        if quotes % 2 == 0:
            row = pending[0] if len(pending) == 1 else b"".join(pending)
            yield row, offset
            offset += len(row)
            pending, quotes = [], 0
    if pending:
        yield b"".join(pending), offset  # an unterminated quote: kept whole, compared as it is


def _lines(blocks: Iterable[bytes]) -> Iterator[bytes]:
    carry: list[bytes] = []
    for block in blocks:
        end = block.rfind(b"\n")
        if end < 0:
            carry.append(block)
            continue
        data = b"".join([*carry, block[:end + 1]]) if carry else block[:end + 1]
        carry = [block[end + 1:]] if end + 1 < len(block) else []
        for line in data.split(b"\n")[:-1]:
            yield line + b"\n"
    if carry:
        yield b"".join(carry)


def split_rows(data: bytes, fmt: RowFormat) -> list[bytes]:
    return [row for row, _ in iter_rows([data], fmt)]


def _fields(row: bytes, fmt: RowFormat) -> tuple[str, ...]:
    text = row.decode("utf-8", errors="surrogateescape").rstrip("\r\n")
    try:
        return tuple(next(csv.reader([text], delimiter=fmt.delimiter, strict=False), []))
    except csv.Error as exc:  # e.g. a field over the csv module's size limit
        raise Unmergeable(f"a row cannot be read as CSV ({exc}): {text[:60]!r}") from None


def _fields_ident(fields: tuple[str, ...]) -> bytes:
    return b"F" + repr(fields).encode("utf-8", "surrogatepass")  # repr of a tuple of str: one text per value


def identify(row: bytes, fmt: RowFormat, key: str | None, key_index: int | None, where: str) -> tuple[bytes, str | None]:
    """(identity, key) of one row: the parsed fields for CSV, else the row's bytes without its line end."""
    if fmt.kind == "csv" and key_index is None:
        try:
            return _fields_ident(_fields(row, fmt)), None
        except Unmergeable:  # compared as bytes then
            return b"R" + row.rstrip(b"\r\n"), None
    if fmt.kind == "csv":
        fields = _fields(row, fmt)
        return _fields_ident(fields), fields[key_index] if key_index is not None and key_index < len(fields) else None
    if fmt.kind == "jsonl" and key is not None and row.strip():
        return row.rstrip(b"\r\n"), _json_key(row, key, where)
    return row.rstrip(b"\r\n"), None


def to_records(rows: list[bytes], fmt: RowFormat, key: str | None, key_index: int | None, side: str) -> list[Record]:
    first = 2 if fmt.kind == "csv" else 1
    return [Record(row, *identify(row, fmt, key, key_index, f"{side} line {n}")) for n, row in enumerate(rows, first)]


def _json_key(row: bytes, key: str, where: str) -> str | None:
    try:
        value = json.loads(row)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unmergeable(f"{where} is not valid JSON ({exc})") from None
    if isinstance(value, dict) and key in value:
        return json.dumps(value[key], sort_keys=True, ensure_ascii=False)
    return None


def line_end(sample: bytes) -> bytes:
    first = sample.split(b"\n", 1)[0]
    return b"\r\n" if len(first) < len(sample) and first.endswith(b"\r") else b"\n"


class RowsCodec:
    """Rows for the external merge: the header, identities, keys, and the merged file's layout."""

    def __init__(self, fmt: RowFormat, key: str | None, marker_size: int) -> None:
        self.fmt, self.key, self.marker_size = fmt, key, marker_size
        self.key_index: int | None = None
        self.head, self.eol = b"", b"\n"

    def prepare(self, ours: Source, theirs: Source) -> None:
        """Check the headers (CSV) and take the line end from ours' first line (theirs' if ours is empty)."""
        first = [next(iter_rows(side.blocks(), self.fmt), (b"", 0))[0] for side in (ours, theirs)]
        self.eol = line_end(first[0] or first[1])
        if self.fmt.kind != "csv":
            return
        a, b = (_fields(row, self.fmt) if row else None for row in first)
        if a is not None and b is not None and a != b:
            raise Unmergeable(f"the CSV headers differ: ours {list(a)}, theirs {list(b)}")
        header = a or b
        self.head = first[0] or first[1]
        if self.key is not None and header is not None:
            if self.key not in header:
                raise Unmergeable(f"the key column {self.key!r} is not in the header {list(header)}")
            self.key_index = header.index(self.key)

    def records(self, source: Source) -> Iterator[Rec]:
        rows = iter_rows(source.blocks(), self.fmt)
        first = 1
        if self.fmt.kind == "csv":
            next(rows, None)
            first = 2
        for number, (row, offset) in enumerate(rows, first):
            ident, key = identify(row, self.fmt, self.key, self.key_index, f"{source.name} line {number}")
            yield Rec(row, ident, key, offset, len(row))

    def load(self, source: Source, offset: int, length: int) -> Rec:
        row = source.read_at(offset, length)
        ident, key = identify(row, self.fmt, self.key, self.key_index, source.name)
        return Rec(row, ident, key, offset, length)

    def writer(self, out: IO[bytes], conflicted: bool) -> RowsWriter:
        return RowsWriter(out, self, conflicted)


class RowsWriter:
    """Rows as they are; each ends with its line end except the last; conflicts between markers."""

    def __init__(self, out: IO[bytes], codec: RowsCodec, conflicted: bool) -> None:
        self.out, self.codec = out, codec
        self.conflicts: list[str] = []
        self.pending: bytes | None = None
        self.started = False

    def _line(self, record: Record | Rec) -> bytes:
        row: bytes = record.value
        return row if row.endswith(b"\n") else row + self.codec.eol

    def _next(self) -> None:
        if not self.started:
            head = self.codec.head
            self.out.write(head if not head or head.endswith(b"\n") else head + self.codec.eol)
            self.started = True
        if self.pending is not None:
            self.out.write(self.pending if self.pending.endswith(b"\n") else self.pending + self.codec.eol)
            self.pending = None

    def record(self, rec: Rec) -> None:
        self._next()
        self.pending = rec.value

    def conflict(self, ours: Rec | None, theirs: Rec | None) -> None:
        self._next()
        key = ours.key if ours is not None else theirs.key if theirs is not None else None
        item = Conflict(key, _as_record(ours), _as_record(theirs))
        self.out.write(b"".join(marker_block(item, self._line, self.codec.marker_size, f"{self.codec.key}={key}", self.codec.eol)))
        self.conflicts.append(describe(item, f"row with {self.codec.key}={key}"))

    def close(self) -> None:
        if not self.started:
            self.out.write(self.codec.head)
        elif self.pending is not None:
            self.out.write(self.pending)  # the last row keeps its (missing) end of line


def _as_record(rec: Rec | None) -> Record | None:
    return None if rec is None else Record(rec.value, rec.ident, rec.key)
