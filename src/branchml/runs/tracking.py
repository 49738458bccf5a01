"""Tracking records: one JSON file per run on the tracking branch (main), written by plumbing only.

The user's checkout is never touched: the record is hashed, added to a temporary index built from
the branch tip, committed with commit-tree and published with `update-ref <branch> NEW OLD`, a
compare-and-swap retried when another writer moved the branch first. One file per run means that
merges of tracking never conflict.

If the tracking branch is checked out in some worktree, its HEAD moves under it; we then also add
the new record to that worktree's index and work tree (only when the file is not already there), so
`git status` there stays as it was instead of showing the record as deleted.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from branchml.errors import BranchmlError, GitCommandError, RefChanged
from branchml.files import write_atomic
from branchml.git import plumbing, porcelain
from branchml.repo import Repo

RECORDS_DIR = "tracking/runs"
RUN_RECORD_FORMAT = 1  # the `format` of tracking/runs/<tag>.json (docs/formats.md)
MAX_ATTEMPTS = 20
LOCK_RETRIES = 10


@dataclass
class RunRecord:
    """One training run: what was trained, from which commit and data, and what came out (docs/formats.md)."""

    tag: str
    branch: str = ""  # the stable branch trained on
    customer: str = ""
    code_commit: str = ""  # the commit trained
    command: list[str] = field(default_factory=list)  # the training command's argv
    steps: list[str] = field(default_factory=list)  # the [run] steps after it, as shell strings
    metrics: dict[str, Any] = field(default_factory=dict)  # name -> number
    params: dict[str, Any] = field(default_factory=dict)
    data_lineage: dict[str, Any] = field(default_factory=dict)  # branchml.runs.lineage.data_lineage
    started: str = ""  # ISO 8601 with offset, seconds
    finished: str = ""
    duration_s: float = 0.0
    commit: str = ""  # the run's own (tagged) commit
    files: list[str] = field(default_factory=list)  # paths the run commit changed
    extra: dict[str, Any] = field(default_factory=dict, repr=False)  # keys this branchml does not know, as read

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        """From a parsed record; a key it lacks (an older writer) takes the field's default."""
        known = {f.name for f in fields(cls)} - {"extra"}
        found = {key: value for key, value in data.items() if key in known and value is not None}
        return cls(**found, extra={k: v for k, v in data.items() if k not in known and k != "format"})

    def to_json(self) -> dict[str, Any]:
        """The record as committed (every field, and `format`), also what `--json` prints."""
        fields_ = asdict(self)
        return {**fields_.pop("extra"), **fields_, "format": RUN_RECORD_FORMAT}


def record_path(tag: str) -> str:
    return f"{RECORDS_DIR}/{tag}.json"


def encode_record(record: RunRecord) -> bytes:
    """The committed bytes of a run record; every record carries `format` (docs/formats.md)."""
    return (json.dumps(record.to_json(), indent=2, sort_keys=True, default=str) + "\n").encode()


def write_record(repo: Repo, record: RunRecord, branch: str = "main") -> str:
    """Add `tracking/runs/<tag>.json` to `branch` in a new commit; returns that commit."""
    path = record_path(record.tag)
    blob = plumbing.hash_object(repo.cwd, encode_record(record))
    ref = f"refs/heads/{branch}"
    message = plumbing.with_trailers(f"Track run {record.tag}", [("Run-Tag", record.tag)])
    for _ in range(MAX_ATTEMPTS):
        old = _tip(repo, ref)
        tree = _tree_with(repo, old, path, blob)
        new = plumbing.commit_tree(repo.cwd, tree, [old] if old else [], message)
        try:
            plumbing.update_ref(repo.cwd, ref, new, old=old, message=f"branchml: track run {record.tag}")
        except RefChanged:
            continue  # someone moved the branch: rebuild on the new tip
        _sync_checkouts(repo, branch, path, blob, encode_record(record))
        return new
    raise BranchmlError(f"could not add {path} to {branch}: it kept moving", hint="retry `branchml run`")


def _tip(repo: Repo, ref: str) -> str | None:
    return plumbing.rev_parse(repo.cwd, f"{ref}^{{commit}}")


def _tree_with(repo: Repo, base: str | None, path: str, blob: str) -> str:
    """The tree of `base` plus `path` -> `blob`, built in a temporary index (the real one is untouched)."""
    fd, index = tempfile.mkstemp(prefix="branchml-index-", dir=repo.git_dir)
    os.close(fd)
    os.unlink(index)  # git wants to create it itself
    env = {"GIT_INDEX_FILE": index}
    try:
        plumbing.read_tree(repo.cwd, base, env)
        plumbing.restage(repo.cwd, [plumbing.TreeEntry("100644", "blob", blob, path)], env)
        return plumbing.write_tree(repo.cwd, env)
    finally:
        Path(index).unlink(missing_ok=True)


def _sync_checkouts(repo: Repo, branch: str, path: str, blob: str, data: bytes) -> None:
    """Give worktrees that have `branch` checked out the new file, so their status stays clean."""
    for root in worktrees_on(repo, branch):
        target = root / path
        if target.exists():
            continue  # something of the user's is there: leave it (status will show the difference)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, data)
        except OSError:
            continue
        _add_to_index(repo, root, path, blob)


def _add_to_index(repo: Repo, root: Path, path: str, blob: str) -> None:
    """Stage `path` in that worktree's index, waiting a little if another Git command holds its lock.

    If it stays locked, that worktree's status shows the record as deleted; `git reset` fixes it.
    """
    for attempt in range(LOCK_RETRIES):
        try:
            plumbing.restage(root, [plumbing.TreeEntry("100644", "blob", blob, path)])
            return
        except GitCommandError:
            time.sleep(0.05 * (attempt + 1))


def worktrees_on(repo: Repo, branch: str) -> list[Path]:
    return [root for root, ref in porcelain.worktree_branches(repo.cwd)
            if ref == f"refs/heads/{branch}" and (root / ".git").exists()]


def read_records(repo: Repo, branch: str = "main") -> list[RunRecord]:
    """All records on `branch` (empty when it has none); unreadable files are reported, not skipped."""
    if _tip(repo, f"refs/heads/{branch}") is None:
        return []
    blobs = {
        e.oid: f"{branch}:{e.path}"
        for e in plumbing.ls_tree(repo.cwd, f"refs/heads/{branch}", [RECORDS_DIR])
        if e.type == "blob" and e.path.endswith(".json") and e.path.count("/") == RECORDS_DIR.count("/") + 1
    }
    return [_parse(body, blobs[sha]) for sha, body in cat_blobs(repo, list(blobs))]


def cat_blobs(repo: Repo, shas: list[str]) -> list[tuple[str, bytes]]:
    """(sha, content) of many blobs over one `git cat-file` process."""
    with plumbing.CatFile(repo.cwd) as cat:
        return [(sha, found[1]) for sha, found in cat.contents_many(shas) if found is not None]


def _parse(body: bytes, where: str) -> RunRecord:
    try:
        record = json.loads(body)
    except json.JSONDecodeError as exc:
        raise BranchmlError(f"{where}: not valid JSON ({exc})", hint="fix or remove it on that branch") from exc
    if not isinstance(record, dict) or "tag" not in record:
        raise BranchmlError(f"{where}: not a run record (no 'tag')", hint="fix or remove it on that branch")
    version = record.get("format", 1)  # records written before versioning are format 1
    if not isinstance(version, int) or not 1 <= version <= RUN_RECORD_FORMAT:
        raise BranchmlError(
            f"{where}: run record format {version!r}; this branchml reads formats 1 to {RUN_RECORD_FORMAT}",
            hint="upgrade branchml (`pip install -U branchml`)",
        )
    return RunRecord.from_json(record)


def read_record(repo: Repo, tag: str, branch: str = "main") -> RunRecord | None:
    where = f"refs/heads/{branch}:{record_path(tag)}"
    with plumbing.CatFile(repo.cwd) as cat:
        body = cat.contents(where)
    return _parse(body, where) if body else None
