"""The remotes' Python API: configure remotes, push, fetch, verify, clone."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from branchml import config
from branchml.errors import BranchmlError
from branchml.git import plumbing
from branchml.pointers import PointerBlob, file_oids, read_pointers, rev_list_pointers
from branchml.remote import settings, source
from branchml.remote.connection import Connection, connect
from branchml.remote.download import FetchReport, remote_file_chunks
from branchml.remote.download import fetch as fetch_records
from branchml.remote.gc import RemoteGcReport, collect
from branchml.remote.settings import RemoteConfigError, RemoteSpec
from branchml.remote.upload import PushReport, push_files
from branchml.repo import Repo
from branchml.store.pack import KIND_CHUNK, KIND_FILE

Advance = Callable[[int], None]


# -- configuration -----------------------------------------------------------------------------
def add_remote(repo: Repo, name: str, url: str, options: dict[str, Any], *, local: bool = False) -> RemoteSpec:
    """Add a remote to branchml.toml (or local.toml); consent to the options the user typed.

    The committed file counts once committed on the settings branch (remote/source.py), so adding
    one on another branch is refused: it would silently apply to nobody."""
    if settings.protocol_of(url) == "file":
        url = str(Path(url).expanduser().resolve())
    spec = settings.parse_spec(name, {"url": url, **options}, "remote add")  # refuses credentials
    if not local:
        _require_settings_branch(repo)
    path = settings.local_path(repo.store_dir) if local else _committed_path(repo)
    data = config.read_toml(path)
    if name in data.get("remotes", {}):
        raise RemoteConfigError(f"blob remote {name!r} already exists in {path.name}", hint=f"run `branchml remote remove {name}` first")
    data.setdefault("remotes", {})[name] = {"url": url, **options}
    path.parent.mkdir(parents=True, exist_ok=True)
    config.write_toml(path, data)
    if not local:
        _consent(repo, name, {"url": url, **options})
    return spec


def _require_settings_branch(repo: Repo) -> None:
    branch, here = source.settings_branch(repo), source.current_branch(repo)
    if here != branch:
        raise RemoteConfigError(
            f"blob remotes are read from branchml.toml committed on {branch!r}, and this is {here or 'a detached HEAD'!r}",
            hint=f"`git switch {branch}` and add it there (then commit and push {branch}), "
            "or keep it to this clone with `--local`",
        )


def remove_remote(repo: Repo, name: str) -> list[str]:
    """Remove a remote from both files; returns where it was found."""
    removed = []
    committed = [] if repo.root is None else [_committed_path(repo)]
    for path in (*committed, settings.local_path(repo.store_dir)):
        data = config.read_toml(path)
        found = data.get("remotes", {}).pop(name, None) is not None
        found = data.get(settings.CONSENT_TABLE, {}).pop(name, None) is not None or found
        if found:
            config.write_toml(path, data)
            removed.append(path.name)
    if not removed:
        raise RemoteConfigError(f"no blob remote named {name!r}", hint="see `branchml remote list`")
    return removed


def trust_remote(repo: Repo, name: str) -> dict[str, Any]:
    """Consent to a committed remote's current settings (bound to these exact values)."""
    table = committed_remote(repo, name)
    _consent(repo, name, table)
    return table


def committed_remote(repo: Repo, name: str) -> dict[str, Any]:
    """The committed table of remote `name` on the settings branch (what `trust` would consent to)."""
    shared = source.shared_settings(repo)
    table = shared.table.get("remotes", {}).get(name)
    if not table:
        raise RemoteConfigError(f"{shared.where} has no remote {name!r}", hint="see `branchml remote list`")
    committed: dict[str, Any] = table
    return committed


def _consent(repo: Repo, name: str, table: dict[str, Any]) -> None:
    path = settings.local_path(repo.store_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = config.read_toml(path)
    data.setdefault(settings.CONSENT_TABLE, {})[name] = dict(table)
    config.write_toml(path, data)


@dataclass(frozen=True)
class ListedRemote:
    """One blob remote as `branchml remote list` shows it: where its settings come from and whether they work."""

    name: str
    url: str | None
    options: dict[str, Any]  # the settings other than url
    source: str  # local.toml, branchml.toml, work tree, or the Git remote (default)
    ref: str | None  # the settings branch the committed settings were read from
    status: str  # "ok", or what is wrong (a problem, untrusted keys, not committed yet)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_remotes(repo: Repo) -> list[ListedRemote]:
    shared = source.shared_settings(repo)
    committed = shared.table.get("remotes", {})
    mine = config.read_toml(settings.local_path(repo.store_dir)).get("remotes", {})
    loaded = settings.load(repo)
    specs = {s.name: s for s in loaded.specs}
    out = []
    for name in dict.fromkeys([*mine, *committed]):
        table = {**committed.get(name, {}), **mine.get(name, {})}
        problem = loaded.problems.get(name)
        spec = specs.get(name)
        status = problem.message if problem else "ok"
        if spec is not None and spec.ignored:
            status = f"ok; ignored until trusted: {', '.join(spec.ignored)}"
        source_name = "local.toml" if name in mine else config.FILE_NAME
        out.append(ListedRemote(name, spec.url if spec else table.get("url"), {k: v for k, v in table.items() if k != "url"},
                                source_name, None if name in mine else shared.ref, status))
    out += _uncommitted_remotes(repo, {row.name for row in out}, shared.where)
    default = settings.git_default(repo) if not loaded.specs and not loaded.problems else None
    if default is not None:  # nothing configured: the Git remote carries the chunks (remote/gitrefs.py)
        out.append(ListedRemote(default.name, default.url, {}, "the Git remote (default)", None, "ok"))
    return out


def _uncommitted_remotes(repo: Repo, known: set[str], where: str) -> list[ListedRemote]:
    """Remotes in the work tree's branchml.toml that the settings branch does not hold yet."""
    if repo.root is None or not (repo.root / config.FILE_NAME).exists():
        return []
    tables = config.read_toml(repo.root / config.FILE_NAME).get("remotes", {})
    return [ListedRemote(name, table.get("url"), {k: v for k, v in table.items() if k != "url"}, "work tree", None,
                         f"not in effect until committed ({where})")
            for name, table in tables.items() if name not in known]


def _committed_path(repo: Repo) -> Path:
    if repo.root is None:
        raise BranchmlError("this is a bare repository", hint="configure remotes in a clone, or in branchml/local.toml here")
    return repo.root / config.FILE_NAME


# -- pointers --------------------------------------------------------------------------------
def history_pointers(repo: Repo, refs: list[str]) -> list[PointerBlob]:
    """Pointers in every commit reachable from refs (default: all branches and tags)."""
    return rev_list_pointers(repo, refs or ["--branches", "--tags"])


def tree_pointers(repo: Repo, refs: list[str], include: list[str]) -> list[PointerBlob]:
    """Pointers in the trees of refs (default HEAD), limited to paths matching an include glob."""
    blobs: dict[str, str] = {}
    for ref in refs or ["HEAD"]:
        for entry in plumbing.ls_tree(repo.cwd, resolve_ref(repo, ref)):
            if entry.type == "blob" and (not include or any(fnmatch.fnmatchcase(entry.path, g) for g in include)):
                blobs.setdefault(entry.oid, entry.path)
    return read_pointers(repo, blobs)


def resolve_ref(repo: Repo, ref: str) -> str:
    """`ref` itself, or like `git switch`, the one remote-tracking branch of that name (fresh clones)."""
    if plumbing.rev_parse(repo.cwd, f"{ref}^{{tree}}"):
        return ref
    matches = plumbing.for_each_ref(repo.cwd, f"refs/remotes/*/{ref}")
    if len(matches) == 1:
        return matches[0]
    raise BranchmlError(
        f"{ref!r} is not a branch, tag or commit here" + (f" (ambiguous: {', '.join(matches)})" if matches else ""),
        hint="run `git fetch`, or name it fully (e.g. origin/<branch>)",
    )


# -- transfers -------------------------------------------------------------------------------
def split_remote_and_refs(repo: Repo, first: str | None, refs: list[str]) -> tuple[str | None, list[str]]:
    """`push main` means the ref main on the default remote, unless a blob remote is called main."""
    if first is None or first in {s.name for s in settings.load_remotes(repo)} | set(settings.load(repo).problems):
        return first, refs
    if plumbing.rev_parse(repo.cwd, first):
        return None, [first, *refs]
    return first, refs  # an unknown remote: connect() says so



def push(repo: Repo, remote: str | None, refs: list[str], advance: Advance = lambda n: None) -> PushReport:
    pointers = history_pointers(repo, refs)
    with connect(repo, remote) as conn:
        return push_files(repo.store, conn.storage, conn.catalog, file_oids(pointers), advance)


def push_pointers(repo: Repo, remote: str | None, pointers: list[PointerBlob], advance: Advance = lambda n: None,
                  spec: RemoteSpec | None = None) -> PushReport:
    with connect(repo, remote, spec=spec) as conn:
        return push_files(repo.store, conn.storage, conn.catalog, file_oids(pointers), advance)


def fetch(repo: Repo, refs: list[str], include: list[str], remote: str | None = None,
          advance: Advance = lambda n: None) -> FetchReport:
    pointers = tree_pointers(repo, refs, include)
    with connect(repo, remote) as conn:
        return fetch_records(repo.store, conn.storage, conn.catalog, file_oids(pointers), [], advance)


@dataclass(frozen=True)
class MissingFile:
    path: str
    oid: str  # hex


@dataclass(frozen=True)
class RemoteVerification:
    """What `branchml verify-remote` found: of the `files` that `ref`'s history needs, those `missing` on `remote`."""

    remote: str
    ref: str
    files: int
    missing: list[MissingFile]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)  # the --json output: {"remote", "ref", "files", "missing": [{"path", "oid"}]}


def verify(repo: Repo, ref: str, remote: str | None = None, committed: str | None = None) -> RemoteVerification:
    """What of the files reachable from `ref` the remote lacks (files or chunks)."""
    pointers = history_pointers(repo, [ref])
    with connect(repo, remote, committed) as conn:
        missing = missing_on_remote(conn, pointers)
        return RemoteVerification(conn.spec.name, ref, len(file_oids(pointers)), missing)


def missing_on_remote(conn: Connection, pointers: list[PointerBlob]) -> list[MissingFile]:
    """Files whose record or any chunk the remote lacks, as {path, oid}; reads only remote indexes."""
    oids = file_oids(pointers)
    conn.catalog.refresh(require_data=False)
    absent = set(conn.catalog.missing(oids, KIND_FILE))
    present = [o for o in oids if o not in absent]
    chunks = remote_file_chunks(conn.storage, conn.catalog, present) if present else {}
    bad = {o for o in oids if o not in chunks or conn.catalog.missing(chunks[o], KIND_CHUNK)}
    path_of = {p.pointer.oid_bytes: p.path for p in pointers}
    return [MissingFile(path_of[o], o.hex()) for o in oids if o in bad]


def gc(repo: Repo, remote: str | None, *, grace_hours: float, dry_run: bool, break_lock: bool = False) -> RemoteGcReport:
    with connect(repo, remote) as conn:
        return collect(repo, conn, grace_hours=grace_hours, dry_run=dry_run, break_lock=break_lock)
