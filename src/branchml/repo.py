"""A branchml repository: where its work tree, git dirs and store are."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from branchml.errors import BranchmlError
from branchml.git import plumbing

if TYPE_CHECKING:
    from branchml.store.store import Fetcher, Store

# The store's module, loaded by name when a repository first opens its store: the commit hooks,
# which Git starts on every commit, never open one, and loading it (SQLite, zstd, BLAKE3, FastCDC
# and the store's own modules) took about 25 ms of each hook's start.
STORE = "branchml.store.store"

# Makes the on-demand fetcher for a repository's store (None: nothing to fetch from). The remotes
# package is above this layer, so whoever opens stores for a command (the CLI entry point, the
# filter, the public API) registers it with `use_fetcher`; a bare library user gets a plain store.
FetcherFactory = Callable[["Repo"], "Fetcher | None"]
FETCHERS: list[FetcherFactory] = []


def use_fetcher(factory: FetcherFactory) -> None:
    """Make every store opened from now on in this process fetch what it lacks through `factory`."""
    FETCHERS[:] = [factory]


class FetcherOnFirstMiss:
    """A store's fetcher that makes the real one (`factory(repo)`) only when the store first lacks
    something: making it reads the remotes' settings and runs `git remote` (about 6 Git processes),
    which a filter or hook that finds everything local never needs. Without a remote it fetches
    nothing, and the store says what is missing as it does without a fetcher."""

    def __init__(self, factory: FetcherFactory, repo: Repo) -> None:
        self.factory, self.repo = factory, repo
        self.fetcher: Fetcher | None = None
        self.made = False

    def __call__(self, file_oids: list[bytes], chunk_ids: list[bytes]) -> None:
        if not self.made:
            self.fetcher, self.made = self.factory(self.repo), True
        if self.fetcher is not None:
            self.fetcher(file_oids, chunk_ids)


@dataclass
class Repo:
    """Paths of one Git repository (or worktree); the store is opened lazily and shared by worktrees."""

    root: Path | None  # work tree root; None in a bare repository
    git_dir: Path
    common_dir: Path

    @classmethod
    def find(cls, cwd: str | os.PathLike[str] | None = None) -> Repo:
        plumbing.require_git()
        paths = plumbing.repo_paths(cwd)
        return cls(root=paths.root, git_dir=paths.git_dir, common_dir=paths.common_dir)

    @property
    def cwd(self) -> Path:
        return self.root or self.git_dir

    @property
    def work_tree(self) -> Path:
        """The work tree root, for commands that read or write files there (none in a bare repository)."""
        if self.root is None:
            raise BranchmlError(f"{self.git_dir} is a bare repository: this command needs a work tree",
                                hint="run it in a clone that has a work tree")
        return self.root

    @property
    def store_dir(self) -> Path:
        return self.common_dir / "branchml"

    @cached_property
    def store(self) -> Store:
        store: Store = importlib.import_module(STORE).Store(self.store_dir)
        for factory in FETCHERS:
            store.fetcher = factory(self)
        return store
