"""Writes to a branch without a checkout: one commit per file (or per transaction), under its rules.

Content goes into the store first when the branch's `.gitattributes` route the path through the
filter (Git's own `check-attr` answer), else into Git as a blob. The commit is built on a throw-away
index from the branch tip, checked against the role rules as a server would (a violation refuses the
write and nothing moves), and published with `update-ref NEW OLD`, retried when another writer moved
the branch first. A branch checked out in a worktree is refused: its files would go stale under it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from branchml.errors import BranchmlError, RefChanged
from branchml.fs.locate import NotFound, clean_path
from branchml.git import plumbing, treeattrs
from branchml.repo import Repo
from branchml.roles.hooks import branch_heads, client_policy, refuse_if_any
from branchml.roles.rules import RefUpdate, check
from branchml.runs.tracking import worktrees_on

ATTEMPTS = 20


@dataclass(frozen=True)
class Change:
    path: str
    source: Path | None  # a local file with the new content; None deletes the path


def commit_changes(repo: Repo, branch: str, changes: list[Change], message: str, source: str | None = None,
                   *, author: tuple[str, str] | None = None) -> str:
    """Commit `changes` on `branch` (a branch name, not a tag or commit); returns the new commit.

    `author`: (name, email) of the commit's author and committer (default: Git's configuration)."""
    with repo.store.gc_guard():  # gc must not sweep what is stored here before the ref names it
        return _commit_changes(repo, branch, changes, message, source, author)


def _commit_changes(repo: Repo, branch: str, changes: list[Change], message: str, source: str | None,
                    author: tuple[str, str] | None) -> str:
    ref = _branch_ref(repo, branch)
    entries = {c.path: (_store(repo, ref, c) if c.source else None) for c in changes}
    text = plumbing.with_trailers(message, [("Data-Source", source)] if source else [])
    for _ in range(ATTEMPTS):
        old = plumbing.rev_parse(repo.cwd, ref)
        new = _commit(repo, old, entries, text, author)
        _check_rules(repo, ref, old, new)
        try:
            plumbing.update_ref(repo.cwd, ref, new, old=old, message=f"branchml fs: {message.splitlines()[0]}")
            return new
        except RefChanged:
            continue
    raise BranchmlError(f"could not commit to {branch}: it kept moving", hint="retry the write")


def _branch_ref(repo: Repo, branch: str) -> str:
    ref = f"refs/heads/{branch}"
    if plumbing.rev_parse(repo.cwd, ref) is None:
        raise NotFound(f"no branch {branch!r} to write to (tags and commits are read-only)")
    if worktrees_on(repo, branch):
        raise BranchmlError(f"{branch} is checked out in a worktree; a write here would leave its files stale",
                            hint="write with plain git there, or switch that worktree to another branch")
    return ref


def _store(repo: Repo, ref: str, change: Change) -> tuple[str, str]:
    """(mode, blob) for the new content: a pointer when the path is tracked on the branch."""
    assert change.source is not None
    tracked = treeattrs.attribute_values(repo.cwd, [change.path], "filter", ref).get(change.path) == "branchml"
    if tracked and change.source.stat().st_size:
        with repo.store.writer() as writer, open(change.source, "rb") as stream:
            pointer = writer.add_stream(stream)
            writer.commit()
        return "100644", plumbing.hash_object(repo.cwd, pointer.encode())
    return "100644", plumbing.hash_object(repo.cwd, change.source.read_bytes())


def _commit(repo: Repo, old: str | None, entries: dict[str, tuple[str, str] | None], message: str,
            author: tuple[str, str] | None) -> str:
    with tempfile.TemporaryDirectory(prefix="branchml-fs-") as tmp:
        env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        plumbing.read_tree(repo.cwd, old, env)
        plumbing.restage(repo.cwd, [_index_entry(path, entry) for path, entry in entries.items()], env)
        tree = plumbing.write_tree(repo.cwd, env)
    who = {f"GIT_{role}_{part}": value for role in ("AUTHOR", "COMMITTER")
           for part, value in zip(("NAME", "EMAIL"), author)} if author else None
    return plumbing.commit_tree(repo.cwd, tree, [old] if old else [], message, env=who)


def _index_entry(path: str, entry: tuple[str, str] | None) -> plumbing.TreeEntry:
    if entry is None:  # mode 0 removes the path from the index
        return plumbing.TreeEntry("0", "blob", "0" * 40, path)
    return plumbing.TreeEntry(entry[0], "blob", entry[1], path)


def _check_rules(repo: Repo, ref: str, old: str | None, new: str) -> None:
    heads = branch_heads(repo)
    heads.pop(ref, None)
    refuse_if_any(check(repo, [RefUpdate(ref, old or "0" * 40, new)], client_policy(repo), heads))


def clean_paths(paths: Iterable[str]) -> list[str]:
    return [clean_path(p) for p in paths]
