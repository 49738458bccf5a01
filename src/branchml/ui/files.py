"""The file browser: a tree listing or one file with its store status and a preview.

Previews read at most PREVIEW_BYTES of content (tables: the first rows through pyarrow; text: the
first lines; images: served to an <img> by the raw route, up to RAW_MAX bytes).
"""

from __future__ import annotations

import io
import json
import mimetypes
from itertools import islice
from typing import Any

from branchml.audit.content import Blob, blob_at, blobs_of, iter_bytes
from branchml.fs.locate import Location, NotFound
from branchml.git import plumbing
from branchml.repo import Repo

PREVIEW_ROWS = 20


def _entry(entry: plumbing.TreeEntry, blob: Blob | None) -> dict[str, Any]:
    """One row of a folder listing; `blob` when the entry is small enough to be a pointer."""
    return {"name": entry.path.rsplit("/", 1)[-1], "path": entry.path, "type": entry.type,
            "size": blob.size if blob else entry.size, "store": bool(blob and blob.pointer)}
PREVIEW_BYTES = 64 << 20
TEXT_LINES = 200
RAW_MAX = 20 << 20
IMAGES = (".png", ".jpg", ".jpeg", ".gif", ".webp")


def browse(repo: Repo, where: Location) -> dict[str, Any]:
    entries = plumbing.ls_tree(repo.cwd, where.commit, [where.path] if where.path else [], recursive=False, long=True)
    if where.path and len(entries) == 1 and entries[0].path == where.path and entries[0].type == "blob":
        return {"kind": "file", **file_view(repo, where)}
    if where.path:
        entries = plumbing.ls_tree(repo.cwd, where.commit, [where.path + "/"], recursive=False, long=True)
        if not entries:
            raise NotFound(f"{where.ref} has no file or folder {where.path!r}")
    with plumbing.CatFile(repo.cwd) as objects:  # one process for the folder, not one per file
        blobs = blobs_of(repo, entries, objects)
    listing = [_entry(e, blobs.get(e.path)) for e in entries]
    return {"kind": "tree", "entries": sorted(listing, key=lambda x: (x["type"] != "tree", x["name"]))}


def file_view(repo: Repo, where: Location) -> dict[str, Any]:
    blob = blob_at(repo, where.commit, where.path)
    if blob is None:
        raise NotFound(f"{where.ref} has no file {where.path!r}")
    local = _is_local(repo, blob)
    info = {"path": where.path, "size": blob.size, "store": blob.pointer is not None,
            "oid": blob.pointer.oid if blob.pointer else blob.blob, "local": local,
            "image": where.path.lower().endswith(IMAGES) and blob.size <= RAW_MAX}
    info["preview"] = preview(repo, blob) if local and blob.size <= PREVIEW_BYTES else None
    return info


def _is_local(repo: Repo, blob: Blob) -> bool:
    if blob.pointer is None:
        return True
    record = repo.store.file_record(blob.pointer.oid)
    return record is not None and not repo.store.missing_chunks(record)


def preview(repo: Repo, blob: Blob) -> dict[str, Any] | None:
    name = blob.path.lower()
    if name.endswith(IMAGES):
        return None
    data = b"".join(iter_bytes(repo, blob))
    if name.endswith((".csv", ".tsv")):
        return _csv(data, "\t" if name.endswith(".tsv") else ",")
    if name.endswith((".jsonl", ".ndjson")):
        rows = [json.loads(line) for line in islice(data.splitlines(), PREVIEW_ROWS) if line.strip()]
        return _table([r if isinstance(r, dict) else {"value": r} for r in rows])
    if name.endswith(".parquet"):
        return _parquet(data)
    if b"\0" in data[:8192]:
        return {"kind": "binary"}
    lines = data.decode("utf-8", "replace").splitlines()
    return {"kind": "text", "text": "\n".join(lines[:TEXT_LINES]), "more": max(0, len(lines) - TEXT_LINES)}


def _csv(data: bytes, delimiter: str) -> dict[str, Any]:
    import pyarrow.csv as pacsv  # heavy optional dependency (extra `data`)

    reader = pacsv.open_csv(io.BytesIO(data), parse_options=pacsv.ParseOptions(delimiter=delimiter))
    batch = reader.read_next_batch()
    return _table(batch.slice(0, PREVIEW_ROWS).to_pylist())


def _parquet(data: bytes) -> dict[str, Any]:
    import pyarrow.parquet as pq  # heavy optional dependency (extra `data`)

    file = pq.ParquetFile(io.BytesIO(data))
    rows = next(file.iter_batches(batch_size=PREVIEW_ROWS, use_threads=False), None)
    return _table(rows.to_pylist() if rows is not None else [])


def _table(rows: list[dict[str, Any]]) -> dict[str, Any]:
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    return {"kind": "table", "columns": columns, "rows": [[row.get(c) for c in columns] for row in rows]}


def raw(repo: Repo, where: Location) -> tuple[bytes, str]:
    """An image's bytes for <img>: only images, only up to RAW_MAX (the page is read-only, not a CDN)."""
    blob = blob_at(repo, where.commit, where.path)
    if blob is None or not where.path.lower().endswith(IMAGES) or blob.size > RAW_MAX:
        raise NotFound(f"no image {where.path!r} in {where.ref}")
    return b"".join(iter_bytes(repo, blob)), mimetypes.guess_type(where.path)[0] or "application/octet-stream"
