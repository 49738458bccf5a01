"""The store's on-demand fetcher: missing files and chunks come from the blob remotes, batched.

`Repo.store` calls `make_fetcher` whenever a store is opened (the filter process opens one per Git
command), so it must stay cheap: it reads the settings only, and imports fsspec on first use.
The remote settings are read once per store opening, on the first fetch (about five Git processes:
the settings branch, its branchml.toml, the Git remotes), not once per file: a filter process or a
dashboard that fetches file after file would otherwise pay them every time. Like the connections
it keeps, they hold for the store's life; a new store (the next Git command) reads them again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from branchml import config
from branchml.errors import BranchmlError, MissingObject
from branchml.git import plumbing
from branchml.remote import settings, source
from branchml.remote.connection import open_connection
from branchml.remote.download import fetch
from branchml.remote.storage import RemoteError
from branchml.store.records import RecordInserter

if TYPE_CHECKING:
    from branchml.repo import Repo


def make_fetcher(repo: Repo) -> OnDemandFetcher | None:
    """None when no remote is configured; else fetcher(file_oids, chunk_ids) -> None."""
    if not _has_remotes(repo):
        return None
    return OnDemandFetcher(repo)


def _has_remotes(repo: Repo) -> bool:
    try:
        shared = source.shared_settings(repo).table.get("remotes")
        mine = config.read_toml(settings.local_path(repo.store_dir)).get("remotes")
    except BranchmlError:
        return True  # let the fetch report the broken settings when something is actually missing
    return bool(shared or mine) or repo.root is None or bool(plumbing.remote_names(repo.cwd))  # the Git remote (gitrefs.py)


class OnDemandFetcher:
    """Called by the store for what it lacks. One filter process smudges many files, so it connects
    once per remote, remembers a remote that was unreachable (no new wait per file), and appends
    every fetched record to one pack (each batch synced and indexed before the call returns)."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.connections: dict[str, Any] = {}
        self.failed: dict[str, Any] = {}
        self.inserter: RecordInserter | None = None
        self.remotes: settings.Remotes | None = None  # read on the first fetch (see the module docstring)

    def __call__(self, file_oids: list[bytes], chunk_ids: list[bytes]) -> None:
        self.inserter = self.inserter or RecordInserter(self.repo.store)
        self.remotes = remotes = self.remotes or settings.load(self.repo)
        default = remotes.choose()
        errors = []
        for spec in sorted(remotes.specs, key=lambda s: s is not default):
            try:
                self._fetch_from(spec.name, file_oids, chunk_ids)
                return
            except BranchmlError as exc:
                errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        raise MissingObject("; ".join(e.message for e in errors), hint=errors[-1].hint)

    def _fetch_from(self, name: str, file_oids: list[bytes], chunk_ids: list[bytes]) -> None:
        if name in self.failed:
            raise self.failed[name]
        try:
            if name not in self.connections:
                self.connections[name] = open_connection(self.repo, name)
            conn = self.connections[name]
            fetch(self.repo.store, conn.storage, conn.catalog, file_oids, chunk_ids, inserter=self.inserter)
        except RemoteError as exc:
            self.failed[name] = exc
            raise
