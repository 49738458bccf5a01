"""`branchml show TAG`: where a run's model came from (code, data, metrics) and what files it holds."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from branchml.errors import BranchmlError
from branchml.git import plumbing
from branchml.pointers import read_pointers
from branchml.repo import Repo
from branchml.runs import tracking
from branchml.runs.lineage import data_lineage
from branchml.runs.settings import run_settings


@dataclass(frozen=True)
class TreeFile:
    """A file of a run's commit, with its real size; `store`: its content lives in the chunk store."""

    path: str
    mode: str
    size: int
    store: bool


@dataclass
class RunInfo:
    """What `branchml show TAG` tells: where a run's model came from and what files it holds."""

    tag: str
    commit: str
    message: str | None  # the tag's message (annotated tags)
    branch: str | None  # the stable branch trained on, from the run record
    code_commit: str | None
    metrics: dict[str, Any]
    params: dict[str, Any]
    data_lineage: dict[str, Any]  # as the run record commits it (branchml.data.lineage.Lineage.as_dict)
    record: str | None  # <branch>:<path> of the run record
    files: list[TreeFile]
    monitor: list[dict[str, object]] | None = None  # per monitor branch, when asked (`show --monitor`)

    def as_dict(self) -> dict[str, Any]:
        """`show --json`: `monitor` only when it was asked for."""
        out = asdict(self)
        if self.monitor is None:
            del out["monitor"]
        return out


def show(repo: Repo, tag: str) -> RunInfo:
    commit = plumbing.rev_parse(repo.cwd, f"refs/tags/{tag}^{{commit}}")
    if commit is None:
        raise BranchmlError(f"no tag {tag!r} in this repository", hint="list them with `branchml runs` or `branchml release list`")
    branch = run_settings(repo).tracking_branch
    record = tracking.read_record(repo, tag, branch)
    return RunInfo(
        tag=tag,
        commit=commit,
        message=plumbing.ref_contents(repo.cwd, f"refs/tags/{tag}"),
        branch=record.branch if record else None,
        code_commit=(record.code_commit if record else "") or plumbing.rev_parse(repo.cwd, f"{commit}^"),
        metrics=record.metrics if record else {},
        params=record.params if record else {},
        data_lineage=(record.data_lineage if record else {}) or data_lineage(repo, commit),
        record=f"{branch}:{tracking.record_path(tag)}" if record else None,
        files=tree_files(repo, commit),
    )


def tree_files(repo: Repo, rev: str) -> list[TreeFile]:
    """Every file of `rev` with its real size; `store` says whether the content lives in the chunk store."""
    entries = list(tree_entries(repo, rev))
    pointers = {p.blob: p.pointer for p in read_pointers(repo, {sha: path for _, sha, _, path in entries})}
    files = []
    for mode, sha, size, path in entries:
        pointer = pointers.get(sha)
        files.append(TreeFile(path, mode, pointer.size if pointer else size, pointer is not None))
    return files


def tree_entries(repo: Repo, rev: str) -> Iterator[tuple[str, str, int, str]]:
    """(mode, blob sha, size, path) of every file in `rev` (submodules left out)."""
    for entry in plumbing.ls_tree(repo.cwd, rev, long=True):
        if entry.type == "blob":
            yield entry.mode, entry.oid, entry.size or 0, entry.path
