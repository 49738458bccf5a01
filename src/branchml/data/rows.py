"""Row files (CSV, JSON Lines, Parquet): one row = one example, for cleaning and splitting.

CSV and JSONL rows keep their original bytes, so a cleaned or split file differs from its source
only by the rows it leaves out. Parquet goes through pyarrow (the `data` extra).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from posixpath import splitext
from typing import Any

from branchml.errors import BranchmlError

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


@dataclass
class Row:
    number: int  # line of the record (CSV, JSONL) or row index (Parquet), 1-based
    value: Any  # the parsed record; None when it does not parse
    error: str | None = None  # why it does not parse
    raw: bytes = b""  # original bytes with line ending (CSV, JSONL)


class UnreadableFile(Exception):
    """The file as a whole cannot be read as its format (bad encoding, not Parquet...)."""


def row_format(path: str) -> str | None:
    return FORMATS.get(splitext(path)[1].lower())


@dataclass
class RowFile:
    fmt: str
    header: bytes  # CSV header line; empty for other formats
    rows: list[Row]
    table: Any = None  # the pyarrow table of a Parquet file

    def subset(self, numbers: list[int]) -> bytes:
        """The file holding only the rows with these numbers, in file order."""
        if self.fmt == "parquet":
            return _parquet_bytes(self.table.take([n - 1 for n in numbers]))
        by_number = {r.number: r.raw for r in self.rows}
        return self.header + b"".join(_terminated(by_number[n]) for n in sorted(numbers))


def read_row_file(path: str, data: bytes) -> RowFile:
    fmt = row_format(path)
    if fmt == "parquet":
        return _read_parquet(data)
    text = _decode(data)
    return _read_csv(text) if fmt == "csv" else RowFile("jsonl", b"", _read_jsonl(text))


def canonical(value: Any) -> bytes:
    """One byte string per logical record: the basis of row content hashes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def key_of(row: Row, key: str, path: str) -> str:
    """The example id of a row: its `key` column, as text."""
    if not isinstance(row.value, dict) or key not in row.value:
        columns = sorted(row.value) if isinstance(row.value, dict) else []
        raise BranchmlError(
            f"{path}: row {row.number} has no column {key!r}" + (f" (columns: {', '.join(columns)})" if columns else ""),
            hint="pass --key with a column every row has, or leave --key out to split rows by content",
        )
    return str(row.value[key])


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def _lines(text: str) -> list[str]:
    """Lines ended by LF only: str.splitlines() also breaks at form feeds and U+2028, which
    CSV fields and JSON strings may hold."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    return lines + [parts[-1]] if parts[-1] else lines


def _terminated(raw: bytes) -> bytes:
    return raw if raw.endswith(b"\n") else raw + b"\n"


def _read_jsonl(text: str) -> list[Row]:
    rows = []
    for number, line in enumerate(_lines(text), 1):
        raw = line.encode()
        if not line.strip():
            rows.append(Row(number, None, "blank line", raw))
            continue
        try:
            rows.append(Row(number, json.loads(line), None, raw))
        except json.JSONDecodeError as exc:
            rows.append(Row(number, None, f"unparsable JSON ({exc.msg}, column {exc.colno})", raw))
    return rows


def _read_csv(text: str) -> RowFile:
    """Records with the exact lines they span (quoted fields may hold newlines)."""
    lines = _lines(text)
    reader = csv.reader(iter(lines))
    try:
        header = next(reader)
    except StopIteration:
        return RowFile("csv", b"", [])
    except csv.Error as exc:
        raise UnreadableFile(f"unreadable CSV header ({exc})") from exc
    consumed = reader.line_num
    rows = []
    head = "".join(lines[:consumed]).encode()
    while True:
        start = consumed
        try:
            fields = next(reader)
            error = None
        except StopIteration:
            break
        except csv.Error as exc:
            fields, error = None, f"unparsable CSV ({exc})"
        consumed = max(reader.line_num, start + 1)
        raw = "".join(lines[start:consumed]).encode()
        rows.append(_csv_row(start + 1, header, fields, error, raw))
    return RowFile("csv", _terminated(head), rows)


def _csv_row(number: int, header: list[str], fields: list[str] | None, error: str | None, raw: bytes) -> Row:
    if error:
        return Row(number, None, error, raw)
    if not fields or all(not f.strip() for f in fields):
        return Row(number, None, "blank row", raw)
    if len(fields) != len(header):
        return Row(number, None, f"expected {len(header)} fields, got {len(fields)}", raw)
    return Row(number, dict(zip(header, fields)), None, raw)


def _read_parquet(data: bytes) -> RowFile:
    pa, pq = _pyarrow()

    try:
        # one thread, no pre-buffering: Arrow's read_table() path can abort the interpreter at exit
        # ("terminate called without an active exception", apache/arrow#34314); this path did not
        table = pq.ParquetFile(pa.BufferReader(data), pre_buffer=False).read(use_threads=False)
    except (pa.ArrowException, OSError) as exc:
        raise UnreadableFile(f"unreadable Parquet ({exc})") from exc
    rows = [Row(i + 1, value) for i, value in enumerate(table.to_pylist())]
    return RowFile("parquet", b"", rows, table)


def _parquet_bytes(table: Any) -> bytes:
    _, pq = _pyarrow()

    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _pyarrow() -> tuple[Any, Any]:  # the pyarrow and pyarrow.parquet modules
    try:
        import pyarrow  # optional extra `data`: Parquet only
        import pyarrow.parquet  # optional extra `data`: Parquet only
    except ImportError as exc:
        raise BranchmlError("Parquet files need pyarrow", hint="pip install 'branchml[data]'") from exc
    return pyarrow, pyarrow.parquet
