"""Oracle for the streamed merge: `merge/rows.py` as of ca6b526, whole files in memory (unchanged but for imports)."""
from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from branchml.merge.outcome import Outcome
from branchml.merge.records import (
    Conflict,
    Record,
    Unmergeable,
    conflicts_of,
    describe,
    marker_block,
    merge_records,
)

_LINE = re.compile(rb"[^\n]*\n|[^\n]+\Z")


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
    parsed = [_split(data, fmt) for data in (base, ours, theirs)]
    header = _common_header(parsed[1][0], parsed[2][0], fmt)
    key_index = _key_index(header, key, fmt)
    sides = [to_records(rows, fmt, key, key_index, side) for (_, rows), side in zip(parsed, ("base", "ours", "theirs"))]
    merged = merge_records(*sides)
    conflicts = conflicts_of(merged)
    if not conflicts:
        idents = [r.ident for r in merged]  # type: ignore[union-attr]
        for data, records in ((ours, sides[1]), (theirs, sides[2])):
            if idents == [r.ident for r in records]:
                return Outcome(data, [])
    eol = line_end(ours or theirs)
    body = _render(merged, eol, marker_size, key)
    head = parsed[1][0] or parsed[2][0] or b""
    if head and body and not head.endswith(b"\n"):
        head += eol
    return Outcome(head + body, [describe(c, f"row with {key}={c.key}") for c in conflicts])


def _split(data: bytes, fmt: RowFormat) -> tuple[bytes | None, list[bytes]]:
    """(header, rows): the header only for CSV."""
    rows = split_rows(data, fmt)
    if fmt.kind != "csv":
        return None, rows
    return (rows[0], rows[1:]) if rows else (None, [])


def split_rows(data: bytes, fmt: RowFormat) -> list[bytes]:
    """Rows with their line ends; a CSV row may span lines inside quotes."""
    lines = _LINE.findall(data)
    if fmt.kind != "csv":
        return lines
    rows: list[bytes] = []
    pending = b""
    for line in lines:
        pending += line
        if pending.count(b'"') % 2 == 0:
            rows.append(pending)
            pending = b""
    if pending:
        rows.append(pending)  # an unterminated quote: kept whole, compared as it is
    return rows


def _fields(row: bytes, fmt: RowFormat) -> tuple[str, ...]:
    text = row.decode("utf-8", errors="surrogateescape").rstrip("\r\n")
    try:
        return tuple(next(csv.reader([text], delimiter=fmt.delimiter, strict=False), []))
    except csv.Error as exc:  # e.g. a field over the csv module's size limit
        raise Unmergeable(f"a row cannot be read as CSV ({exc}): {text[:60]!r}") from None


def _fields_or_raw(row: bytes, fmt: RowFormat) -> tuple:
    """The row's fields, or its bytes when the csv module cannot read it (compared exactly then)."""
    try:
        return _fields(row, fmt)
    except Unmergeable:
        return ("raw", row.rstrip(b"\r\n"))


def _common_header(ours: bytes | None, theirs: bytes | None, fmt: RowFormat) -> tuple[str, ...] | None:
    if fmt.kind != "csv":
        return None
    a = _fields(ours, fmt) if ours else None
    b = _fields(theirs, fmt) if theirs else None
    if a is not None and b is not None and a != b:
        raise Unmergeable(f"the CSV headers differ: ours {list(a)}, theirs {list(b)}")
    return a or b


def _key_index(header: tuple[str, ...] | None, key: str | None, fmt: RowFormat) -> int | None:
    if key is None or fmt.kind != "csv" or header is None:
        return None
    if key not in header:
        raise Unmergeable(f"the key column {key!r} is not in the header {list(header)}")
    return header.index(key)


def to_records(rows: list[bytes], fmt: RowFormat, key: str | None, key_index: int | None, side: str) -> list[Record]:
    out = []
    for number, row in enumerate(rows, start=2 if fmt.kind == "csv" else 1):
        if fmt.kind == "csv" and key_index is None:
            out.append(Record(row, _fields_or_raw(row, fmt)))
        elif fmt.kind == "csv":
            fields = _fields(row, fmt)
            out.append(Record(row, fields, fields[key_index] if key_index < len(fields) else None))
        elif fmt.kind == "jsonl" and key is not None and row.strip():
            out.append(Record(row, row.rstrip(b"\r\n"), _json_key(row, key, f"{side} line {number}")))
        else:
            out.append(Record(row, row.rstrip(b"\r\n")))
    return out


def _json_key(row: bytes, key: str, where: str) -> str | None:
    try:
        value = json.loads(row)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unmergeable(f"{where} is not valid JSON ({exc})") from None
    if isinstance(value, dict) and key in value:
        return json.dumps(value[key], sort_keys=True, ensure_ascii=False)
    return None


def line_end(sample: bytes) -> bytes:
    first = _LINE.match(sample)
    return b"\r\n" if first and first.group().endswith(b"\r\n") else b"\n"


def _render(merged: list, eol: bytes, marker_size: int, key: str | None) -> bytes:
    def line(record: Record) -> bytes:
        return record.value if record.value.endswith(b"\n") else record.value + eol

    out: list[bytes] = []
    for i, item in enumerate(merged):
        if isinstance(item, Conflict):
            out += marker_block(item, line, marker_size, f"{key}={item.key}", eol)
        elif i == len(merged) - 1:
            out.append(item.value)  # the last row keeps its (missing) end of line
        else:
            out.append(line(item))
    return b"".join(out)

