"""Random access to a file of a ref: a byte range reads (and fetches) only the chunks that cover it.

A tracked file's record lists its chunks in order; their raw lengths come from the local index, or,
for chunks not yet here, from the blob remote's catalog, so reading a Parquet footer of a large file
fetches kilobytes. Every chunk is verified against its BLAKE3 before its bytes are returned.
"""

from __future__ import annotations

import bisect
import threading
from itertools import accumulate

from branchml.audit.content import Blob
from branchml.errors import CorruptObject, MissingObject
from branchml.git import plumbing
from branchml.remote.connection import connect
from branchml.remote.download import fetch, fetch_file_records
from branchml.repo import Repo
from branchml.store.index import ChunkLocation
from branchml.store.pack import KIND_CHUNK
from branchml.store.pointer import Pointer


class RangeReader:
    """Byte ranges of one file (a store pointer or a plain Git blob)."""

    def __init__(self, repo: Repo, blob: Blob) -> None:
        self.repo, self.blob, self.size = repo, blob, blob.size
        self._plain: bytes | None = None
        self._lock = threading.Lock()
        self._chunks: list[bytes] = []
        self._ends: list[int] = []
        # where each local chunk is, looked up once: sequential reads (pandas, pyarrow) then cost no
        # index query each (a warm read of a large file spent a third of its time asking again)
        self._locations: dict[bytes, ChunkLocation] = {}
        if blob.pointer is not None:
            self._chunks = self._chunk_ids(blob.pointer)
            self._ends = list(accumulate(self._raw_lengths(self._chunks)))

    def read(self, start: int, end: int) -> bytes:
        start, end = max(0, start), min(end, self.size)
        if start >= end:
            return b""
        if self.blob.pointer is None:
            if self._plain is None:
                with plumbing.CatFile(self.repo.cwd) as objects:
                    self._plain = objects.blob(self.blob.blob)
            return self._plain[start:end]
        first = bisect.bisect_right(self._ends, start)
        last = bisect.bisect_left(self._ends, end)
        wanted = self._chunks[first : last + 1]
        data = b"".join(self._verified(wanted))
        offset = self._ends[first - 1] if first else 0
        return data[start - offset : end - offset]

    def _chunk_ids(self, pointer: Pointer) -> list[bytes]:
        store = self.repo.store
        record = store.file_record(pointer.oid)
        if record is None and store.fetcher:
            with connect(self.repo) as conn:  # the record only (32 bytes per chunk), none of the chunks
                fetch_file_records(store, conn.storage, conn.catalog, [pointer.oid_bytes])
            record = store.file_record(pointer.oid)
        if record is None:
            raise MissingObject(f"{self.blob.path}: content {pointer.oid[:16]}… is not in the store nor on a blob remote",
                                hint="`branchml fetch` it where it was pushed, or check `branchml remote list`")
        return list(record.chunk_list())

    def _raw_lengths(self, ids: list[bytes]) -> list[int]:
        local = self.repo.store.index.chunk_locations(ids)
        self._locations = dict(local)
        missing = [cid for cid in ids if cid not in local]
        remote = _remote_lengths(self.repo, missing) if missing else {}
        lengths = []
        for cid in ids:
            if cid in local:
                lengths.append(local[cid].raw_len)
            elif cid in remote:
                lengths.append(remote[cid])
            else:
                raise MissingObject(f"{self.blob.path}: chunk {cid.hex()[:16]}… is neither here nor on the blob remote",
                                    hint="run `branchml verify-remote` to see what the remote lacks")
        return lengths

    def _verified(self, ids: list[bytes]) -> list[bytes]:
        with self._lock:  # readers such as pyarrow call from their own threads
            missing = [cid for cid in ids if cid not in self._locations]
            if missing:
                self._locate(missing)
            return [self._read(cid) for cid in ids]

    def _locate(self, ids: list[bytes]) -> None:
        """Find (fetching first, when a blob remote is set) chunks this reader has no location for."""
        store = self.repo.store
        found = store.index.chunk_locations(ids)
        absent = [cid for cid in ids if cid not in found]
        if absent and store.fetcher:
            # a connection of this thread's own: the store's fetcher keeps SQLite handles of another
            with connect(self.repo) as conn:
                fetch(store, conn.storage, conn.catalog, [], absent)
            found = store.index.chunk_locations(ids)
        self._locations.update(found)
        if len(found) < len(ids):
            cid = next(c for c in ids if c not in found)
            raise MissingObject(f"{self.blob.path}: chunk {cid.hex()[:16]}… is neither here nor on the blob remote",
                                hint="run `branchml verify-remote` to see what the remote lacks")

    def _read(self, cid: bytes) -> bytes:
        """The verified chunk; a remembered location that went stale (gc repacked it) is looked up again."""
        store = self.repo.store
        try:
            return store.read_chunk(cid, self._locations[cid], quarantine=False)
        except (CorruptObject, MissingObject):
            fresh = store.index.chunk_locations([cid]).get(cid)
            if fresh is None:
                del self._locations[cid]
                self._locate([cid])
                fresh = self._locations[cid]
            self._locations[cid] = fresh
            return store.read_chunk(cid, fresh)  # now a failure is the chunk's own: set it aside


def _remote_lengths(repo: Repo, ids: list[bytes]) -> dict[bytes, int]:
    """Raw lengths of chunks from the default blob remote's catalog (its index objects), no chunk data."""
    if repo.store.fetcher is None:
        return {}
    with connect(repo) as conn:
        conn.catalog.refresh(require_data=False)
        return {cid: record.raw_len for cid, record in conn.catalog.lookup(ids, KIND_CHUNK).items()}
