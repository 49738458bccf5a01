"""One data operation = one commit, or nothing at all.

A ChangeSet lists what an operation does to the work tree (files copied in, new contents, tree
entries copied from another commit, removals). `commit_changes` checks that nothing of the user's
would be lost, applies it, stages it, and runs a plain `git commit` (so hooks and the filter run as
for any commit). If any step fails, the index and the touched paths are put back as they were.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from branchml.checkout import materialize
from branchml.data.tree import Entry, head_commit, ls_tree
from branchml.errors import BranchmlError
from branchml.files import write_atomic
from branchml.git import plumbing, porcelain
from branchml.repo import Repo


@dataclass
class ChangeSet:
    copies: dict[str, Path] = field(default_factory=dict)  # repo path -> local file to copy in
    contents: dict[str, bytes] = field(default_factory=dict)  # repo path -> new bytes
    entries: dict[str, Entry] = field(default_factory=dict)  # repo path -> tree entry to copy
    removals: set[str] = field(default_factory=set)

    def paths(self) -> list[str]:
        return sorted({*self.copies, *self.contents, *self.entries, *self.removals})

    def __bool__(self) -> bool:
        return bool(self.copies or self.contents or self.entries or self.removals)


def require_clean_index(repo: Repo) -> None:
    if head_commit(repo) and not porcelain.index_matches_head(repo.cwd):
        raise BranchmlError(
            "the index has staged changes: a data commit must contain only its own changes",
            hint="commit them, or unstage them with `git restore --staged .`",
        )


def check_targets(repo: Repo, changes: ChangeSet) -> None:
    """Refuse when applying would overwrite something of the user's that Git does not hold."""
    paths = changes.paths()
    tracked = {e.path for e in ls_tree(repo, head_commit(repo))}
    # the whole work tree's diff, intersected: `git diff` takes no --pathspec-from-file
    changed = porcelain.unstaged_paths(repo.cwd)
    modified = set(changed) & set(paths)
    if modified:
        raise _local_changes(sorted(modified))
    for path in paths:
        if path not in tracked and os.path.lexists(repo.work_tree / path):
            raise _local_changes([path], untracked=True)
        _check_no_file_in_the_way(path, tracked)


def _check_no_file_in_the_way(path: str, tracked: set[str]) -> None:
    parts = path.split("/")
    for i in range(1, len(parts)):
        if "/".join(parts[:i]) in tracked:
            raise BranchmlError(f"cannot write {path}: {'/'.join(parts[:i])} is a file on this branch")


def _local_changes(paths: list[str], untracked: bool = False) -> BranchmlError:
    shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
    what = "exist but are not committed" if untracked else "have uncommitted changes"
    return BranchmlError(
        f"these paths would be overwritten and {what}: {shown}",
        hint="commit, move or delete them first (nothing was changed)",
    )


def commit_changes(repo: Repo, changes: ChangeSet, message: str, trailers: list[tuple[str, str]]) -> str:
    """Apply `changes`, commit them with `trailers`, and return the new commit id."""
    require_clean_index(repo)
    check_targets(repo, changes)
    created = [p for p in changes.paths() if not os.path.lexists(repo.work_tree / p)]
    try:
        _apply(repo, changes)
        porcelain.commit(repo.cwd, message, trailers=trailers)
    except BaseException:
        _roll_back(repo, changes, created)
        raise
    head = head_commit(repo)
    assert head is not None  # the commit above made one
    return head


def _apply(repo: Repo, changes: ChangeSet) -> None:
    for path, source in changes.copies.items():
        target = repo.work_tree / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    for path, data in changes.contents.items():
        target = repo.work_tree / path
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data)
    if changes.copies or changes.contents:
        porcelain.add_paths(repo.cwd, [*changes.copies, *changes.contents])
    if changes.entries:
        _stage_entries(repo, list(changes.entries.items()))
    if changes.removals:
        porcelain.remove_from_index(repo.cwd, sorted(changes.removals))
        for path in changes.removals:
            (repo.work_tree / path).unlink(missing_ok=True)


def _stage_entries(repo: Repo, items: list[tuple[str, Entry]]) -> None:
    """Point index entries at existing blobs (no bytes copied), then write them out through the filter."""
    plumbing.restage(repo.cwd, [plumbing.TreeEntry(e.mode, "blob", e.sha, path) for path, e in items])
    porcelain.checkout_index(repo.cwd, [path for path, _ in items], update_stat=True)

    materialize(repo, [path for path, _ in items])  # files too large for Git's memory, left as pointers


def _roll_back(repo: Repo, changes: ChangeSet, created: list[str]) -> None:
    """Index back to HEAD (it was clean), touched files back to HEAD, new files removed."""
    head = head_commit(repo)
    if head:
        porcelain.reset(repo.cwd, check=False)
    else:
        plumbing.read_tree(repo.cwd, None)
    new = set(created)
    for path in new:
        target = repo.work_tree / path
        if target.is_file() or target.is_symlink():
            target.unlink()
        _remove_empty_parents(repo.work_tree, target.parent)
    restore = [p for p in changes.paths() if p not in new]
    if restore and head:
        porcelain.restore_from_head(repo.cwd, restore, check=False)


def _remove_empty_parents(root: Path, folder: Path) -> None:
    while folder != root and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent
