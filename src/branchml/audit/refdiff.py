"""`branchml diff A B`: what changed between two refs, file by file, with row counts for data.

Files are classified by `[paths]` kinds (code, data, model...). Data files in a known table format
get a row-level comparison (by key where one is configured or given, else rows as multisets); params
and metrics come from the run records of tags, or from the refs' params/metrics files.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from branchml import config
from branchml.audit.content import Blob, blob_at, iter_bytes, require_rev
from branchml.audit.rowdiff import RowDiff, RowSpill
from branchml.audit.tables import Source, Table, format_of
from branchml.git import plumbing
from branchml.repo import Repo
from branchml.roles.paths import PathKinds
from branchml.runs import tracking
from branchml.runs.settings import RunSettings
from branchml.settings import DiffSettings, MergeSettings

STATUS = {"A": "added", "D": "removed", "M": "modified", "T": "type-changed"}


@dataclass
class FileChange:
    path: str
    status: str  # added | removed | modified | type-changed
    kind: str  # the `[paths]` kind: code, data, model, tracking, docs, logs, other
    size_a: int | None
    size_b: int | None
    tracked: bool  # content lives in the store (a pointer on either side)
    rows: list[RowDiff] = field(default_factory=list)
    note: str = ""


@dataclass
class RefDiff:
    a: str
    b: str
    commit_a: str
    commit_b: str
    files: list[FileChange]
    params: dict[str, tuple[Any, Any]]
    metrics: dict[str, tuple[Any, Any]]

    def by_kind(self) -> dict[str, list[FileChange]]:
        out: dict[str, list[FileChange]] = {}
        for change in self.files:
            out.setdefault(change.kind, []).append(change)
        return out


def diff_refs(repo: Repo, a: str, b: str, paths: list[str] | None = None, *, key: list[str] | None = None,
              rows: bool = True, rows_max: int | None = None) -> RefDiff:
    """Compare `a` (old) and `b` (new); with `paths`, rows are compared whatever the file size.

    One `git cat-file` process reads every blob of the diff, however many files changed."""
    commit_a, commit_b = require_rev(repo, a), require_rev(repo, b)
    cfg = config.load(repo.root, repo.store_dir)
    kinds = PathKinds.from_config(cfg)
    limit = rows_max if rows_max is not None else (None if paths else DiffSettings.from_config(cfg).rows_max_bytes)
    files = []
    with plumbing.CatFile(repo.cwd) as objects:
        for status, path in changed_paths(repo, commit_a, commit_b, paths):
            old, new = _sides(repo, objects, (commit_a, commit_b), status, path)
            change = _file_change(status, path, kinds.kind_of(path), old, new)
            if rows and (paths or change.kind in ("data", "logs", "tracking")):
                _add_rows(repo, change, (old, new), key or _configured_key(cfg, path), limit, objects)
            files.append(change)
        params_a, metrics_a = run_numbers(repo, a, commit_a, cfg, objects)
        params_b, metrics_b = run_numbers(repo, b, commit_b, cfg, objects)
    return RefDiff(a, b, commit_a, commit_b, files, side_by_side(params_a, params_b), side_by_side(metrics_a, metrics_b))


def changed_paths(repo: Repo, a: str, b: str, paths: list[str] | None) -> list[tuple[str, str]]:
    return [(entry.status, entry.path) for entry in plumbing.diff_tree(repo.cwd, a, b, paths or ())]


Pair = tuple[Blob | None, Blob | None]  # a changed path's blob on each side (None: absent there)


def _sides(repo: Repo, objects: plumbing.CatFile, commits: tuple[str, str], status: str, path: str) -> Pair:
    old = blob_at(repo, commits[0], path, objects) if status != "A" else None
    new = blob_at(repo, commits[1], path, objects) if status != "D" else None
    return old, new


def _file_change(status: str, path: str, kind: str, old: Blob | None, new: Blob | None) -> FileChange:
    tracked = bool((old and old.pointer) or (new and new.pointer))
    return FileChange(path, STATUS.get(status, status), kind, old.size if old else None, new.size if new else None, tracked)


def _add_rows(repo: Repo, change: FileChange, sides: Pair, key: list[str] | None, limit: int | None,
              objects: plumbing.CatFile) -> None:
    fmt = format_of(change.path)
    if fmt is None:
        return
    biggest = max(change.size_a or 0, change.size_b or 0)
    if limit is not None and biggest > limit:
        change.note = f"rows not compared: {biggest} bytes is above [diff] rows_max_bytes ({limit}); name the file to compare it"
        return
    change.rows = compare_tables(repo, sides[0], sides[1], fmt, key, objects)


def compare_tables(repo: Repo, old: Blob | None, new: Blob | None, fmt: str, key: list[str] | None,
                   objects: plumbing.CatFile | None = None) -> list[RowDiff]:
    """Row diffs of every table of a data file (one for CSV/JSONL/Parquet, one per SQLite table)."""
    with tempfile.TemporaryDirectory(prefix="branchml-diff-") as tmp:
        sides = [Source(repo, old, fmt, Path(tmp), "a", objects), Source(repo, new, fmt, Path(tmp), "b", objects)]
        tables = [{t.name: t for t in side.tables()} for side in sides]
        return [_compare_table(name, tables[0].get(name), tables[1].get(name), key) for name in sorted(tables[0].keys() | tables[1].keys())]


def _compare_table(name: str, old: Table | None, new: Table | None, key: list[str] | None) -> RowDiff:
    shared = shared_columns(old, new)
    diff = RowDiff(name, key if key and (shared is None or set(key) <= set(shared)) else None)
    if old and new and old.columns is not None and new.columns is not None:
        diff.columns_added = sorted(set(new.columns) - set(old.columns))
        diff.columns_removed = sorted(set(old.columns) - set(new.columns))
    spill = RowSpill()
    try:
        diff.rows_a = spill.add(0, old.rows(shared, diff.key)) if old else 0
        diff.rows_b = spill.add(1, new.rows(shared, diff.key)) if new else 0
        return spill.compare(diff)
    finally:
        spill.close()


def shared_columns(old: Table | None, new: Table | None) -> list[str] | None:
    """The columns rows are compared on: those both sides have (None for schemaless rows)."""
    sets = [set(t.columns) for t in (old, new) if t is not None and t.columns is not None]
    if not sets:
        return None
    return sorted(set.intersection(*sets))


def _configured_key(cfg: dict[str, Any], path: str) -> list[str] | None:
    """`[merge.rows]` key (or `keys` by glob), as for the rows merge driver: columns joined by ","."""
    key = MergeSettings.from_config(cfg).rows.key_for(path)
    return [k for k in key.split(",") if k] or None


def run_numbers(repo: Repo, ref: str, commit: str, cfg: dict[str, Any],
                objects: plumbing.CatFile | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Params and metrics of a ref: its run record when it is a tag with one, else its files."""
    settings = RunSettings.from_config(cfg)
    record = tracking.read_record(repo, ref, settings.tracking_branch) if _is_tag(repo, ref) else None
    if record:
        return dict(record.params), dict(record.metrics)
    return _json_file(repo, commit, settings.params, objects), _json_file(repo, commit, settings.metrics, objects)


def _is_tag(repo: Repo, ref: str) -> bool:
    return plumbing.rev_parse(repo.cwd, f"refs/tags/{ref}") is not None


def _json_file(repo: Repo, commit: str, path: str, objects: plumbing.CatFile | None) -> dict[str, Any]:
    blob = blob_at(repo, commit, path, objects)
    if blob is None:
        return {}
    try:
        value = json.loads(b"".join(iter_bytes(repo, blob, objects)))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def side_by_side(a: dict[str, Any], b: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {name: (a.get(name), b.get(name)) for name in sorted(a.keys() | b.keys())}
