"""`branchml gc`: ask Git what is live, then let the store sweep, in the order that keeps writers safe.

The order (docs/store-format.md, "gc and writers"):
1. mark the store (packs complete at this point, the reuse journal's position);
2. list what every ref, reflog, stash and worktree index reaches (slow; writers keep working);
3. wait until no Git command holds an `index.lock`, and take `gc.lock` exclusively: every process
   that wrote to the store since has exited, and a Git command that ran one (a merge driver) has
   recorded its result;
4. list what Git reaches now and did not at 2 (new ref tips, every worktree index): cheap;
5. sweep: live is 2 + 4 + whatever the store wrote or reused since 1.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from branchml.errors import BranchmlError
from branchml.git import plumbing
from branchml.pointers import (
    PointerBlob,
    reachable_pointers,
    rev_list_pointers,
)
from branchml.store import gc as store_gc
from branchml.store import leftovers
from branchml.store.filecache import FileCache

if TYPE_CHECKING:
    from branchml.repo import Repo

QUIET_WAIT_SECONDS = 600.0
# Test-only: a folder; gc stops at each step named in it ("marked", "locked") until "<step>.go" exists.
# Lets a test land a write exactly between marking and sweeping, every time.
PAUSE_ENV = "BRANCHML_TEST_GC_PAUSE"


def run_gc(repo: Repo, *, dry_run: bool = False, wait: float = QUIET_WAIT_SECONDS) -> store_gc.GcReport:
    store = repo.store
    gc_mark = store_gc.mark(store)
    tips = _ref_tips(repo)
    live = _oids(reachable_pointers(repo))
    _test_pause("marked")
    lock = _lock_when_git_is_quiet(repo, store.root, wait)
    try:
        _test_pause("locked")
        live |= _oids(rev_list_pointers(repo, ["--all", "--reflog", "--indexed-objects"], exclude=tips))
        report = store_gc.sweep(store, gc_mark, live, dry_run=dry_run)
        if not dry_run:  # whole-file copies for reflinks: only a cache, so dropping one is always safe
            FileCache(store).prune({oid.hex() for oid in live})
    finally:
        lock.release()
    if not dry_run:
        reclaimed = leftovers.reclaim(store.root / "tmp")
        report.leftovers, report.leftover_bytes = reclaimed.entries, reclaimed.bytes
    return report


def _oids(pointers: list[PointerBlob]) -> set[bytes]:
    return {p.pointer.oid_bytes for p in pointers}


def _ref_tips(repo: Repo) -> list[str]:
    """What the refs point at now: what Git reached at the mark, for step 4's `--not`."""
    return plumbing.for_each_ref(repo.cwd, "refs/", "objectname")


def _index_locks(repo: Repo) -> list[Path]:
    gitdirs = [repo.common_dir, *sorted((repo.common_dir / "worktrees").glob("*"))]
    return [d / "index.lock" for d in gitdirs if (d / "index.lock").exists()]


def _lock_when_git_is_quiet(repo: Repo, store_root: Path, wait: float) -> store_gc.GcLock:
    """The exclusive gc lock, taken at a moment no Git command is between writing and recording.

    Never waits for an index.lock while holding gc.lock: the Git command holding it may be waiting
    for gc.lock itself (its filter writes), so gc lets go and tries again instead.
    """
    deadline = time.monotonic() + wait
    while True:
        busy = _index_locks(repo)
        if not busy:
            lock = store_gc.GcLock(store_root, exclusive=True, wait=max(0.0, deadline - time.monotonic()))
            if not _index_locks(repo):
                return lock
            lock.release()
        elif time.monotonic() > deadline:
            raise BranchmlError(
                f"a Git command has been updating the index for {wait:.0f}s ({busy[0]} exists)",
                hint=f"retry `branchml gc` when Git is done; if no Git command is running, delete {busy[0]}",
            )
        time.sleep(0.05)


def _test_pause(step: str) -> None:
    folder = os.environ.get(PAUSE_ENV)
    if not folder:
        return
    Path(folder, step).touch()
    deadline = time.monotonic() + 120
    while not Path(folder, f"{step}.go").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
