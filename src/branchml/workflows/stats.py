"""`branchml stats`: the store's logical bytes against what it stores, and what reflinks save."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from branchml.repo import Repo
from branchml.store.filecache import FileCache


@dataclass(frozen=True)
class StoreStats:
    files: int
    file_bytes: int  # logical: the files as users see them, each distinct file once
    chunks: int
    chunk_bytes: int  # unique chunks before compression
    stored_bytes: int  # after compression
    pack_bytes: int
    dedup_ratio: float | None  # file_bytes / stored_bytes; None for an empty store
    checkout_links: dict[str, Any]  # the whole-file cache behind `[checkout] link = "reflink"`

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def store_stats(repo: Repo) -> StoreStats:
    totals = repo.store.stats()
    stored = totals["stored_bytes"]
    ratio = round(totals["file_bytes"] / stored, 3) if stored else None
    return StoreStats(
        files=totals["files"], file_bytes=totals["file_bytes"], chunks=totals["chunks"], chunk_bytes=totals["chunk_bytes"],
        stored_bytes=stored, pack_bytes=totals["pack_bytes"], dedup_ratio=ratio,
        checkout_links=FileCache(repo.store).stats().as_dict(),
    )
