"""`branchml run`: one training run on a stable branch, from tag reservation to the record on main.

Order matters: the tag is reserved first (so training gets its name), the command and the
configured steps run with their output streamed and logged, then models, metrics and the card are
committed and tagged in one go, and only then the record goes to the tracking branch. Any failure
before the tag leaves no commit, no tag and no reservation; the log is kept.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from branchml import config
from branchml.errors import BranchmlError, ExitCode
from branchml.git import plumbing, porcelain
from branchml.git.treeattrs import work_tree_attribute_values
from branchml.pointers import require_materialised
from branchml.repo import Repo
from branchml.roles.names import role_of
from branchml.runs import baseline, card, tags, tracking
from branchml.runs.lineage import data_lineage
from branchml.runs.settings import RunSettings, run_settings
from branchml.settings import MonitorSettings

LARGE_OUTSIDE_STORE = 10 << 20  # warn when a run output this big would be committed to Git directly


class RunFailed(BranchmlError):
    exit_code = ExitCode.RUN_FAILED


@dataclass
class RunResult:
    tag: str
    commit: str
    record: tracking.RunRecord
    log: Path


def run(repo: Repo, command: list[str], *, customer: str | None = None, tag: str | None = None,
        stream: BinaryIO | None = None) -> RunResult:
    """Train with `command` on the current stable branch, commit, tag and track the result."""
    if not command:
        raise BranchmlError("no training command given", hint="branchml run -- python train.py")
    settings = run_settings(repo)
    branch = stable_branch(repo)
    require_materialised(repo)  # the command would read pointer text where data belongs (Git calls it modified)
    require_clean(repo)
    code_commit = _head(repo)
    name = tags.reserve(repo, code_commit, prefix=customer or default_prefix(branch), tag=tag)
    log = log_path(repo, name)
    stale = _remove_stale(repo.work_tree, [settings.metrics, settings.params])
    try:
        result = _train_and_tag(repo, name, branch, code_commit, command, settings, log, stream or sys.stderr.buffer)
    except BaseException as exc:
        _restore_stale(repo, stale)
        tags.release(repo, name)
        kept = _keep_failed_log(log)
        if isinstance(exc, BranchmlError) and kept:
            exc.hint = f"the log is in {kept}; " + (exc.hint or "")
        raise
    tags.release(repo, name)
    try:
        tracking.write_record(repo, result.record, settings.tracking_branch)
    except BranchmlError as exc:
        raise BranchmlError(
            f"{name} is committed and tagged, but its record could not be added to {settings.tracking_branch}: {exc.message}",
            hint=f"`branchml show {name}` still works from the tag; the record can be rebuilt from it",
        ) from exc
    return result


def stable_branch(repo: Repo) -> str:
    branch = plumbing.short_head(repo.cwd)
    if not branch:
        raise BranchmlError("HEAD is detached: runs happen on a stable/* branch", hint="git switch stable/<name>")
    if role_of(branch) != "stable":
        raise BranchmlError(
            f"`branchml run` trains on stable/* branches, and {branch!r} is not one",
            hint=f"git switch -c stable/<customer> (or merge {branch} into a stable branch) and run there",
        )
    return branch


def default_prefix(branch: str) -> str:
    return branch.split("/", 1)[1].replace("/", "-")


def require_clean(repo: Repo) -> None:
    """A run must be reproducible from its commit: refuse uncommitted or untracked files."""
    status = porcelain.status_porcelain(repo.cwd).rstrip("\n")
    if status:
        shown = "\n".join(status.splitlines()[:10])
        raise BranchmlError(
            f"the work tree has uncommitted changes; a run must start from a commit:\n{shown}",
            hint="commit them (code comes by merging a dev/* branch), or `git stash -u`, then run again",
        )


def log_path(repo: Repo, tag: str) -> Path:
    folder = repo.store_dir / "runs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{tag}.log"


def _keep_failed_log(log: Path) -> Path | None:
    """The number is reused by the next run, so the failed run's log moves out of its way."""
    if not log.exists():
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    kept = log.with_name(f"{log.stem}.failed-{stamp}.log")
    log.rename(kept)
    return kept


def _train_and_tag(repo: Repo, name: str, branch: str, code_commit: str, command: list[str], settings: RunSettings,
                   log: Path, stream: BinaryIO) -> RunResult:
    started = datetime.now(UTC)
    steps = [[arg.replace("{tag}", name) for arg in step] for step in [command, *map(_as_args, settings.steps)]]
    env = {**os.environ, "BRANCHML_TAG": name, "BRANCHML_BRANCH": branch, "BRANCHML_CODE_COMMIT": code_commit}
    with open(log, "wb") as out:
        for step in steps:
            execute(step, repo.work_tree, env, out, stream)
        _warn_large_outside_store(repo, out, stream)
    # the drift baseline of the training data, committed and tagged with the model (docs/alerts.md)
    baseline.write_for_run(repo.work_tree, MonitorSettings.from_config(config.load(repo.root, repo.store_dir)), name)
    record = tracking.RunRecord(
        tag=name, branch=branch, customer=name.rpartition("-")[0] or name,
        code_commit=code_commit, command=steps[0], steps=[shlex.join(s) for s in steps[1:]],
        metrics=read_numbers(repo.work_tree, settings.metrics),
        params=read_json_object(repo.work_tree, settings.params),
        data_lineage=data_lineage(repo, code_commit),
        **_timing(started, datetime.now(UTC)),
    )
    previous = previous_record(repo, name, settings.tracking_branch)
    (repo.work_tree / card.CARD_NAME).write_text(card.render(record, previous, settings.task), encoding="utf-8")
    commit = commit_and_tag(repo, name, code_commit, record)
    record.commit = commit
    record.files = [change.path for change in plumbing.diff_tree(repo.cwd, code_commit, commit)]
    return RunResult(name, commit, record, log)


def _remove_stale(root: Path, names: list[str]) -> list[str]:
    """Metrics and params left by the previous run must not pass for this run's (they are in HEAD)."""
    removed = []
    for name in names:
        path = root / name
        if path.is_file() and path.resolve().is_relative_to(root.resolve()):
            path.unlink()
            removed.append(name)
    return removed


def _restore_stale(repo: Repo, names: list[str]) -> None:
    """A failed run puts back the previous run's files (the work tree was clean: they are HEAD's),
    unless the failed command wrote new ones, which stay for you to look at."""
    missing = [name for name in names if not os.path.lexists(repo.work_tree / name)]
    if missing:
        porcelain.checkout_paths(repo.cwd, "HEAD", missing, check=False)


def _head(repo: Repo) -> str:
    head = plumbing.rev_parse(repo.cwd, "HEAD^{commit}")
    if head is None:
        raise BranchmlError("this branch has no commit yet", hint="commit your training code first")
    return head


def _timing(started: datetime, finished: datetime) -> dict[str, Any]:
    return {
        "started": started.isoformat(timespec="seconds"), "finished": finished.isoformat(timespec="seconds"),
        "duration_s": round((finished - started).total_seconds(), 3),
    }


def _warn_large_outside_store(repo: Repo, log: BinaryIO, stream: BinaryIO) -> None:
    """Outputs above LARGE_OUTSIDE_STORE that no `branchml track` pattern covers would go into Git as is."""
    changed = porcelain.changed_paths(repo.cwd)
    for path, value in work_tree_attribute_values(repo.cwd, changed, "filter").items():
        size = (repo.work_tree / path).stat().st_size if (repo.work_tree / path).is_file() else 0
        if value != "branchml" and size > LARGE_OUTSIDE_STORE:
            line = f"branchml: warning: {path} ({size:,} bytes) is not tracked by the store; `branchml track` it\n".encode()
            log.write(line)
            stream.write(line)


def _as_args(step: object) -> list[str]:
    if isinstance(step, str):
        return shlex.split(step)
    if isinstance(step, list) and all(isinstance(a, str) for a in step):
        return step
    raise BranchmlError(f"branchml.toml [run] steps: {step!r} is neither a string nor a list of strings")


def execute(args: list[str], cwd: Path, env: dict[str, Any], log: BinaryIO, stream: BinaryIO) -> None:
    """Run one step, copying its output (stdout and stderr, interleaved) to `stream` and the log."""
    log.write(f"$ {shlex.join(args)}\n".encode())
    log.flush()  # the log is followed live (`tail -f`) and must survive a kill
    try:
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except OSError as exc:
        raise RunFailed(f"could not start {args[0]!r}: {exc}", hint="check the command; nothing was committed or tagged") from exc
    stdout = proc.stdout
    assert isinstance(stdout, io.BufferedReader)  # stdout=PIPE with the default buffering
    while data := stdout.read1(65536):
        log.write(data)
        log.flush()
        stream.write(data)
        stream.flush()
    if proc.wait() != 0:
        raise RunFailed(
            f"`{shlex.join(args)}` failed with exit code {proc.returncode}; nothing was committed or tagged",
            hint="clean the work tree (`git status`, `git stash -u`) before running again",
        )


def read_json_object(root: Path, name: str) -> dict[str, Any]:
    path = root / name
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunFailed(f"{name} (written by the run) is not valid JSON: {exc}", hint="fix the training script") from exc
    if not isinstance(data, dict):
        raise RunFailed(f"{name} must hold a JSON object (name -> value)", hint="fix the training script")
    return data


def read_numbers(root: Path, name: str) -> dict[str, Any]:
    metrics = read_json_object(root, name)
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RunFailed(f"{name}: metric {key!r} is {value!r}, not a number", hint="write numbers only")
    return metrics


def previous_record(repo: Repo, name: str, branch: str) -> tracking.RunRecord | None:
    """The record of the latest earlier tag with the same prefix (for the card's comparison)."""
    prefix = name.rpartition("-")[0]
    earlier = [tag for _, tag in tags.numbered_tags(repo, prefix) if tag != name]
    return tracking.read_record(repo, earlier[-1], branch) if earlier else None


def commit_and_tag(repo: Repo, name: str, code_commit: str, record: tracking.RunRecord) -> str:
    """Commit everything the run produced and tag it; on failure, undo the commit (files stay)."""
    try:
        porcelain.add_all(repo.cwd)
        porcelain.commit(repo.cwd, commit_message(record))
        commit = _head(repo)
        tags.create_tag(repo, name, commit, summary(record))
    except BaseException:
        if _head(repo) != code_commit:
            porcelain.reset(repo.cwd, code_commit, soft=True)
        porcelain.reset(repo.cwd, check=False)
        raise
    return commit


def summary(record: tracking.RunRecord) -> str:
    metrics = ", ".join(f"{k}={v}" for k, v in sorted(record.metrics.items())) or "no metrics"
    return (
        f"Run {record.tag}: {metrics}\n\n"
        f"branch: {record.branch}\ncode commit: {record.code_commit}\n"
        f"command: {shlex.join(record.command)}\n"
        f"params: {json.dumps(record.params, sort_keys=True)}\n"
        f"metrics: {json.dumps(record.metrics, sort_keys=True)}\n"
    )


def commit_message(record: tracking.RunRecord) -> str:
    return summary(record) + f"\nRun-Tag: {record.tag}\nCode-From: {record.code_commit}\n"
