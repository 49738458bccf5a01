"""`data add`: copy local files into the raw branch as one upload that names its source.

Raw is append-only: an upload never replaces a path that exists. By default each upload gets its
own folder `data/uploads/<UTC date>-<n>/`, so uploads never collide and their order is visible.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from branchml.data.change import ChangeSet, commit_changes
from branchml.data.settings import data_settings, repo_folder
from branchml.data.tree import head_commit, ls_tree, require_role
from branchml.errors import BranchmlError
from branchml.repo import Repo

ROLES = ("data/raw",)


@dataclass
class Upload:
    commit: str
    folder: str
    files: list[str]
    source: str


def add(repo: Repo, files: list[str | Path], source: str, to: str | None = None) -> Upload:
    """Commit `files` (files or folders) under `to` with a `Data-Source: <source>` trailer."""
    require_role(repo, ROLES, "data add")
    source = check_source(source)
    sources = [Path(f) for f in files]
    if not sources:
        raise BranchmlError("no files given", hint="e.g. `branchml data add incoming/*.jsonl --source \"crm export\"`")
    existing = {e.path for e in ls_tree(repo, head_commit(repo))}
    folder = repo_folder(to, "--to") if to else new_upload_folder(repo, existing)
    changes = ChangeSet(copies=plan_copies(sources, folder))
    clashes = sorted(set(changes.copies) & existing)
    if clashes:
        raise BranchmlError(
            f"raw data is append-only and {clashes[0]} already exists" + (f" (+{len(clashes) - 1} more)" if len(clashes) > 1 else ""),
            hint="upload into a new folder: leave out --to, or pass another --to",
        )
    count = len(changes.copies)
    message = f"Add {count} file{'s' * (count != 1)} to {folder}"
    commit = commit_changes(repo, changes, message, [("Data-Source", source)])
    return Upload(commit, folder, sorted(changes.copies), source)


def check_source(source: str | None) -> str:
    text = (source or "").strip()
    if not text:
        raise BranchmlError("every raw upload must name its source", hint='pass --source "where this data comes from"')
    if "\n" in text or "\r" in text:
        raise BranchmlError("--source must be a single line", hint="put details in a README next to the data")
    return text


def new_upload_folder(repo: Repo, existing: set[str]) -> str:
    """`data/uploads/<UTC date>-<n>`, with n one more than any upload of that day."""
    base = f"{data_settings(repo).uploads}/{dt.datetime.now(dt.UTC):%Y-%m-%d}-"
    taken = {p[len(base):].split("/", 1)[0] for p in existing if p.startswith(base)}
    numbers = [int(t) for t in taken if t.isdigit()]
    return f"{base}{max(numbers, default=0) + 1}"


def plan_copies(sources: list[Path], folder: str) -> dict[str, Path]:
    """repo path -> local file; folders are copied recursively under their own name."""
    plan: dict[str, Path] = {}
    for source in sources:
        if not source.exists():
            raise BranchmlError(f"{source}: no such file or folder", hint="check the path; nothing was added")
        files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
        for file in files:
            rel = file.relative_to(source.parent) if source.is_dir() else Path(file.name)
            target = f"{folder}/{rel.as_posix()}"
            if target in plan:
                raise BranchmlError(f"two files would both be uploaded as {target}: {plan[target]} and {file}")
            plan[target] = file
    return plan
