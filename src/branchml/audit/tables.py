"""Tables inside data files (CSV, TSV, JSONL, Parquet, SQLite), read as streams of canonical rows.

A row's canonical text is its values in the order of the columns both sides share (sorted by name),
so a column that was added or removed is reported once instead of making every row "changed".
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from branchml.audit.content import Blob, iter_bytes, open_blob
from branchml.audit.rowdiff import Row
from branchml.errors import BranchmlError
from branchml.git import plumbing
from branchml.repo import Repo

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet",
           ".db": "sqlite", ".sqlite": "sqlite", ".sqlite3": "sqlite"}
SEP = "\x1f"


def format_of(path: str) -> str | None:
    return FORMATS.get(Path(path).suffix.lower())


@dataclass
class Table:
    """One table of one side: its columns and a way to stream its rows."""

    name: str
    columns: list[str] | None  # None: schemaless (JSONL objects)
    source: Source

    def rows(self, shared: list[str] | None, key: list[str] | None) -> Iterator[Row]:
        return self.source.rows(self.name, self.columns, shared, key)


class Source:
    """A data file of one side; materialised into `workdir` only for formats that need a real file.
    Git blobs are read through `objects`, the one `git cat-file` of the whole diff."""

    def __init__(self, repo: Repo, blob: Blob | None, fmt: str, workdir: Path, side: str,
                 objects: plumbing.CatFile | None = None) -> None:
        self.repo, self.blob, self.fmt, self.objects = repo, blob, fmt, objects
        self.local = workdir / f"{side}{Path(blob.path).suffix if blob else ''}"
        if blob is not None and fmt in ("parquet", "sqlite"):
            with open(self.local, "wb") as out:
                out.writelines(iter_bytes(repo, blob, objects))

    def tables(self) -> list[Table]:
        if self.blob is None:
            return []
        if self.fmt in ("csv", "tsv"):
            with open_blob(self.repo, self.blob, self.objects) as stream:
                header = next(csv.reader(io.TextIOWrapper(stream, "utf-8", "surrogateescape", newline=""), dialect=self._dialect()), [])
            return [Table(self.blob.path, header, self)]
        if self.fmt == "parquet":
            import pyarrow.parquet as pq  # heavy optional dependency (extra `data`)

            return [Table(self.blob.path, pq.ParquetFile(self.local).schema_arrow.names, self)]
        if self.fmt == "sqlite":
            return [Table(name, cols, self) for name, cols in _sqlite_tables(self.local)]
        return [Table(self.blob.path, None, self)]

    def rows(self, table: str, columns: list[str] | None, shared: list[str] | None, key: list[str] | None) -> Iterator[Row]:
        if self.fmt in ("csv", "tsv"):
            return self._csv_rows(columns or [], shared or [], key)
        if self.fmt == "jsonl":
            return self._jsonl_rows(key)
        if self.fmt == "parquet":
            return self._parquet_rows(shared or [], key)
        return self._sqlite_rows(table, columns or [], shared or [], key)

    def _dialect(self) -> type[csv.Dialect]:
        return csv.excel_tab if self.fmt == "tsv" else csv.excel

    def _csv_rows(self, columns: list[str], shared: list[str], key: list[str] | None) -> Iterator[Row]:
        """Parsed by pyarrow's streaming CSV reader, rows joined in C: the Python loop only carries rows."""
        import pyarrow as pa  # heavy optional dependency (extra `data`)
        import pyarrow.compute as pc
        import pyarrow.csv as pacsv

        assert self.blob is not None
        names = [f"c{i}" for i in range(len(columns))]  # header names may repeat; positions do not
        where = {name: f"c{i}" for i, name in reversed(list(enumerate(columns)))}
        with open_blob(self.repo, self.blob, self.objects) as stream:
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=1 << 22),
                parse_options=pacsv.ParseOptions(delimiter="\t" if self.fmt == "tsv" else ",", newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False),
            )
            for batch in reader:
                texts = _joined(pc, batch, [where[c] for c in shared])
                keys = _joined(pc, batch, [where[c] for c in key]) if key else [None] * batch.num_rows
                yield from map(Row, keys, texts)

    def _jsonl_rows(self, key: list[str] | None) -> Iterator[Row]:
        assert self.blob is not None
        with open_blob(self.repo, self.blob, self.objects) as stream:
            for number, line in enumerate(stream, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise BranchmlError(f"{self.blob.path}: line {number} is not JSON ({exc.msg})") from None
                yield Row(_key_of(obj, key), json.dumps(obj, sort_keys=True, default=str))

    def _parquet_rows(self, shared: list[str], key: list[str] | None) -> Iterator[Row]:
        import pyarrow.parquet as pq  # heavy optional dependency (extra `data`)

        with closing(pq.ParquetFile(self.local, pre_buffer=False)) as file:
            for batch in file.iter_batches(batch_size=8192, columns=shared, use_threads=False):
                for obj in batch.to_pylist():
                    yield Row(_key_of(obj, key), json.dumps([obj[c] for c in shared], default=str))

    def _sqlite_rows(self, table: str, columns: list[str], shared: list[str], key: list[str] | None) -> Iterator[Row]:
        key = key or _primary_key(self.local, table)
        picks = ", ".join(_quote(c) for c in shared) or "1"
        keys = ", ".join(_quote(c) for c in key) if key else "NULL"
        with closing(sqlite3.connect(f"file:{self.local}?mode=ro", uri=True)) as db:
            for values in db.execute(f"SELECT {keys}, {picks} FROM {_quote(table)}"):
                n = len(key) if key else 1
                k = SEP.join(str(v) for v in values[:n]) if key else None
                yield Row(k, json.dumps(list(values[n:]), default=repr))

    def close(self) -> None:
        self.local.unlink(missing_ok=True)


def _joined(pc: Any, batch: Any, names: list[str]) -> list[Any]:
    if not names:
        return [""] * batch.num_rows
    columns = [batch.column(name) for name in names]
    return list(pc.binary_join_element_wise(*columns, SEP).to_pylist())


def _key_of(obj: Any, key: list[str] | None) -> str | None:
    if not key:
        return None
    if not isinstance(obj, dict):
        return None
    return SEP.join(str(obj.get(k)) for k in key)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sqlite_tables(path: Path) -> list[tuple[str, list[str]]]:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return [(n, [r[1] for r in db.execute(f"PRAGMA table_info({_quote(n)})")]) for n in names]


def _primary_key(path: Path, table: str) -> list[str] | None:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        info = sorted((r[5], r[1]) for r in db.execute(f"PRAGMA table_info({_quote(table)})") if r[5])
    return [name for _, name in info] or None

