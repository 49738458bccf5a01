"""`data pull`: copy files of another branch, tag or commit into this branch, by tree entry.

Copying the tree entry (mode + blob id) moves no bytes: for a tracked large file the blob is a
small pointer whose chunks the shared store already has. The commit records where the data came
from as `Data-From: <ref>@<full commit>`, which `lineage` follows, and the paths as
`Data-Path: <source folder> -> <folder here>`. A later pull of the same ref and paths applies only
what changed on the ref since: what cleaning removed or rewrote here stays removed or rewritten.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from posixpath import basename

from branchml.data.change import ChangeSet, commit_changes
from branchml.data.settings import data_settings, repo_folder
from branchml.data.tree import Entry, head_commit, ls_tree, require_role, resolve_commit
from branchml.errors import BranchmlError
from branchml.git import plumbing
from branchml.repo import Repo

ROLES = ("data/clean", "data/split", "stable", "ds")


@dataclass
class PullResult:
    commit: str | None  # None when everything was already there
    source: str  # "<ref>@<commit>"
    added: list[str]
    updated: list[str]
    unchanged: int
    since: str | None = None  # the commit of REF pulled last time, when only changes since were copied
    removed: list[str] = field(default_factory=list)  # copies of files REF deleted since then


def pull(repo: Repo, ref: str, to: str | None = None, path: str | None = None, everything: bool = False) -> PullResult:
    """Copy `path` (default: the data folder) of `ref` to `to` (default: the same place).

    When this branch pulled `ref` before with the same paths, only what changed on `ref` since is
    applied: new and modified files are copied, and copies of files `ref` deleted are removed (unless
    changed here). Files that cleaning removed or rewrote here stay so. `everything` copies all again.
    """
    require_role(repo, ROLES, "data pull")
    commit = resolve_commit(repo, ref)
    src = repo_folder(path, "--path") if path else data_settings(repo).dir
    entries = ls_tree(repo, commit, src)
    if not entries:
        raise BranchmlError(f"{ref} has no files under {src}/", hint=f"see what it has with `git ls-tree -r --name-only {ref}`")
    head = head_commit(repo)
    dest = repo_folder(to, "--to") if to else None
    mapping = f"{src} -> {dest or src}"
    since = None if everything else last_pulled(repo, head, ref, mapping)
    current = {e.path: e for e in ls_tree(repo, head)}
    changes = ChangeSet()
    if since:
        entries, changes.removals = _since(repo, since, commit, src, dest, entries, current)
    planned = {destination(e.path, src, dest): e for e in entries}
    changes.entries = {p: e for p, e in planned.items() if _differs(current.get(p), e)}
    origin = f"{ref}@{commit}"
    added = sorted(p for p in changes.entries if p not in current)
    updated = sorted(p for p in changes.entries if p in current)
    result = PullResult(None, origin, added, updated, len(planned) - len(changes.entries), since, sorted(changes.removals))
    if changes:
        message = f"Pull {len(planned)} file{'s' * (len(planned) != 1)} of {ref}:{src} into {dest or src}"
        result.commit = commit_changes(repo, changes, message, [("Data-From", origin), ("Data-Path", mapping)])
    return result


def last_pulled(repo: Repo, head: str | None, ref: str, mapping: str) -> str | None:
    """The commit of `ref` this branch last pulled with the same paths, if it is in this clone."""
    if head is None:
        return None
    prefix = f"{ref}@"
    keys = [f"%(trailers:key={k},valueonly,separator=%x1e)" for k in ("Data-From", "Data-Path")]
    for origins, paths in plumbing.log_records(repo.cwd, [head], keys, grep=f"Data-From: {prefix}", fixed=True):
        if paths.strip() == mapping and origins.strip().startswith(prefix) and "\x1e" not in origins:
            commit = origins.strip()[len(prefix):]
            return commit if plumbing.object_type(repo.cwd, commit) == "commit" else None
    return None


def _since(repo: Repo, since: str, commit: str, src: str, dest: str | None, entries: list[Entry],
           current: dict[str, Entry]) -> tuple[list[Entry], set[str]]:
    """Entries changed on the source since the last pull, and the copies here of deleted ones."""
    changed, deleted = source_changes(repo, since, commit, src)
    return [e for e in entries if e.path in changed], stale_copies(repo, since, deleted, src, dest, current)


def source_changes(repo: Repo, old: str, new: str, src: str) -> tuple[set[str], set[str]]:
    """Files under `src` (added or modified, deleted) between two commits of the source."""
    changed: set[str] = set()
    deleted: set[str] = set()
    for d in plumbing.diff_tree(repo.cwd, old, new, [src]):
        (deleted if d.status == "D" else changed).add(d.path)
    return changed, deleted


def stale_copies(repo: Repo, old: str, deleted: set[str], src: str, dest: str | None, current: dict[str, Entry]) -> set[str]:
    """Copies here of files the source deleted, if they are still exactly what was pulled."""
    if not deleted:
        return set()
    before = {e.path: e for e in ls_tree(repo, old, src)}
    stale = set()
    for path in deleted:
        here = current.get(destination(path, src, dest))
        if here and path in before and (here.mode, here.sha) == (before[path].mode, before[path].sha):
            stale.add(here.path)
    return stale


def destination(path: str, src: str, dest: str | None) -> str:
    """Where a pulled file lands: its path below `src`, re-rooted at `dest` (default: unchanged)."""
    if dest is None:
        return path
    rel = basename(path) if path == src else path[len(src) + 1 :]
    return f"{dest}/{rel}"


def _differs(old: Entry | None, new: Entry) -> bool:
    return old is None or (old.mode, old.sha) != (new.mode, new.sha)
