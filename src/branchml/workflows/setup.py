"""init, install, track, untrack: wiring branchml into a repository, idempotently."""

from __future__ import annotations

import importlib
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from branchml import checkout, config
from branchml.errors import BranchmlError
from branchml.git import attributes, cmd, hooks, porcelain
from branchml.remote import prefetch, source
from branchml.repo import Repo

MERGE_DRIVERS = ("jsonlist", "rows", "sqlite", "replace")


def branchml_command(*args: str) -> str:
    """How Git should start us: this interpreter, so a venv's branchml is found without PATH."""
    return " ".join([shlex.quote(sys.executable), "-m", "branchml", *args])


def git_config_entries() -> dict[str, str]:
    entries = {
        "filter.branchml.process": branchml_command("filter-process"),
        "filter.branchml.required": "true",
        "diff.branchml.textconv": branchml_command("diff-summary"),
        "diff.branchml.cachetextconv": "false",
    }
    for name in MERGE_DRIVERS:
        entries[f"merge.branchml-{name}.name"] = f"branchml {name} merge"
        entries[f"merge.branchml-{name}.driver"] = branchml_command("merge-driver", name, "%O", "%A", "%B", "%P", "%L")
    return entries


def register(repo: Repo | None, scope: str = "--local") -> None:
    cwd = repo.cwd if repo else None
    for key, value in git_config_entries().items():
        cmd.config_set(key, value, cwd, scope=scope)


# The server keeps branchml's packs (refs/branchml/*, already zstd-compressed) as they arrive: no
# delta search when it serves or repacks them, no unpacking into recompressed loose objects.
# Measured (bench/RESULTS.md): fetching 256 MiB of them took 6x longer from a server without this.
SERVER_CONFIG = {"core.bigFileThreshold": "16m", "receive.unpackLimit": "1"}


@dataclass(frozen=True)
class Installed:
    """What `install` changed: the hooks it wrote (empty: every hook was already in place)."""

    hooks: list[str]


def install(repo: Repo, *, server: bool = False) -> Installed:
    """Register filter, diff, merge drivers and hooks in this clone (or server hooks in a bare repo)."""
    if server:
        if repo.root is not None:
            raise BranchmlError("`install --server` is for bare repositories", hint="run it inside the bare repo on the server")
        register(repo)
        for key, value in SERVER_CONFIG.items():
            cmd.config_set(key, value, repo.cwd)
        return Installed(hooks.install_hooks(repo, hooks.SERVER_HOOKS))
    register(repo)
    _ = repo.store  # creates the store folder and its format file
    source.record_settings_branch(repo)  # where every branch reads the blob remote from
    return Installed(hooks.install_hooks(repo, hooks.CLIENT_HOOKS))


def install_global() -> None:
    """Register the filter for the user, so `git clone` smudges files during the clone."""
    register(None, scope="--global")


def init(path: Path) -> Repo:
    """Make `path` a branchml repository (creating the folder and the Git repo if needed)."""
    path.mkdir(parents=True, exist_ok=True)
    if not porcelain.is_repository(path) or cmd.toplevel(path).resolve() != path.resolve():
        porcelain.init(path)
    repo = Repo.find(path)
    install(repo)
    toml_path = repo.work_tree / config.FILE_NAME
    if not toml_path.exists():
        config.write_toml(toml_path, config.DEFAULTS)
    for scaffold in SCAFFOLDERS:
        _call(scaffold, repo)
    return repo


# Topic modules that add files on `init` (roles: PROBLEM.md...; merge: default attributes).
SCAFFOLDERS: list[str] = ["branchml.roles.scaffold:scaffold", "branchml.merge.scaffold:scaffold"]


def _call(spec: str, *args: Any) -> Any:
    module_name, func = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return None
        raise
    return getattr(module, func)(*args)


def rooted(repo: Repo, patterns: list[str], cwd: Path | None) -> list[str]:
    """Patterns given in a subfolder, as the root `.gitattributes` must spell them to mean that folder.

    In `data/`, `*.csv` means what it would in `data/.gitattributes`: `data/**/*.csv` (a glob without
    a slash matches at any depth below the folder); `raw/*.csv` or `/x.bin` are anchored there.
    """
    if cwd is None or repo.root is None:
        return patterns
    folder = cwd.resolve().relative_to(repo.root.resolve()).as_posix()
    if folder == ".":
        return patterns
    out = []
    for p in patterns:
        anchored = "/" in p.rstrip("/")
        out.append(f"{folder}/{p.lstrip('/')}" if anchored else f"{folder}/**/{p}")
    return out


def track(repo: Repo, patterns: list[str], merge: str | None = None, cwd: Path | None = None) -> list[str]:
    """Route `patterns` through the store; `merge` names a merge driver (else a line's own is kept).

    `cwd`: the folder the user is in; patterns are relative to it, like Git's own pathspecs."""
    if merge is not None and merge not in MERGE_DRIVERS:
        raise BranchmlError(f"unknown merge driver {merge!r}", hint=f"use one of {', '.join(MERGE_DRIVERS)}")
    path = repo.work_tree / ".gitattributes"
    changed = []
    for p in rooted(repo, patterns, cwd):
        merge_attr = f"merge=branchml-{merge}" if merge else attributes.merge_attr_of(path, p)
        if attributes.set_pattern(path, p, attributes.track_attrs(merge_attr)):
            changed.append(p)
    return changed


def untrack(repo: Repo, patterns: list[str], cwd: Path | None = None) -> list[str]:
    path = repo.work_tree / ".gitattributes"
    return [p for p in rooted(repo, patterns, cwd) if attributes.remove_pattern(path, p)]


def materialize_all(repo: Repo, retry: str = "`branchml install`") -> list[str]:
    """`branchml install`: fetch what every pointer file of the work tree needs in one batch, write
    them all; when some cannot be had, write the others and raise one error naming every missing
    file with the command that fixes it (remote/prefetch.py)."""
    targets = [f.entry for f in checkout.pointer_files(repo)]
    try:
        prefetch.prefetch(repo, targets, what="this work tree", retry=retry)
    except prefetch.MissingFiles as exc:
        missing = set(exc.paths)
        available = [t.path for t in targets if t.path not in missing]
        if available:
            checkout.materialize(repo, available)
        raise
    return checkout.materialize(repo)
