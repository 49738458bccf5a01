"""`branchml ls-files`: the tracked files of the index, of a ref, or of whole histories.

Like `git lfs ls-files`: no argument lists this checkout's index; REF lists the tree of REF;
`--deleted` adds every file REF's history ever held; `--all` covers every ref's history.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from branchml.pointers import (
    PointerBlob,
    commit_pointers,
    index_pointers,
    rev_list_pointers,
)
from branchml.repo import Repo


@dataclass(frozen=True)
class ListedFile:
    path: str
    size: int
    oid: str
    present: bool  # the whole content (record and every chunk) is in the local store

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def select_pointers(repo: Repo, ref: str | None, *, all_refs: bool, deleted: bool) -> list[PointerBlob]:
    """The pointers `ls-files` shows for these options (see the module docstring)."""
    if all_refs:
        return rev_list_pointers(repo, ["--all"])
    if deleted:
        return _sorted(rev_list_pointers(repo, [ref or "HEAD"]))
    if ref is not None:
        return commit_pointers(repo, ref)
    return index_pointers(repo)


def _sorted(entries: list[PointerBlob]) -> list[PointerBlob]:
    return sorted(entries, key=lambda e: e.path)


def list_files(repo: Repo, ref: str | None = None, *, all_refs: bool = False, deleted: bool = False) -> list[ListedFile]:
    present: dict[str, bool] = {}
    rows = []
    for entry in select_pointers(repo, ref, all_refs=all_refs, deleted=deleted):
        oid = entry.pointer.oid
        if oid not in present:
            record = repo.store.file_record(oid)
            present[oid] = record is not None and not repo.store.missing_chunks(record)
        rows.append(ListedFile(entry.path, entry.pointer.size, oid, present[oid]))
    return sorted(rows, key=lambda r: (r.path, r.oid)) if all_refs or deleted else rows
