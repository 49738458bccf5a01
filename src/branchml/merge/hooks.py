"""Commit hooks: refuse to commit a file whose merge conflicts are still unresolved.

The check runs in `prepare-commit-msg`, not `pre-commit`: Git runs prepare-commit-msg for every
commit it makes, including `rebase --continue`, `cherry-pick`, `revert` and `commit --no-verify`, and
a failing prepare-commit-msg aborts the commit. (pre-commit is skipped by all of those.) It looks
only while a merge, cherry-pick, revert or rebase has stopped for the user. What gets past a client anyway
(hooks not installed, a conflicted `git stash pop`) is caught by `branchml verify` and the server.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from branchml.errors import BranchmlError, MissingObject
from branchml.git import plumbing
from branchml.git.hooks import stopped_for_user
from branchml.merge.unresolved import Unresolved, find_unresolved

if TYPE_CHECKING:
    from branchml.repo import Repo


class UnresolvedMerge(BranchmlError):
    """Staged files that still hold merge conflicts."""

    def __init__(self, found: list[Unresolved]) -> None:
        lines = "\n".join(f"  {u.path} {u.reason}" for u in found)
        super().__init__(f"{len(found)} file(s) with unresolved merge conflicts:\n{lines}",
                         hint="; ".join(u.hint for u in found[:3]) + ", then commit again")
        self.found = found


def prepare_commit_msg(repo: Repo, args: list[str], stdin: bytes) -> None:
    # only a stopped merge, cherry-pick, revert or rebase can leave conflicts to commit: ordinary
    # commits pay nothing (the hook script tests the same files before Python starts)
    if not stopped_for_user(repo.git_dir):
        return
    try:
        found = find_unresolved(repo, staged_changes(repo))
    except MissingObject as exc:  # content nobody has cannot hold our conflicts; the commit is not ours to stop
        sys.stderr.write(f"branchml: warning: not checked for unresolved merges: {exc.message}\n")
        return
    if found:
        raise UnresolvedMerge(found)


def staged_changes(repo: Repo) -> list[tuple[str, str]]:
    """(path, staged blob) of regular files the index adds or changes against HEAD."""
    return [(e.path, e.new_oid) for e in plumbing.diff_staged(repo.cwd, diff_filter="AMT") if e.new_mode.startswith("100")]
