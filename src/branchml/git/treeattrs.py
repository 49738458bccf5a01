"""Git attributes of paths as the index, or any commit, defines them: Git's answer, not our parsing.

`git check-attr --source` needs Git 2.40; older Git reads attributes from the work tree or the
index only. For a commit we build a throw-away index holding just that commit's `.gitattributes`
files (check-attr reads nothing else), so the cost is one small `update-index`, whatever the tree size.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from branchml.git import cmd, plumbing


def attribute_values(cwd: Path, paths: Sequence[str], attr: str, treeish: str | None = None) -> dict[str, str]:
    """path -> value of `attr` ("unspecified", "set", "unset" or the value), from the index or `treeish`."""
    if not paths:
        return {}
    if treeish is None:
        return _check_attr(cwd, paths, attr, None)
    with tempfile.TemporaryDirectory(prefix="branchml-attr-") as tmp:
        env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        _load_attribute_files(cwd, treeish, env)
        return _check_attr(cwd, paths, attr, env)


def work_tree_attribute_values(cwd: Path, paths: Sequence[str], attr: str) -> dict[str, str]:
    """path -> value of `attr` as the work tree's .gitattributes files say (for files not yet added)."""
    if not paths:
        return {}
    listing = b"".join(os.fsencode(p) + b"\0" for p in paths)
    out = cmd.git(["check-attr", "-z", "--stdin", attr], cwd, input=listing).split(b"\0")
    return {os.fsdecode(p): v.decode(errors="replace") for p, _a, v in zip(out[0::3], out[1::3], out[2::3])}


def all_attributes(cwd: Path, paths: Sequence[str], treeish: str) -> dict[str, list[tuple[str, str]]]:
    """path -> every (attribute, value) set for it, as `treeish` defines them (`check-attr -a`)."""
    if not paths:
        return {}
    with tempfile.TemporaryDirectory(prefix="branchml-attr-") as tmp:
        env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        _load_attribute_files(cwd, treeish, env)
        listing = b"".join(os.fsencode(p) + b"\0" for p in paths)
        out = cmd.git(["check-attr", "--cached", "-a", "-z", "--stdin"], cwd, input=listing, env=env).split(b"\0")
    found: dict[str, list[tuple[str, str]]] = {os.fsdecode(p): [] for p in paths}
    for path, attr, value in zip(out[0::3], out[1::3], out[2::3]):
        found.setdefault(os.fsdecode(path), []).append((attr.decode(errors="replace"), value.decode(errors="replace")))
    return found


def _check_attr(cwd: Path, paths: Sequence[str], attr: str, env: dict[str, str] | None) -> dict[str, str]:
    listing = b"".join(os.fsencode(p) + b"\0" for p in paths)
    out = cmd.git(["check-attr", "--cached", "-z", "--stdin", attr], cwd, input=listing, env=env).split(b"\0")
    return {os.fsdecode(p): v.decode(errors="replace") for p, _a, v in zip(out[0::3], out[1::3], out[2::3])}


def _load_attribute_files(cwd: Path, treeish: str, env: dict[str, str]) -> None:
    """Put only `treeish`'s .gitattributes files into the index named by `env`."""
    lines = b"".join(f"{e.mode} {e.oid}\t".encode() + os.fsencode(e.path) + b"\0"
                     for e in plumbing.ls_tree(cwd, treeish)
                     if e.path == ".gitattributes" or e.path.endswith("/.gitattributes"))
    cmd.git(["update-index", "-z", "--index-info"], cwd, input=lines, env=env)
