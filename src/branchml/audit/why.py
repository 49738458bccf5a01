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
from branchml.data.lineage import Pull, Upload, lineage
from branchml.errors import BranchmlError, SettingError
from branchml.git import plumbing
from branchml.repo import Repo
from branchml.runs import tracking
from branchml.runs.release import list_releases
from branchml.runs.settings import run_settings
from branchml.settings import SplitSettings

MONITOR_PREFIX = "refs/heads/monitor/"


@dataclass(frozen=True)
class PullStep:
    """A pull by copy the data came through: `ref@commit` pulled in `pulled_in` (commit None: malformed)."""

    ref: str
    commit: str | None
    pulled_in: str


@dataclass(frozen=True)
class SplitSeen:
    """The data/split commit the data came from, and its `[split]` table (None: unreadable)."""

    commit: str
    settings: dict[str, Any] | None
    problem: str | None = None  # why the committed [split] was refused (settings: as committed)


@dataclass(frozen=True)
class ReleaseStatus:
    """Is the tag its customer's latest release, and which newer ones exist."""

    customer: str
    latest: str | None
    current: bool
    newer: list[str]


@dataclass(frozen=True)
class MonitorLogs:
    """The tag's log files on one monitor branch."""

    branch: str
    files: int
    bytes: int
    path: str  # logs/<tag>/


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
    uploads: list[Upload]
    pulls: list[PullStep]
    cleaning_reports: list[str] = field(default_factory=list)
    split: SplitSeen | None = None
    release: ReleaseStatus | None = None
    monitoring: list[MonitorLogs] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """`why --json` (and the dashboard's tag page): every record as its fields."""
        return asdict(self)


def why(repo: Repo, tag: str) -> Story:
    if plumbing.rev_parse(repo.cwd, f"refs/tags/{tag}") is None:
        raise BranchmlError(f"no tag {tag!r} in this repository", hint="list them with `branchml release list` (or `git fetch --tags`)")
    commit = require_rev(repo, tag)
    record = tracking.read_record(repo, tag, run_settings(repo).tracking_branch)
    found = lineage(repo, commit)
    pulls = [PullStep(p.ref, p.commit, p.pulled_in) for p in flatten_pulls(found.chain)]
    story = Story(
        tag=tag, commit=commit, date=plumbing.log_records(repo.cwd, [commit], ["%cI"], no_walk=True)[0][0],
        code_commit=(record.code_commit if record else "") or found.code_commit, branch=record.branch if record else None,
        command=record.command if record else None, params=record.params if record else {},
        metrics=record.metrics if record else {}, uploads=found.sources, pulls=pulls,
    )
    story.cleaning_reports = cleaning_reports(repo, pulls)
    story.split = split_settings(repo, pulls)
    story.release = release_status(repo, tag)
    story.monitoring = monitoring_logs(repo, tag)
    return story


def flatten_pulls(chain: list[Pull]) -> list[Pull]:
    out = []
    for pull in chain:
        out.append(pull)
        out.extend(flatten_pulls(pull.chain))
    return out


def cleaning_reports(repo: Repo, pulls: list[PullStep]) -> list[str]:
    """Report files on the data/clean commits the data came through."""
    folder = config.DEFAULTS["data"]["reports"]
    found: list[str] = []
    for pull in pulls:
        if pull.commit and pull.ref.startswith("data/clean"):
            entries = plumbing.ls_tree(repo.cwd, pull.commit, [f"{folder}/"])
            found += [f"{pull.commit[:12]}:{e.path}" for e in entries if e.type == "blob"]
    return found


def split_settings(repo: Repo, pulls: list[PullStep]) -> SplitSeen | None:
    """The `[split]` settings of the data/split commit the data came from (ratios, seed, key, source),
    checked as `data split` checks them; a refused one is shown as committed, with the problem."""
    for pull in pulls:
        if pull.commit and pull.ref.startswith("data/split"):
            with plumbing.CatFile(repo.cwd) as objects:
                text = (objects.contents(f"{pull.commit}:{config.FILE_NAME}") or b"").decode("utf-8", "replace")
            return _saved_split(pull.commit, text)
    return None


def _saved_split(commit: str, text: str) -> SplitSeen:
    try:
        saved = SplitSettings.from_config(config.load_section(text, f"{commit[:12]}:{config.FILE_NAME}", "split"))
    except SettingError as exc:  # shown as committed (the TOML parsed: only its values were refused)
        return SplitSeen(commit, tomllib.loads(text).get("split"), exc.message)
    except BranchmlError as exc:  # not TOML
        return SplitSeen(commit, None, exc.message)
    return SplitSeen(commit, saved.as_toml() if saved.saved else None)


def release_status(repo: Repo, tag: str) -> ReleaseStatus:
    customer = tag.rpartition("-")[0] or tag
    releases = list_releases(repo, customer)
    latest = releases[-1].tag if releases else None
    return ReleaseStatus(customer, latest, latest == tag,
                         [r.tag for r in releases if r.tag != tag and r.number > _number(tag)])


def _number(tag: str) -> int:
    tail = tag.rpartition("-")[2]
    return int(tail) if tail.isdigit() else -1


def monitoring_logs(repo: Repo, tag: str) -> list[MonitorLogs]:
    """Per monitor branch: the log files under `logs/<tag>/` (the serve-and-monitor layout)."""
    out = []
    for ref in plumbing.for_each_ref(repo.cwd, MONITOR_PREFIX):
        files = [e for e in plumbing.ls_tree(repo.cwd, ref, [f"logs/{tag}/"], long=True) if e.type == "blob"]
        if files:
            out.append(MonitorLogs(ref.removeprefix("refs/heads/"), len(files), sum(e.size or 0 for e in files), f"logs/{tag}/"))
    return out
