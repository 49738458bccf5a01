"""fsck of the chunk store (the Git side, which files are tracked or reachable, is the caller's).

What fsck finds broken it also sets aside (quarantine, see docs/store-format.md): index rows that
point into a missing pack, past a pack's end, or at bytes that fail verification are moved out of
the index, so reads, fetch and re-add treat that content as absent and bring a good copy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import blake3

from branchml.errors import CorruptObject, MissingObject
from branchml.store.index import ChunkLocation
from branchml.store.pack import KIND_CHUNK, KIND_FILE, PACK_MAGIC, PackScan, scan_pack

if TYPE_CHECKING:
    from branchml.store.store import Store

SET_ASIDE = "set aside: `branchml fetch` brings a good copy from the blob remote, or put the original file back and `git add` it"
REBUILD = "`branchml fsck --rebuild-index` re-reads it from the packs"
GC_REPACK = "`branchml gc` copies the pack's intact records into a new pack (the damaged one is kept in damaged/)"


@dataclass
class Problem:
    kind: str  # missing-pack | bad-pack | damaged-pack | missing-chunk | corrupt-chunk | damaged-file-record | bad-file-entry | ...
    object_id: str
    detail: str
    files: list[str] = field(default_factory=list)  # oids of files it breaks
    hint: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "id": self.object_id, "detail": self.detail, "files": self.files, "hint": self.hint}


def check_store(store: Store, *, read_data: bool = False, advance: Callable[[int], None] = lambda n: None) -> list[Problem]:
    """Every record the index knows must lie in an existing pack; with read_data, every pack is
    scanned record by record and every chunk and file entry verified. Broken rows are set aside."""
    problems: dict[bytes, Problem] = {}
    scans: dict[str, PackScan] = {}
    sizes: dict[str, int | None] = {}
    for name in store.index.pack_states():
        path = store.packs_dir / name
        sizes[name] = path.stat().st_size if path.exists() else None
        if sizes[name] is None:
            problems[name.encode()] = Problem("missing-pack", name, f"pack {path} is missing", hint=SET_ASIDE)
        elif read_data:
            scans[name] = scan_pack(path)
            _pack_damage(name, scans[name], problems)
        elif _magic(path) != PACK_MAGIC:
            problems[name.encode()] = Problem("bad-pack", name, f"{path} does not start with the pack magic", hint=GC_REPACK)
    for cid, loc in store.index.iter_chunks():
        problem = _check_chunk(store, cid, loc, sizes, scans, read_data)
        if problem is not None:
            problems[cid] = problem
            store.index.quarantine_chunk(cid, loc, problem.detail)
        advance(loc.raw_len)
    _check_file_records(store, sizes, scans, problems)
    if read_data:
        _check_file_entries(store, problems)
    _attach_files(store, problems)
    return list(problems.values())


def _pack_damage(name: str, scan: PackScan, problems: dict[bytes, Problem]) -> None:
    for start, end in scan.damaged:
        what = "does not start with the pack magic" if (start, end) == (0, len(PACK_MAGIC)) else f"bytes {start}-{end} hold no valid record"
        problems[f"{name}:{start}".encode()] = Problem("damaged-pack", name, f"pack {name} {what}", hint=GC_REPACK)


def _check_chunk(
    store: Store, cid: bytes, loc: ChunkLocation, sizes: dict[str, int | None], scans: dict[str, PackScan], read_data: bool
) -> Problem | None:
    size = sizes.get(loc.pack)
    if size is None:
        return Problem("missing-chunk", cid.hex(), f"pack {loc.pack} is missing", hint=SET_ASIDE)
    if loc.offset + loc.stored_len > size:
        return Problem("missing-chunk", cid.hex(), f"pack {loc.pack} is truncated at {size} bytes", hint=SET_ASIDE)
    if not read_data:
        return None
    if loc.pack in scans and (KIND_CHUNK, loc.offset) not in _valid(scans[loc.pack]):
        return Problem("corrupt-chunk", cid.hex(), f"the record at {loc.pack}:{loc.offset} is damaged", hint=SET_ASIDE)
    try:
        store.read_chunk(cid, loc, quarantine=False)
    except (CorruptObject, MissingObject):
        return Problem("corrupt-chunk", cid.hex(), f"bytes at {loc.pack}:{loc.offset} do not match", hint=SET_ASIDE)
    return None


def _valid(scan: PackScan) -> set[tuple[bytes, int]]:
    cached: set[tuple[bytes, int]] | None = getattr(scan, "_valid", None)
    if cached is None:
        cached = {(r.kind, r.offset) for r in scan.records}
        scan._valid = cached  # type: ignore[attr-defined]  # a cache riding on the scan it was computed from
    return cached


def _check_file_records(store: Store, sizes: dict[str, int | None], scans: dict[str, PackScan], problems: dict[bytes, Problem]) -> None:
    """A file row whose pack is gone, or (read_data) whose record in its pack is damaged."""
    intact = {name: {r.id for r in scan.records if r.kind == KIND_FILE} for name, scan in scans.items()}
    for oid, _size, _ids, pack in store.index.iter_files_with_pack():
        if sizes.get(pack) is None:
            detail = f"its pack {pack} is missing"
        elif pack in intact and oid not in intact[pack]:
            detail = f"its record in pack {pack} is damaged"
        else:
            continue
        problems[b"F" + oid] = Problem("damaged-file-record", oid.hex(), f"file record {detail}", [oid.hex()], SET_ASIDE)
        store.index.quarantine_file(oid, pack, detail)


def _check_file_entries(store: Store, problems: dict[bytes, Problem]) -> None:
    """Each index entry's chunks, in order, must rebuild the file's oid (a swapped or dropped id does not)."""
    for oid, size, ids, pack in store.index.iter_files_with_pack():
        chunk_ids = [ids[i : i + 32] for i in range(0, len(ids), 32)]
        if any(cid in problems for cid in chunk_ids):
            continue  # already named through its chunk
        detail = _rebuild_mismatch(store, oid, size, chunk_ids)
        if detail:
            problems[b"E" + oid] = Problem("bad-file-entry", oid.hex(), f"index entry: {detail}", [oid.hex()], REBUILD)
            store.index.quarantine_file(oid, pack, detail)


def _rebuild_mismatch(store: Store, oid: bytes, size: int, chunk_ids: list[bytes]) -> str:
    locations = store.index.chunk_locations(chunk_ids)
    if any(cid not in locations for cid in chunk_ids):
        return ""  # missing chunks are reported as such
    if sum(locations[cid].raw_len for cid in chunk_ids) != size:
        return f"its chunks add up to {sum(locations[c].raw_len for c in chunk_ids)} bytes, not {size}"
    whole = blake3.blake3()
    for cid in chunk_ids:
        try:
            whole.update(store.read_chunk(cid, locations[cid], quarantine=False))
        except (CorruptObject, MissingObject):
            return ""  # reported through the chunk
    return "" if whole.digest() == oid else "its chunks do not rebuild the oid (an id swapped or replaced)"


def missing_chunks_of_files(store: Store, oids: Iterable[str]) -> list[Problem]:
    """Files (by oid) the store lacks entirely or in part: what a checkout of them would fail on."""
    out = []
    aside = {(kind, rid): f"set aside earlier: {pack}:{offset} {detail}" for kind, rid, pack, offset, detail in store.index.quarantined()}
    for oid in oids:
        record = store.file_record(oid)
        if record is None:
            detail = aside.get(("file", bytes.fromhex(oid)), "no file record in the store")
            out.append(Problem("missing-file", oid, detail, [oid], SET_ASIDE))
            continue
        missing = store.missing_chunks(record)
        if missing:
            known = aside.get(("chunk", missing[0]))
            kind, detail = ("corrupt-chunk", known) if known else ("missing-chunk", f"{len(missing)} chunk(s) missing")
            out.append(Problem(kind, missing[0].hex(), detail, [oid], SET_ASIDE))
    return out


def _magic(path: Path) -> bytes:
    with open(path, "rb") as f:
        return bytes(f.read(len(PACK_MAGIC)))


def _attach_files(store: Store, problems: dict[bytes, Problem]) -> None:
    if not problems:
        return
    for oid, _size, ids in store.index.iter_files():
        for i in range(0, len(ids), 32):
            problem = problems.get(ids[i : i + 32])
            if problem is not None and len(problem.files) < 50 and oid.hex() not in problem.files:
                problem.files.append(oid.hex())
