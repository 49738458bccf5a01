"""URL parts to refs and paths, validated: no Git argument or path is used that was not checked.

A ref from a URL must name a commit through `rev-parse --verify --end-of-options`; a path must be
relative, without `.`/`..` segments, NUL or backslashes, so nothing outside the tree is ever named.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from branchml.errors import BranchmlError, ExitCode
from branchml.git import plumbing
from branchml.remote.ondemand import make_fetcher
from branchml.repo import Repo


class NotFound(BranchmlError, FileNotFoundError):
    """No such ref or path: a user error for the CLI, FileNotFoundError for fsspec readers, a 404 page."""

    exit_code = ExitCode.FAILED


@dataclass(frozen=True)
class Location:
    ref: str
    commit: str
    path: str  # "" for the root of the tree


def clean_path(path: str) -> str:
    parts = [p for p in path.split("/") if p != ""]
    if path.startswith("/") or "\0" in path or "\\" in path or any(p in (".", "..") for p in parts):
        raise NotFound(f"not a path inside the tree: {path!r}")
    return "/".join(parts)


def commit_of(repo: Repo, ref: str) -> str:
    if not ref or ref.startswith("-") or "\0" in ref or ".." in ref:
        raise NotFound(f"not a ref: {ref!r}")
    found = plumbing.rev_parse(repo.cwd, f"{ref}^{{commit}}")
    if found is None:
        raise NotFound(f"no branch, tag or commit named {ref!r}")
    return found


def split_ref_path(repo: Repo, rest: str) -> Location:
    """`<ref>/<path>` where the ref may hold slashes: the longest prefix that names a commit wins."""
    parts = rest.split("/")
    for cut in range(len(parts), 0, -1):
        ref = "/".join(parts[:cut])
        try:
            commit = commit_of(repo, ref)
        except NotFound:
            continue
        return Location(ref, commit, clean_path("/".join(parts[cut:])))
    raise NotFound(f"no branch, tag or commit at the start of {rest!r}")


def open_repo(where: str | os.PathLike[str] | None) -> Repo:
    """The repository with its store's on-demand fetcher attached (reads may need the blob remote).

    Here rather than in `fs.spec`, so the gateway opens repositories without importing fsspec."""
    repo = Repo.find(where)
    if repo.store.fetcher is None:
        repo.store.fetcher = make_fetcher(repo)
    return repo
