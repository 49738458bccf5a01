"""`data pull`: copy files of another branch, tag or commit into this branch, by tree entry.

Copying the tree entry (mode + blob id) moves no bytes: for a tracked large file the blob is a
small pointer whose chunks the shared store already has. The commit records where the data came
from as `Data-From: <ref>@<full commit>`, which `lineage` follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from posixpath import basename

from branchml.data.change import ChangeSet, commit_changes
from branchml.data.settings import data_settings, repo_folder
from branchml.data.tree import Entry, head_commit, ls_tree, require_role, resolve_commit
from branchml.errors import BranchmlError

ROLES = ("data/clean", "data/split", "stable", "ds")


@dataclass
class PullResult:
    commit: str | None  # None when everything was already there
    source: str  # "<ref>@<commit>"
    added: list[str]
    updated: list[str]
    unchanged: int


def pull(repo, ref: str, to: str | None = None, path: str | None = None) -> PullResult:
    """Copy `path` (default: the data folder) of `ref` to `to` (default: the same place)."""
    require_role(repo, ROLES, "data pull")
    commit = resolve_commit(repo, ref)
    src = repo_folder(path, "--path") if path else data_settings(repo)["dir"]
    entries = ls_tree(repo, commit, src)
    if not entries:
        raise BranchmlError(f"{ref} has no files under {src}/", hint=f"see what it has with `git ls-tree -r --name-only {ref}`")
    dest = repo_folder(to, "--to") if to else None
    planned = {destination(e.path, src, dest): e for e in entries}
    current = {e.path: e for e in ls_tree(repo, head_commit(repo))}
    changes = ChangeSet(entries={p: e for p, e in planned.items() if _differs(current.get(p), e)})
    origin = f"{ref}@{commit}"
    added = sorted(p for p in changes.entries if p not in current)
    updated = sorted(p for p in changes.entries if p in current)
    result = PullResult(None, origin, added, updated, len(planned) - len(changes.entries))
    if changes:
        where = dest or src
        message = f"Pull {len(planned)} file{'s' * (len(planned) != 1)} of {ref}:{src} into {where}"
        result.commit = commit_changes(repo, changes, message, [("Data-From", origin)])
    return result


def destination(path: str, src: str, dest: str | None) -> str:
    """Where a pulled file lands: its path below `src`, re-rooted at `dest` (default: unchanged)."""
    if dest is None:
        return path
    rel = basename(path) if path == src else path[len(src) + 1 :]
    return f"{dest}/{rel}"


def _differs(old: Entry | None, new: Entry) -> bool:
    return old is None or (old.mode, old.sha) != (new.mode, new.sha)
