"""The store's on-demand fetcher: missing files and chunks come from the blob remotes, batched.

`Repo.store` calls `make_fetcher` whenever a store is opened (the filter process opens one per Git
command), so it must stay cheap: it reads the settings only, and imports fsspec on first use.
"""

from __future__ import annotations

from branchml import config
from branchml.errors import BranchmlError, MissingObject
from branchml.remote import settings


def make_fetcher(repo):
    """None when no remote is configured; else fetcher(file_oids, chunk_ids) -> None."""
    if not _has_remotes(repo):
        return None

    connections: dict = {}  # one filter process smudges many files: connect once per remote

    def fetcher(file_oids: list[bytes], chunk_ids: list[bytes]) -> None:
        fetch_missing(repo, file_oids, chunk_ids, connections)

    return fetcher


def _has_remotes(repo) -> bool:
    try:
        text = settings.committed_text(repo)
        shared = config.parse_toml(text, config.FILE_NAME).get("remotes") if text else None
        mine = config.read_toml(settings.local_path(repo.store_dir)).get("remotes")
    except BranchmlError:
        return True  # let the fetch report the broken settings when something is actually missing
    return bool(shared or mine)


def fetch_missing(repo, file_oids: list[bytes], chunk_ids: list[bytes], connections: dict) -> None:
    """Try each remote in turn (default first); raise naming them all when none has everything."""
    from branchml.remote.api import open_connection
    from branchml.remote.download import fetch
    from branchml.remote.storage import RemoteError

    specs = settings.load_remotes(repo)
    ordered = sorted(specs, key=lambda s: s is not settings.choose(specs))
    errors = []
    for spec in ordered:
        if isinstance(connections.get(spec.name), RemoteError):
            errors.append(connections[spec.name])  # unreachable once: do not wait again per file
            continue
        try:
            if spec.name not in connections:
                connections[spec.name] = open_connection(repo, spec.name)
            conn = connections[spec.name]
            fetch(repo.store, conn.storage, conn.catalog, file_oids, chunk_ids)
            return
        except RemoteError as exc:
            connections[spec.name] = exc
            errors.append(exc)
        except BranchmlError as exc:
            errors.append(exc)
    if len(errors) == 1:
        raise errors[0]
    raise MissingObject("; ".join(e.message for e in errors), hint=errors[-1].hint)
