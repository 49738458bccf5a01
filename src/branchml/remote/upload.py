"""Push: upload exactly the records a set of files needs and the remote lacks.

Order matters for readers: chunk packs are uploaded (in parallel) and indexed first; the file
records go last, so a file the remote lists always has its chunks there, even if the push was
killed halfway. Each pack's index is uploaded only after its pack: an index names a complete pack.
"""

from __future__ import annotations

import os
import secrets
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from branchml.errors import MissingObject
from branchml.remote.catalog import Catalog
from branchml.remote.gc import refuse_if_locked
from branchml.remote.objects import PackBuilder, decode_index, object_hash
from branchml.remote.storage import RemoteStorage
from branchml.store import leftovers
from branchml.store import records as rec
from branchml.store.pack import KIND_CHUNK, KIND_FILE
from branchml.store.records import RawRecord
from branchml.store.store import Store

# Tests only: SIGKILL this process after that many uploaded objects (an interrupted push).
KILL_AFTER_ENV = "BRANCHML_TEST_KILL_AFTER_UPLOADS"


@dataclass
class PushReport:
    remote: str
    files: int = 0  # files the pushed refs need
    new_files: int = 0  # file records uploaded
    new_chunks: int = 0
    packs: int = 0  # packs uploaded (the records in a pack the remote already had were not sent)
    bytes: int = 0
    packs_present: int = 0  # packs built but found on the remote already (a killed push's): not sent
    leftovers: int = 0  # tmp/ files of killed pushes removed first (store/leftovers.py)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def push_files(store: Store, storage: RemoteStorage, catalog: Catalog, oids: list[bytes],
               advance: Callable[[int], None] = lambda n: None) -> PushReport:
    """Upload what `oids` (file ids) need that the remote does not have."""
    report = PushReport(storage.spec.name, files=len(oids))
    report.leftovers = leftovers.reclaim(store.root / "tmp").entries
    arm_kill_switch(storage)
    storage.check_format(create=True)
    refuse_if_locked(storage)
    catalog.refresh()
    files, chunks = needed_records(store, catalog, oids)
    if not files and not chunks:
        return report
    with ThreadPoolExecutor(max_workers=storage.spec.jobs) as pool:
        _upload_all(storage, catalog, pool, rec.stored_chunks(store, chunks), store.root / "tmp", report, advance)
        _upload_all(storage, catalog, pool, rec.file_records(store, files), store.root / "tmp", report, advance)
    storage.publish()
    return report


def upload_records(storage: RemoteStorage, catalog: Catalog, records: Iterable[rec.RawRecord], local_tmp: Path,
                   report: PushReport, advance: Callable[[int], None] = lambda n: None) -> None:
    """Pack and upload `records` as they come (a remote migration's): the caller orders them, chunks
    before the file records that need them. Packs are built in the remote's tmp/ or in `local_tmp`."""
    with ThreadPoolExecutor(max_workers=storage.spec.jobs) as pool:
        _upload_all(storage, catalog, pool, records, local_tmp, report, advance)
    storage.publish()  # the Git remote as blob store pushes what it queued (remote/gitrefs.py)


def needed_records(store: Store, catalog: Catalog, oids: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """(file oids, chunk ids) to upload: all that the remote lacks, each once."""
    oids = list(dict.fromkeys(oids))
    files = catalog.missing(oids, KIND_FILE)
    lacking = set(files)
    wanted: dict[bytes, None] = {}
    for oid in oids:  # chunks of files the remote lists too: a gc racing a push may have left gaps
        if store.index.file(oid) is None:
            if oid in lacking:
                raise MissingObject(
                    f"file {oid.hex()[:16]}… is neither in the local store nor on blob remote {catalog.storage.spec.name!r}",
                    hint="push from the clone that committed it (`branchml push` there), or run `branchml fsck --all`",
                )
            continue  # on the remote already, never fetched here
        for cid in rec.file_chunk_ids(rec.file_record(store, oid)):
            wanted[cid] = None
    return files, catalog.missing(list(wanted), KIND_CHUNK)


def _upload_all(storage: RemoteStorage, catalog: Catalog, pool: ThreadPoolExecutor, records: Iterable[RawRecord],
                local_tmp: Path, report: PushReport, advance: Callable[[int], None]) -> None:
    """Build packs of about pack_size from `records` and upload them, a few in flight at a time."""
    pending: set[Future[_Sent]] = set()
    builder: PackBuilder | None = None
    build_dir = storage.staging_dir() or local_tmp
    try:
        for record in records:
            builder = builder or _builder(build_dir)
            builder.add(record)
            if builder.size >= storage.spec.pack_size:
                pending.add(pool.submit(_send_pack, storage, builder))
                builder = None
                pending = _collect(pending, catalog, report, advance, limit=storage.spec.jobs * 2)
    except BaseException:
        if builder is not None:  # not handed to an upload yet: nobody else removes it
            builder.discard()
        raise
    if builder is not None:
        pending.add(pool.submit(_send_pack, storage, builder))
    _collect(pending, catalog, report, advance, limit=0)


def _builder(build_dir: Path) -> PackBuilder:
    """A new pack under construction; its name carries our PID (see store/leftovers.py)."""
    return PackBuilder(build_dir / f"push-{secrets.token_hex(8)}-{os.getpid()}.part")


@dataclass
class _Sent:
    index_name: str
    index: bytes
    size: int
    records: Counter[bytes]  # kind -> how many records of that kind the pack holds
    uploaded: bool  # False: the pack was on the remote already (only its index was written)


def _collect(pending: set[Future[_Sent]], catalog: Catalog, report: PushReport, advance: Callable[[int], None], *,
             limit: int) -> set[Future[_Sent]]:
    """Wait until at most `limit` uploads are in flight; record the finished ones in the catalog and the report."""
    while len(pending) > limit:
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            sent: _Sent = future.result()
            catalog.add(sent.index_name, decode_index(sent.index, sent.index_name))
            advance(sent.size)
            if not sent.uploaded:
                report.packs_present += 1
                continue
            report.packs += 1
            report.bytes += sent.size
            report.new_chunks += sent.records.get(KIND_CHUNK, 0)
            report.new_files += sent.records.get(KIND_FILE, 0)
    return pending


def _send_pack(storage: RemoteStorage, builder: PackBuilder) -> _Sent:
    """Upload one pack (unless the remote has it), then its index; the temp file goes in any case."""
    try:
        pack, index = builder.finish()
        present = storage.has_pack(pack)  # a resumed push may find it uploaded but not indexed
        if not present:
            storage.upload_pack(builder.path, pack)
        name = object_hash(index)
        storage.put_bytes(f"indexes/{name}.idx", index)
        return _Sent(name, index, builder.size, Counter(kind for kind, *_ in builder.entries), not present)
    finally:
        builder.discard()


def arm_kill_switch(storage: RemoteStorage) -> None:
    """Tests only: SIGKILL this process after $BRANCHML_TEST_KILL_AFTER_UPLOADS uploads (when set)."""
    limit = os.environ.get(KILL_AFTER_ENV)
    if not limit:
        return
    count = [0]
    lock = threading.Lock()

    def on_upload(path: str) -> None:
        with lock:
            count[0] += 1
            if count[0] >= int(limit):
                os.kill(os.getpid(), signal.SIGKILL)

    storage.on_upload = on_upload
