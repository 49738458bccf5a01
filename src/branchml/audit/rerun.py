"""`branchml rerun TAG`: run a tagged training again from its code commit and compare the results.

The run happens in a temporary worktree of the tag's code commit (the tracked data is materialised
there by the filter, from the same store), with the recorded command and steps; its metrics are
compared with the record's within `[rerun] tolerance`, and every file the run committed (models,
metrics, params; not the generated model card) with the tag's bytes. Nothing is committed or tagged.
The command comes from a committed record, so the caller must show it and get the user's consent.
"""

from __future__ import annotations

import math
import os
import shlex
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import blake3

from branchml import config
from branchml.audit.content import blob_at
from branchml.errors import BranchmlError
from branchml.git import porcelain
from branchml.repo import Repo
from branchml.runs import tracking
from branchml.runs.card import CARD_NAME
from branchml.runs.run import execute, read_json_object
from branchml.runs.settings import run_settings
from branchml.settings import RerunSettings


@dataclass
class RerunPlan:
    tag: str
    code_commit: str
    steps: list[list[str]]
    expected_metrics: dict[str, Any]
    files: list[str]


@dataclass
class RerunResult:
    tag: str
    directory: str
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {recorded, rerun, ok}
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # path -> {recorded, rerun, ok}

    @property
    def reproduced(self) -> bool:
        return all(m["ok"] for m in self.metrics.values()) and all(f["ok"] for f in self.files.values())

    def as_dict(self) -> dict[str, Any]:
        """`rerun --json`: the fields and whether it reproduced."""
        return {**asdict(self), "reproduced": self.reproduced}


def plan(repo: Repo, tag: str) -> RerunPlan:
    """What a rerun of `tag` would run, from its tracking record."""
    settings = run_settings(repo)
    record = tracking.read_record(repo, tag, settings.tracking_branch)
    if not record or not record.command:
        raise BranchmlError(f"no run record for {tag!r} on {settings.tracking_branch}",
                            hint="rerun works on tags made by `branchml run`; list them with `branchml runs`")
    steps = [list(record.command), *(shlex.split(s) for s in record.steps)]
    outputs = [f for f in record.files if f != CARD_NAME]
    return RerunPlan(tag, record.code_commit, steps, dict(record.metrics), outputs)


def rerun(repo: Repo, run: RerunPlan, directory: Path | None, stream: BinaryIO) -> RerunResult:
    """Execute `run` in a worktree (kept only when `directory` was given) and compare its outputs."""
    keep = directory is not None
    where = directory or Path(tempfile.mkdtemp(prefix="branchml-rerun-")) / "tree"
    porcelain.worktree_add(repo.cwd, where, run.code_commit)
    try:
        _execute(repo, run, where, stream)
        result = RerunResult(run.tag, str(where))
        result.metrics = compare_metrics(run.expected_metrics, _metrics(repo, where), _tolerances(repo))
        result.files = {path: _compare_file(repo, run.tag, where, path) for path in run.files}
        return result
    finally:
        if not keep:
            porcelain.worktree_remove(repo.cwd, where)


def _execute(repo: Repo, run: RerunPlan, where: Path, stream: BinaryIO) -> None:
    env = {**os.environ, "BRANCHML_TAG": run.tag, "BRANCHML_CODE_COMMIT": run.code_commit, "BRANCHML_RERUN": "1"}
    settings = run_settings(repo)
    for name in (settings.metrics, settings.params):
        (where / name).unlink(missing_ok=True)  # the committed copies must not pass for the rerun's
    log_path = repo.store_dir / "runs" / f"{run.tag}.rerun.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        for step in run.steps:
            execute(step, where, env, log, stream)


def _metrics(repo: Repo, where: Path) -> dict[str, Any]:
    return read_json_object(where, run_settings(repo).metrics)


def _tolerances(repo: Repo) -> dict[str, float]:
    settings = RerunSettings.from_config(config.load(repo.root, repo.store_dir))
    return {"": settings.tolerance, **settings.metrics}


def compare_metrics(recorded: dict[str, Any], again: dict[str, Any], tolerances: dict[str, float]) -> dict[str, dict[str, Any]]:
    out = {}
    for name in sorted(recorded.keys() | again.keys()):
        old, new = recorded.get(name), again.get(name)
        tol = tolerances.get(name, tolerances[""])
        ok = isinstance(old, int | float) and isinstance(new, int | float) and math.isclose(old, new, rel_tol=tol, abs_tol=tol)
        out[name] = {"recorded": old, "rerun": new, "tolerance": tol, "ok": ok}
    return out


def _compare_file(repo: Repo, tag: str, where: Path, path: str) -> dict[str, Any]:
    blob = blob_at(repo, tag, path)
    produced = where / path
    recorded = _id_of_blob(blob) if blob else None
    again = _id_of_file(repo, produced, tracked=bool(blob and blob.pointer)) if produced.is_file() else None
    return {"recorded": recorded, "rerun": again, "ok": recorded is not None and recorded == again}


def _id_of_blob(blob: Any) -> str:
    return f"blake3:{blob.pointer.oid}" if blob.pointer else f"git:{blob.blob}"


def _id_of_file(repo: Repo, path: Path, tracked: bool) -> str:
    if tracked:
        hasher = blake3.blake3()
        if path.stat().st_size:
            hasher.update_mmap(path)
        return f"blake3:{hasher.hexdigest()}"
    return f"git:{porcelain.hash_file_raw(repo.cwd, str(path))}"
