"""A connection to one blob remote: its settings, its storage (fsspec) and the local catalog of it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from branchml.remote import settings
from branchml.remote.catalog import Catalog
from branchml.remote.gitrefs import GitRefStorage
from branchml.remote.settings import RemoteSpec
from branchml.remote.storage import RemoteStorage

if TYPE_CHECKING:
    from branchml.repo import Repo

_warned: set[str] = set()  # one warning per process (the filter opens a connection per remote)


@dataclass
class Connection:
    spec: RemoteSpec
    storage: RemoteStorage
    catalog: Catalog


def open_connection(repo: Repo, name: str | None = None, committed: str | None = None,
                    spec: RemoteSpec | None = None) -> Connection:
    """Open a remote (`spec`, else by name, else the default) with its catalog (fsspec loads when storage is first used)."""
    spec = spec or settings.load(repo, committed).choose(name)
    warning = settings.ignored_warning(spec)
    if warning and warning not in _warned:
        _warned.add(warning)
        sys.stderr.write(warning + "\n")
    storage = open_storage(repo, spec)
    return Connection(spec, storage, Catalog(repo.store_dir, storage))


def open_storage(repo: Repo, spec: RemoteSpec) -> RemoteStorage:
    """An fsspec remote, or the Git remote itself (refs/branchml/*) when the spec says so."""
    if spec.is_git:
        return GitRefStorage(spec, repo.cwd, repo.store_dir)  # type: ignore[return-value]  # same interface
    return RemoteStorage(spec)


@contextmanager
def connect(repo: Repo, name: str | None = None, committed: str | None = None,
            spec: RemoteSpec | None = None) -> Iterator[Connection]:
    conn = open_connection(repo, name, committed, spec)
    try:
        yield conn
    finally:
        conn.catalog.close()
        conn.storage.close()
