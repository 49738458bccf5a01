"""Find a tag's production logs (E2): every record under `logs/<tag>/` of every `monitor/*` branch.

Reads Git objects only (ls-tree, one cat-file process): no checkout, works in a bare clone.
Part folders are named by UTC date, so `since` skips whole days before reading any blob.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from branchml.errors import BranchmlError
from branchml.git import plumbing
from branchml.git.cmd import Where
from branchml.monitor import stored
from branchml.monitor.branch import list_files
from branchml.monitor.records import (
    LABELS_DIR,
    LOGS_DIR,
    LogRecord,
    branch_ref,
    parse_lines,
)

_AGO = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class LogSummary:
    """A tag's records on one monitor branch, counted: how many, in how many parts, when, per variant."""

    env: str
    branch: str  # monitor/<env>
    commit: str
    count: int
    parts: int
    first: str | None  # the oldest record's time stamp (None: no record)
    last: str | None
    variants: dict[str, int]

    def as_dict(self) -> dict[str, object]:
        """As `show --monitor --json` and `monitor logs --json` print it."""
        return asdict(self)


@dataclass
class EnvLogs:
    """The records of one tag on one monitor branch."""

    env: str
    commit: str
    parts: list[str] = field(default_factory=list)
    records: list[LogRecord] = field(default_factory=list)

    def summary(self) -> LogSummary:
        variants: dict[str, int] = {}
        for record in self.records:
            variants[record.variant] = variants.get(record.variant, 0) + 1
        stamps = [r.ts for r in self.records]
        return LogSummary(self.env, f"monitor/{self.env}", self.commit, len(self.records), len(self.parts),
                          min(stamps, default=None), max(stamps, default=None), variants)


def environments(cwd: Where) -> list[str]:
    """The env names of the monitor branches of this repository."""
    refs = plumbing.for_each_ref(cwd, "refs/heads/monitor/")
    return sorted(ref.removeprefix("refs/heads/monitor/") for ref in refs)


def parse_since(text: str | None) -> str | None:
    """`7d`, `12h`, `30m`, `2w` or an ISO date/time -> the UTC timestamp text records are compared with."""
    if not text:
        return None
    match = _AGO.match(text)
    if match:
        when = datetime.now(UTC) - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    else:
        try:
            when = datetime.fromisoformat(text)
        except ValueError as exc:
            raise BranchmlError(f"--since {text!r}: not a duration or a date", hint="e.g. --since 7d or --since 2026-11-01") from exc
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def tag_logs(cwd: Where, tag: str, envs: list[str] | None = None, since: str | None = None) -> list[EnvLogs]:
    """The records of `tag` on each monitor branch (all of them unless `envs`), oldest first."""
    found = []
    with plumbing.CatFile(cwd) as cat:
        for env in envs if envs is not None else environments(cwd):
            commit = plumbing.rev_parse(cwd, f"{branch_ref(env)}^{{commit}}")
            if commit is None:
                raise BranchmlError(f"no branch monitor/{env}", hint="list them with `git branch --list 'monitor/*'`")
            found.append(_read_env(cwd, cat, env, commit, tag, since))
    return found


def env_logs(cwd: Where, env: str, since: str | None = None) -> EnvLogs:
    """Every record of every tag on monitor/<env> (labels left out), oldest first: what an A/B
    report or a drift check over the whole environment reads."""
    commit = plumbing.rev_parse(cwd, f"{branch_ref(env)}^{{commit}}")
    if commit is None:
        raise BranchmlError(f"no branch monitor/{env}", hint="serve a tag with `branchml serve TAG --env " + env + "` first")
    with plumbing.CatFile(cwd) as cat:
        return _read_env(cwd, cat, env, commit, None, since)


def _read_env(cwd: Where, cat: plumbing.CatFile, env: str, commit: str, tag: str | None, since: str | None) -> EnvLogs:
    """The records under logs/<tag>/ (tag None: under logs/, except the labels folder)."""
    logs = EnvLogs(env, commit)
    folder = LOGS_DIR if tag is None else f"{LOGS_DIR}/{tag}"
    parts = [e for e in list_files(cwd, commit, folder)
             if (since is None or _day(e.path) >= since[:10]) and not e.path.startswith(LABELS_DIR + "/")]
    for entry, (_name, found) in zip(parts, cat.contents_many(e.oid for e in parts)):
        if found is None:
            raise BranchmlError(f"monitor/{env}:{entry.path}: blob {entry.oid} is missing", hint="git fetch the monitor branch again")
        records = parse_lines(stored.part_content(cwd, found[1], f"monitor/{env}:{entry.path}"), f"monitor/{env}:{entry.path}")
        logs.records.extend(r for r in records if since is None or r.ts >= since)
        logs.parts.append(entry.path)
    logs.records.sort(key=lambda r: r.ts)
    return logs


def _day(path: str) -> str:
    """The UTC date folder of `logs/<tag>/<date>/<part>`."""
    return path.rsplit("/", 2)[-2]
