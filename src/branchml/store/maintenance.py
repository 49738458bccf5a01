"""fsck of the chunk store (the Git side, which files are tracked or reachable, is the caller's)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from branchml.errors import CorruptObject
from branchml.store.pack import PACK_MAGIC


@dataclass
class Problem:
    kind: str  # missing-pack | truncated-pack | bad-pack | missing-chunk | corrupt-chunk
    object_id: str
    detail: str
    files: list[str] = field(default_factory=list)  # oids of files it breaks

    def as_dict(self) -> dict:
        return {"kind": self.kind, "id": self.object_id, "detail": self.detail, "files": self.files}


def check_store(store, *, read_data: bool = False, advance: Callable[[int], None] = lambda n: None) -> list[Problem]:
    """Every chunk the index knows must lie inside an existing pack (and, with read_data, hash right)."""
    problems: dict[bytes, Problem] = {}
    sizes: dict[str, int | None] = {}
    for name in store.index.pack_states():
        path = store.packs_dir / name
        sizes[name] = path.stat().st_size if path.exists() else None
        if sizes[name] is not None and _magic(path) != PACK_MAGIC:
            problems[name.encode()] = Problem("bad-pack", name, f"{path} does not start with the pack magic")
    for cid, loc in store.index.iter_chunks():
        size = sizes.get(loc.pack)
        if size is None:
            problems[cid] = Problem("missing-chunk", cid.hex(), f"pack {loc.pack} is missing")
        elif loc.offset + loc.stored_len > size:
            problems[cid] = Problem("missing-chunk", cid.hex(), f"pack {loc.pack} is truncated at {size} bytes")
        elif read_data:
            try:
                store.read_chunk(cid, loc)
            except CorruptObject:
                problems[cid] = Problem("corrupt-chunk", cid.hex(), f"bytes at {loc.pack}:{loc.offset} do not match")
        advance(loc.raw_len)
    _attach_files(store, problems)
    return list(problems.values())


def missing_chunks_of_files(store, oids: Iterable[str]) -> list[Problem]:
    """Files (by oid) the store lacks entirely or in part: what a checkout of them would fail on."""
    out = []
    for oid in oids:
        record = store.file_record(oid)
        if record is None:
            out.append(Problem("missing-file", oid, "no file record in the store", [oid]))
            continue
        missing = store.missing_chunks(record)
        if missing:
            out.append(Problem("missing-chunk", missing[0].hex(), f"{len(missing)} chunk(s) missing", [oid]))
    return out


def _magic(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(len(PACK_MAGIC))


def _attach_files(store, problems: dict[bytes, Problem]) -> None:
    if not problems:
        return
    for oid, _size, ids in store.index.iter_files():
        for i in range(0, len(ids), 32):
            problem = problems.get(ids[i : i + 32])
            if problem is not None and len(problem.files) < 50:
                problem.files.append(oid.hex())


