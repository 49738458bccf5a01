"""Remote garbage collection: drop what no branch, tag or reflog of this clone references.

Run it in an up-to-date clone (`git fetch` first): its refs, remote-tracking refs included, define
what is live. Safety:
- a lock object (`locks/gc.lock`) keeps two gcs apart, and pushes refuse to start while it exists;
- packs whose index is younger than the grace period are never touched (pushes in progress, and
  commits not yet pushed to the Git remote);
- a pack holding live and dead records is rewritten: the live records are downloaded, verified,
  uploaded as a new pack and index, and only then is the old index deleted, then the old pack.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from branchml.errors import BranchmlError
from branchml.pointers import file_oids, reachable_pointers
from branchml.remote.connection import Connection
from branchml.remote.download import read_records, remote_file_chunks
from branchml.remote.objects import PackBuilder, RemoteRecord, decode_index, object_hash
from branchml.remote.storage import RemoteError, RemoteStorage
from branchml.repo import Repo
from branchml.store import records as rec
from branchml.store.pack import KIND_CHUNK, KIND_FILE

LOCK = "locks/gc.lock"
DEFAULT_GRACE_HOURS = 24.0


@dataclass
class RemoteGcReport:
    remote: str
    packs: int = 0
    deleted_packs: int = 0
    rewritten_packs: int = 0
    kept_young: int = 0  # packs inside the grace period, not looked at
    stale_uploads: int = 0  # parts in tmp/ left by killed pushes (file-system remotes)
    freed_bytes: int = 0
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def lock_holder(storage: RemoteStorage) -> dict[str, Any] | None:
    """What the gc lock says (who, since when), or None when no gc runs."""
    data = storage.read_optional(LOCK)
    if data is None:
        return None
    try:
        holder: dict[str, Any] = json.loads(data)
        return holder
    except ValueError:
        return {"host": "?", "pid": "?", "since": 0}


def refuse_if_locked(storage: RemoteStorage) -> None:
    holder = lock_holder(storage)
    if holder is not None:
        raise RemoteError(
            f"blob remote {storage.spec.name!r} is being garbage-collected (by {holder.get('host')} "
            f"pid {holder.get('pid')}, since {time.ctime(holder.get('since', 0))})",
            hint="retry when it is done; if that gc died, run `branchml remote gc --break-lock`",
        )


def acquire(storage: RemoteStorage, break_lock: bool) -> str:
    if not break_lock:
        refuse_if_locked(storage)
    token = secrets.token_hex(8)
    body = {"token": token, "host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}
    storage.put_bytes(LOCK, json.dumps(body).encode())
    storage.publish()
    if (lock_holder(storage) or {}).get("token") != token:
        raise RemoteError(f"blob remote {storage.spec.name!r}: another gc took the lock", hint="retry later")
    return token


def collect(repo: Repo, conn: Connection, *, grace_hours: float, dry_run: bool, break_lock: bool = False) -> RemoteGcReport:
    storage = conn.storage
    report = RemoteGcReport(storage.spec.name, dry_run=dry_run)
    if not dry_run:
        acquire(storage, break_lock)
    try:
        conn.catalog.refresh()
        indexes = {name: decode_index(data, name) for name, data in storage.read_indexes(storage.list_indexes()).items()}
        young = {name for name in indexes if _young(storage, name, grace_hours * 3600)}
        live = _live_records(repo, conn, [r for name in young for r in indexes[name]])
        _sweep(repo, storage, indexes, young, live, report)
        report.stale_uploads = _clear_stale_uploads(storage, grace_hours * 3600, report.dry_run)
    finally:
        if not dry_run:
            storage.delete(LOCK)
    return report


def _live_records(repo: Repo, conn: Connection, young_records: list[RemoteRecord]) -> set[tuple[bytes, bytes]]:
    """Files the refs reference, and files in young packs (pushes in progress), with their chunks."""

    oids = file_oids(reachable_pointers(repo))
    oids += [r.id for r in young_records if r.kind == KIND_FILE]
    live = {(KIND_FILE, o) for o in oids}
    known = [o for o in dict.fromkeys(oids) if o not in set(conn.catalog.missing(oids, KIND_FILE))]
    for chunk_ids in remote_file_chunks(conn.storage, conn.catalog, known).values():
        live.update((KIND_CHUNK, c) for c in chunk_ids)
    return live


def _sweep(repo: Repo, storage: RemoteStorage, indexes: dict[str, list[RemoteRecord]], young: set[str],
           live: set[tuple[bytes, bytes]], report: RemoteGcReport) -> None:
    report.packs, report.kept_young = len(indexes), len(young)
    kept: set[tuple[bytes, bytes]] = set()
    doomed = []
    for name, records in indexes.items():
        if name in young or all((r.kind, r.id) in live for r in records):
            kept.update((r.kind, r.id) for r in records)
        else:
            doomed.append(name)
    for name in doomed:
        records = indexes.pop(name)
        still_needed = [r for r in records if (r.kind, r.id) in live and (r.kind, r.id) not in kept]
        report.freed_bytes += sum(r.stored_len for r in records) - sum(r.stored_len for r in still_needed)
        report.rewritten_packs += bool(still_needed)
        report.deleted_packs += not still_needed
        if report.dry_run:
            continue
        if still_needed:
            _rewrite(repo, storage, still_needed)
            kept.update((r.kind, r.id) for r in still_needed)
        storage.delete(f"indexes/{name}.idx")  # index first: no index ever names a missing pack
        pack = records[0].pack
        if not any(rs and rs[0].pack == pack for rs in indexes.values()):  # same bytes pushed twice
            storage.delete(f"packs/{pack}.pack")


def _clear_stale_uploads(storage: RemoteStorage, grace_seconds: float, dry_run: bool) -> int:
    """Remove tmp/ parts of killed pushes, once older than the grace period."""
    stale = storage.stale_parts(grace_seconds)
    if not dry_run:
        for name in stale:
            storage.remove_part(name)
    return len(stale)


def _young(storage: RemoteStorage, name: str, grace_seconds: float) -> bool:
    return time.time() - storage.modified(f"indexes/{name}.idx") < grace_seconds


def _rewrite(repo: Repo, storage: RemoteStorage, records: list[RemoteRecord]) -> None:
    """Upload the still-needed records of a pack as a new pack and index (verified on the way)."""

    pack = records[0].pack
    raw = read_records(storage, pack, sorted(records, key=lambda r: r.offset))
    bad = [r for r in raw if not rec.is_valid(r)]
    if bad:
        raise BranchmlError(
            f"blob remote {storage.spec.name!r}: pack {pack[:16]}… holds damaged live records; gc stopped",
            hint="push the affected files again from a clone that has them (`branchml push`)",
        )
    tmp_dir = repo.store_dir / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    builder = PackBuilder(tmp_dir / f"gc-{secrets.token_hex(8)}-{os.getpid()}.pack")  # see store/leftovers.py
    try:
        for record in raw:
            builder.add(record)
        new_pack, index = builder.finish()
        storage.upload_pack(builder.path, new_pack)
        storage.put_bytes(f"indexes/{object_hash(index)}.idx", index)
        storage.publish()  # visible before the old index and pack go
    finally:
        builder.discard()
