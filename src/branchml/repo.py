"""A branchml repository: where its work tree, git dirs, store and settings are."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from branchml.git import cmd, plumbing


@dataclass
class Repo:
    """Paths of one Git repository (or worktree); the store is opened lazily and shared by worktrees."""

    root: Path | None  # work tree root; None in a bare repository
    git_dir: Path
    common_dir: Path
    _store: object | None = field(default=None, repr=False)

    @classmethod
    def find(cls, cwd: str | os.PathLike[str] | None = None) -> "Repo":
        plumbing.require_git()
        paths = plumbing.repo_paths(cwd)
        return cls(root=paths.root, git_dir=paths.git_dir, common_dir=paths.common_dir)

    @property
    def cwd(self) -> Path:
        return self.root or self.git_dir

    @property
    def store_dir(self) -> Path:
        return self.common_dir / "branchml"

    @cached_property
    def store(self):  # -> branchml.store.store.Store (imported lazily: keeps CLI start-up fast)
        from branchml.store.store import Store

        store = Store(self.store_dir)
        store.fetcher = _remote_fetcher(self)
        return store

    def git(self, args: list[str], **kw) -> bytes:
        return cmd.git(args, self.cwd, **kw)

    def git_text(self, args: list[str], **kw) -> str:
        return cmd.git_text(args, self.cwd, **kw)


def _remote_fetcher(repo: "Repo"):
    """The remotes module's on-demand fetcher for this repo, or None (no remote, or not built)."""
    try:
        from branchml.remote.ondemand import make_fetcher
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("branchml.remote"):
            return None
        raise
    return make_fetcher(repo)
