"""Raw bytes where a pointer belongs: a tracked file that entered Git without the filter.

A clone without `branchml install` (a plain `git clone`, or a filter skipped some other way) commits a
file that `.gitattributes` routes through `filter=branchml` as its own bytes. Git accepts it; the
file then sits in every clone's history, shows as modified forever in installed clones (their clean
filter turns it into a pointer) and blocks `git switch`. The checks here find such blobs, in the index
or in commits, so that `verify`, `fsck`, the server's pre-receive hook and `doctor` can name them.

Attributes are Git's own answer (`git check-attr`, see `branchml.git.treeattrs`), never our parsing
of `.gitattributes`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from branchml.git import plumbing
from branchml.git.treeattrs import attribute_values
from branchml.store.pointer import MAX_POINTER_SIZE, looks_like_pointer

if TYPE_CHECKING:
    from branchml.repo import Repo

STAGED = "(staged)"
SHOULD_BE_POINTER = "should have been a pointer"


@dataclass(frozen=True)
class RawFile:
    """A blob of `size` bytes at `path`, where `filter=branchml` says a pointer belongs."""

    commit: str  # the commit that brought it, or "(staged)" for the index
    path: str
    blob: str
    size: int

    def message(self) -> str:
        return (f"{SHOULD_BE_POINTER}: {self.size} bytes of raw content were committed without the branchml filter "
                "(a clone without `branchml install`)")


def fix_hint(paths: Iterable[str], *, committed: bool) -> str:
    """A command that works: re-add the files through the filter (and rewrite the commit that had them)."""
    quoted = " ".join(f"'{p}'" for p in sorted(set(paths))[:5]) or "."
    again = "git add --renormalize " + quoted
    if not committed:
        return f"run `branchml install`, then `{again}`"
    return (f"run `branchml install`, then `{again}` and `git commit --amend` (for older commits: "
            "`git rebase -i` and amend each), then push again")


def staged_raw(repo: Repo, inline_below: int = 0) -> list[RawFile]:
    """Raw blobs in this worktree's index where a pointer belongs."""
    entries = {e.path: e.oid for e in plumbing.ls_files_staged(repo.cwd) if e.mode.startswith("100")}
    return _check_in(repo, STAGED, None, list(entries.items()), inline_below)


def raw_in_tree(repo: Repo, treeish: str, inline_below: int = 0) -> list[RawFile]:
    """Every raw blob of a whole tree (a branch tip, a tag) where a pointer belongs."""
    entries = [(e.path, e.oid) for e in plumbing.ls_tree(repo.cwd, treeish) if e.mode.startswith("100")]
    return _check_in(repo, plumbing.rev_parse(repo.cwd, treeish) or treeish, treeish, entries, inline_below)


def raw_at_refs(repo: Repo, inline_below: int = 0) -> list[RawFile]:
    """Raw blobs in the trees of every branch and tag tip (each distinct tree checked once)."""
    tips = [oid for (oid,) in plumbing.ref_rows(repo.cwd, ["refs/heads/", "refs/tags/"], ["objectname"])]
    commits = plumbing.commit_ids(repo.cwd, tips)
    found = []
    for commit in dict.fromkeys(commits):
        found += raw_in_tree(repo, commit, inline_below)
    return found


def raw_in_commits(repo: Repo, commits: list[str], inline_below: int = 0) -> list[RawFile]:
    """Raw blobs that `commits` add or change (each against its first parent; a root commit: all)."""
    found = []
    for commit, entries in commit_changes(repo, commits).items():
        found += _check_in(repo, commit, commit, entries, inline_below)
    return found


def commit_changes(repo: Repo, commits: list[str]) -> dict[str, list[tuple[str, str]]]:
    """commit -> [(path, blob)] of the regular files it adds or changes against its first parent."""
    heads = plumbing.commit_heads(repo.cwd, commits)
    changes = plumbing.diff_commits(repo.cwd, [(c.oid, c.parents[0] if c.parents else None) for c in heads])
    found: dict[str, list[tuple[str, str]]] = {}
    for commit, entries in changes.items():
        for d in entries:
            if d.status in "AMT" and d.new_mode.startswith("100"):
                found.setdefault(commit, []).append((d.path, d.new_oid))
    return found


def _check_in(repo: Repo, label: str, treeish: str | None, entries: list[tuple[str, str]], inline_below: int) -> list[RawFile]:
    found = _raw_candidates(repo, entries, inline_below)
    filters = attribute_values(repo.cwd, [p for p, _ in found], "filter", treeish)
    return [RawFile(label, p, b, size) for (p, b), size in found.items() if filters.get(p) == "branchml"]


def _raw_candidates(repo: Repo, entries: list[tuple[str, str]], inline_below: int) -> dict[tuple[str, str], int]:
    """(path, blob) -> size for blobs that are neither empty, nor inline-small, nor a pointer."""
    sizes = _blob_sizes(repo, {blob for _, blob in entries})
    small = [b for b, s in sizes.items() if s <= MAX_POINTER_SIZE]
    pointers = {b for b, data in _blob_contents(repo, small).items() if looks_like_pointer(data)}
    return {(p, b): sizes[b] for p, b in entries
            if b in sizes and sizes[b] > 0 and sizes[b] >= inline_below and b not in pointers}


def _blob_sizes(repo: Repo, blobs: set[str]) -> dict[str, int]:
    with plumbing.CatFile(repo.cwd) as cat:
        return {oid: info.size for oid, info in cat.info_many(sorted(blobs)) if info and info.type == "blob"}


def _blob_contents(repo: Repo, blobs: list[str]) -> dict[str, bytes]:
    with plumbing.CatFile(repo.cwd) as cat:
        return {oid: found[1] for oid, found in cat.contents_many(blobs) if found}
