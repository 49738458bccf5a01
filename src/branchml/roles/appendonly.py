"""What counts as changing an existing file on an append-only branch (data/raw, monitor logs).

Besides edits and deletes: renames (Git stores them as delete + add), mode changes, a file swapped
for a symlink or submodule, a new name that differs from an existing one only in letter case (it
replaces that file on case-insensitive file systems), and `.gitattributes` lines that change how
existing files are read. Attributes are compared with Git's own `check-attr` on temporary indexes,
not by parsing `.gitattributes` ourselves.
"""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING

from branchml.git import plumbing
from branchml.git.plumbing import DiffEntry as Change
from branchml.git.treeattrs import all_attributes
from branchml.store.pointer import looks_like_pointer

if TYPE_CHECKING:
    from branchml.repo import Repo

SYMLINK, GITLINK = "120000", "160000"
MODE_NAMES = {SYMLINK: "symlink", GITLINK: "submodule", "100644": "file", "100755": "executable file", "040000": "folder"}


def problem(repo: Repo, change: Change, base: str, tree: str, grow: bool) -> tuple[str, str] | None:
    """(rule, message) when `change` modifies what existed before; None when it only adds."""
    is_attributes = posixpath.basename(change.path) == ".gitattributes"
    if change.status == "A":
        if change.new_mode in (SYMLINK, GITLINK):
            return "regular-files", f"is a new {MODE_NAMES[change.new_mode]}; commit the data file itself"
        if is_attributes and not attributes_only_added(repo, change, base, tree):
            return "append-only", "is a new .gitattributes that changes how existing files are read, which modifies them"
        return None
    if is_attributes and change.status == "M" and attributes_only_added(repo, change, base, tree):
        return None
    if grow and change.status == "M" and change.old_mode == change.new_mode and _grows(repo, change):
        return None
    return "append-only", _describe(change, is_attributes)


def _describe(change: Change, is_attributes: bool) -> str:
    if change.status == "D":
        return "was deleted (or renamed: Git records a rename as a delete plus an add)"
    if change.status == "T":
        return f"changed type ({_mode(change.old_mode)} -> {_mode(change.new_mode)})"
    if change.old_oid == change.new_oid:
        return f"changed mode ({change.old_mode} -> {change.new_mode})"
    if is_attributes:
        return "was edited so that existing files are read differently (only new lines for new paths may be added)"
    return "was modified"


def _mode(mode: str) -> str:
    return MODE_NAMES.get(mode, mode)


def _blob(repo: Repo, sha: str) -> bytes:
    with plumbing.CatFile(repo.cwd) as cat:
        return cat.blob(sha)


def _grows(repo: Repo, change: Change) -> bool:
    """True when the new content starts with the old (an appended log). Pointers cannot be compared."""
    old, new = _blob(repo, change.old_oid), _blob(repo, change.new_oid)
    if looks_like_pointer(old) or looks_like_pointer(new):
        return False
    return len(new) > len(old) and new.startswith(old)


def attributes_only_added(repo: Repo, change: Change, base: str, tree: str) -> bool:
    """A .gitattributes change that appends lines and leaves every existing file's attributes as they were."""
    old = b"" if change.status == "A" else _blob(repo, change.old_oid)
    new = _blob(repo, change.new_oid)
    if not new.startswith(old) or (old and not old.endswith(b"\n")):
        return False
    folder = posixpath.dirname(change.path)
    paths = list_paths(repo, base, [folder] if folder else [])
    return not paths or _attributes(repo, base, paths) == _attributes(repo, tree, paths)


def list_paths(repo: Repo, treeish: str, folders: list[str]) -> list[str]:
    """Every file path under `folders` (all of them when empty) in a tree-ish."""
    return [e.path for e in plumbing.ls_tree(repo.cwd, treeish, folders) if e.type != "tree"]


def _attributes(repo: Repo, treeish: str, paths: list[str]) -> dict[str, list[tuple[str, str]]]:
    """Every attribute of `paths` as `treeish` defines them (Git's answer, git/treeattrs.py)."""
    return all_attributes(repo.cwd, paths, treeish)


def case_collisions(repo: Repo, tree: str, added: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """(commit, added path, earlier path) for added paths that another path of `tree` equals but for case.

    Checked once on the tip tree for a whole push: a colliding path deleted later is a deletion anyway.
    """
    if not added:
        return []
    folders = sorted({posixpath.dirname(path) for _, path in added})
    groups: dict[str, list[str]] = {}
    for path in list_paths(repo, tree, [] if "" in folders else folders):
        groups.setdefault(path.lower(), []).append(path)
    order = {path: i for i, (_, path) in enumerate(added)}
    found = []
    for label, path in added:
        group = groups.get(path.lower(), [])
        first = min(group, key=lambda p: order.get(p, -1), default=path)  # paths that existed before come first
        if path != first:
            found.append((label, path, first))
    return found
