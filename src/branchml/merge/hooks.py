"""Commit hooks: refuse to commit a file whose merge conflicts are still unresolved.

The check runs in `prepare-commit-msg`, not `pre-commit`: Git runs prepare-commit-msg for every
commit it makes, including `rebase --continue`, `cherry-pick`, `revert` and `commit --no-verify`, and
a failing prepare-commit-msg aborts the commit. (pre-commit is skipped by all of those.) What gets
past a client anyway (hooks not installed) is caught by `branchml verify` and the server's hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from branchml.errors import BranchmlError
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
    found = find_unresolved(repo, staged_changes(repo))
    if found:
        raise UnresolvedMerge(found)


def staged_changes(repo: Repo) -> list[tuple[str, str]]:
    """(path, staged blob) of regular files the index adds or changes against HEAD."""
    out = repo.git(["diff", "--cached", "--raw", "-z", "--no-renames", "--diff-filter=AMT"]).split(b"\0")
    entries = []
    for meta, path in zip(out[0::2], out[1::2]):
        _old_mode, new_mode, _old, new_blob, _status = meta.decode().lstrip(":").split()
        if new_mode.startswith("100"):
            entries.append((path.decode(errors="surrogateescape"), new_blob))
    return entries
