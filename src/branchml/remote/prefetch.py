"""Prefetch: bring everything a tree (or the work tree) needs into the store before anything is written.

Git writes a checkout file by file and has no hook before it starts: a checkout whose fourth file
cannot be fetched leaves three files switched, earlier deletions done and HEAD unmoved. So the
commands that can look ahead (`branchml switch`, `branchml clone`, `branchml install`) fetch what
the target needs first, in one batch, and refuse before Git writes anything when some content
cannot be had; the filter does the same batch on its first checkout request (docs/remotes.md,
"Checkouts that cannot be completed"). Either way the error names every file that cannot be had
and a command that works.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from branchml.errors import BranchmlError, CorruptObject, MissingObject
from branchml.git import plumbing
from branchml.pointers import PointerBlob, read_pointers
from branchml.remote import download, settings
from branchml.remote.connection import Connection, connect
from branchml.store.pack import KIND_FILE

if TYPE_CHECKING:
    from branchml.repo import Repo

NAMED = 50  # paths a message names before counting the rest


class MissingFiles(MissingObject):
    """Files a checkout needs whose content is neither in the store nor to be had from a remote."""

    def __init__(self, paths: list[str], what: str, reason: str, hint: str) -> None:
        self.paths = paths
        super().__init__(f"{len(paths)} file(s) of {what} cannot be had ({reason}): {name_paths(paths)}", hint=hint)


def name_paths(paths: list[str]) -> str:
    more = f" ... and {len(paths) - NAMED} more" if len(paths) > NAMED else ""
    return ", ".join(paths[:NAMED]) + more


def tree_pointers(repo: Repo, treeish: str) -> list[PointerBlob]:
    """Every pointer of a tree, one entry per path (the same content at two paths is named twice)."""
    entries = [e for e in plumbing.ls_tree(repo.cwd, treeish) if e.type == "blob"]
    found = {p.blob: p.pointer for p in read_pointers(repo, {e.oid: e.path for e in entries})}
    return [PointerBlob(e.oid, e.path, found[e.oid], e.mode) for e in entries if e.oid in found]


def prefetch_tree(repo: Repo, treeish: str, what: str, retry: str) -> None:
    """Fetch what the tree `treeish` needs in one batch (see :func:`prefetch`); what the filter is
    given by its entry point, since git/ sits below this package."""
    prefetch(repo, tree_pointers(repo, treeish), what=what, retry=retry)


def missing_locally(repo: Repo, pointers: Iterable[PointerBlob]) -> list[PointerBlob]:
    """Pointers whose file record or any chunk the local store lacks (empty files need nothing)."""
    store = repo.store
    out = []
    for blob in pointers:
        if blob.pointer.size == 0:
            continue
        record = store.file_record(blob.pointer.oid)
        if record is None or store.missing_chunks(record):
            out.append(blob)
    return out


def prefetch(repo: Repo, pointers: list[PointerBlob], *, what: str, retry: str) -> int:
    """Fetch what `pointers` need in one batch; raise MissingFiles naming every file still lacking.

    `retry` is the command to run once the cause is fixed (it goes into the hint). Returns how
    many files were fetched."""
    wanted = missing_locally(repo, pointers)
    if not wanted:
        return 0
    paths = [p.path for p in wanted]
    try:
        spec = settings.load(repo).choose()
        with connect(repo, spec.name) as conn:
            absent = _absent_on_remote(conn, wanted)
            present = list(dict.fromkeys(p.pointer.oid_bytes for p in wanted if p.pointer.oid_bytes not in absent))
            if present:
                download.fetch(repo.store, conn.storage, conn.catalog, present, [])
    except BranchmlError as exc:
        error = MissingFiles(paths, what, exc.message, f"{exc.hint or 'fix that'}; then {retry}")
        if isinstance(exc, CorruptObject):
            error.exit_code = exc.exit_code  # a remote that returns wrong bytes is not merely missing them
        raise error from exc
    still = [p.path for p in missing_locally(repo, wanted)]
    if still:
        raise MissingFiles(
            still, what, f"not on blob remote {spec.name!r} ({spec.url})",
            hint=f"they were committed without uploading their content: run `branchml push` in a clone "
            f"that has them (`branchml verify-remote REF` there lists them), then {retry}",
        )
    return len(wanted)


def _absent_on_remote(conn: Connection, wanted: list[PointerBlob]) -> set[bytes]:
    oids = list(dict.fromkeys(p.pointer.oid_bytes for p in wanted))
    conn.catalog.refresh()  # an empty remote (wrong URL, unmounted folder) is an error of its own
    return set(conn.catalog.missing(oids, KIND_FILE))
