"""`branchml why TAG`: the whole story of a model in one answer.

Raw uploads and their sources, the pulls that carried the data to the stable branch, the cleaning
reports and split settings met on the way, the code commit and run, the metrics, where the model
runs now (is it its customer's latest release?) and its monitoring logs on `monitor/*` branches.
Everything is read from Git: it works in any clone, offline.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field
from typing import Any

from branchml import config
from branchml.audit.content import require_rev
from branchml.data.lineage import lineage
from branchml.errors import BranchmlError, SettingError
from branchml.git import plumbing
from branchml.repo import Repo
from branchml.runs import tracking
from branchml.runs.release import list_releases
from branchml.runs.settings import run_settings
from branchml.settings import SplitSettings

MONITOR_PREFIX = "refs/heads/monitor/"


@dataclass
class Story:
    tag: str
    commit: str
    date: str
    code_commit: str
    branch: str | None
    command: list[str] | None
    params: dict[str, Any]
    metrics: dict[str, Any]
    uploads: list[dict[str, Any]]
    pulls: list[dict[str, Any]]
    cleaning_reports: list[str] = field(default_factory=list)
    split: dict[str, Any] | None = None
    release: dict[str, Any] = field(default_factory=dict)
    monitoring: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def why(repo: Repo, tag: str) -> Story:
    if plumbing.rev_parse(repo.cwd, f"refs/tags/{tag}") is None:
        raise BranchmlError(f"no tag {tag!r} in this repository", hint="list them with `branchml release list` (or `git fetch --tags`)")
    commit = require_rev(repo, tag)
    record = tracking.read_record(repo, tag, run_settings(repo).tracking_branch)
    found = lineage(repo, commit).as_dict()  # the story keeps the lineage in its JSON form
    pulls = list(flatten_pulls(found["chain"]))
    story = Story(
        tag=tag, commit=commit, date=plumbing.log_records(repo.cwd, [commit], ["%cI"], no_walk=True)[0][0],
        code_commit=(record.code_commit if record else "") or found["code_commit"], branch=record.branch if record else None,
        command=record.command if record else None, params=record.params if record else {},
        metrics=record.metrics if record else {},
        uploads=found["sources"], pulls=[{k: p[k] for k in ("ref", "commit", "pulled_in")} for p in pulls],
    )
    story.cleaning_reports = cleaning_reports(repo, pulls)
    story.split = split_settings(repo, pulls)
    story.release = release_status(repo, tag)
    story.monitoring = monitoring_logs(repo, tag)
    return story


def flatten_pulls(chain: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for pull in chain:
        out.append(pull)
        out.extend(flatten_pulls(pull.get("chain", [])))
    return out


def cleaning_reports(repo: Repo, pulls: list[dict[str, Any]]) -> list[str]:
    """Report files on the data/clean commits the data came through."""
    folder = config.DEFAULTS["data"]["reports"]
    found: list[str] = []
    for pull in pulls:
        if pull.get("commit") and str(pull["ref"]).startswith("data/clean"):
            entries = plumbing.ls_tree(repo.cwd, pull["commit"], [f"{folder}/"])
            found += [f"{pull['commit'][:12]}:{e.path}" for e in entries if e.type == "blob"]
    return found


def split_settings(repo: Repo, pulls: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The `[split]` settings of the data/split commit the data came from (ratios, seed, key, source),
    checked as `data split` checks them; a refused one is shown as committed, with the problem."""
    for pull in pulls:
        if pull.get("commit") and str(pull["ref"]).startswith("data/split"):
            with plumbing.CatFile(repo.cwd) as objects:
                text = (objects.contents(f"{pull['commit']}:{config.FILE_NAME}") or b"").decode("utf-8", "replace")
            return {"commit": pull["commit"], **_saved_split(text, f"{pull['commit'][:12]}:{config.FILE_NAME}")}
    return None


def _saved_split(text: str, where: str) -> dict[str, Any]:
    try:
        saved = SplitSettings.from_config(config.load_section(text, where, "split"))
    except SettingError as exc:
        return {"settings": _raw_split(text), "problem": exc.message}
    except BranchmlError as exc:  # not TOML
        return {"settings": None, "problem": exc.message}
    return {"settings": saved.as_toml() if saved.saved else None}


def _raw_split(text: str) -> Any:
    """The `[split]` table as committed (the TOML parsed, since only its values were refused)."""
    return tomllib.loads(text).get("split")


def release_status(repo: Repo, tag: str) -> dict[str, Any]:
    customer = tag.rpartition("-")[0] or tag
    releases = list_releases(repo, customer)
    latest = releases[-1]["tag"] if releases else None
    return {"customer": customer, "latest": latest, "current": latest == tag,
            "newer": [r["tag"] for r in releases if r["tag"] != tag and r["number"] > _number(tag)]}


def _number(tag: str) -> int:
    tail = tag.rpartition("-")[2]
    return int(tail) if tail.isdigit() else -1


def monitoring_logs(repo: Repo, tag: str) -> list[dict[str, Any]]:
    """Per monitor branch: the log files under `logs/<tag>/` (the serve-and-monitor layout)."""
    out = []
    for ref in plumbing.for_each_ref(repo.cwd, MONITOR_PREFIX):
        files = [e for e in plumbing.ls_tree(repo.cwd, ref, [f"logs/{tag}/"], long=True) if e.type == "blob"]
        if files:
            out.append({"branch": ref.removeprefix("refs/heads/"), "files": len(files),
                        "bytes": sum(e.size or 0 for e in files), "path": f"logs/{tag}/"})
    return out
