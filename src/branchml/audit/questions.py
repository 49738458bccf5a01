"""Audit questions that need more than one existing query (docs/audit.md lists all ten).

- uploads: who uploaded what, when, from where (data/raw commits and their `Data-Source`).
- split history: was the split a stable branch trained on ever changed, did an example move.
- retrain: which tags hold data of a bad upload, per customer, and which of them run now.
- running: what a customer runs now, or ran on a date.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from branchml.audit.content import require_rev
from branchml.data.lineage import used_by
from branchml.data.split import read_manifest
from branchml.errors import BranchmlError
from branchml.git import plumbing
from branchml.repo import Repo
from branchml.runs.release import Release, list_releases


@dataclass(frozen=True)
class RawUpload:
    """A commit with a `Data-Source` trailer: who, when, from where, and the files it added."""

    commit: str
    author: str  # name <email>
    date: str  # author date, ISO 8601
    source: str
    subject: str
    files: list[str]

    def as_dict(self) -> dict[str, Any]:
        """`audit uploads --json`'s row."""
        return asdict(self)


def uploads(repo: Repo, branch: str = "data/raw") -> list[RawUpload]:
    """Every commit on `branch` with a `Data-Source` trailer: author, date, source and files added."""
    require_rev(repo, branch)
    fields = ["%H", "%an <%ae>", "%aI", "%(trailers:key=Data-Source,valueonly,separator=; )", "%s"]
    found = []
    for commit, author, date, source, subject in plumbing.log_records(repo.cwd, [branch], fields, grep="^Data-Source:",
                                                                       first_parent=True):
        found.append(RawUpload(commit, author, date, source.strip(), subject, _added_files(repo, commit)))
    return found


def _added_files(repo: Repo, commit: str) -> list[str]:
    parent = plumbing.rev_parse(repo.cwd, f"{commit}^") or plumbing.empty_tree(repo.cwd)
    return [e.path for e in plumbing.diff_tree(repo.cwd, parent, commit, diff_filter="A")]


@dataclass(frozen=True)
class SplitPull:
    """A data/split commit the branch pulled: how many examples its manifest holds, how many in test."""

    commit: str
    pulled_in: str
    examples: int
    test: int


@dataclass(frozen=True)
class MovedExample:
    """An example whose split changed between two pulls (`from` in JSON: a Python keyword here)."""

    source_path: str
    example_id: str
    before: str
    after: str
    commit: str  # the split commit that moved it

    def as_dict(self) -> dict[str, str]:
        return {"source_path": self.source_path, "example_id": self.example_id, "from": self.before, "to": self.after,
                "commit": self.commit}


@dataclass(frozen=True)
class RemovedTestExample:
    """A test example that a later split no longer holds."""

    source_path: str
    example_id: str
    removed_in: str


@dataclass
class SplitHistory:
    branch: str
    pulls: list[SplitPull] = field(default_factory=list)  # split commits pulled, oldest first
    moved: list[MovedExample] = field(default_factory=list)  # examples whose split changed between pulls
    test_changes: list[RemovedTestExample] = field(default_factory=list)  # test examples removed between pulls

    @property
    def clean(self) -> bool:
        return not self.moved and not self.test_changes

    def as_dict(self) -> dict[str, Any]:
        """`audit split --json`: the fields and whether the split held."""
        return {"branch": self.branch, "pulls": [asdict(p) for p in self.pulls], "moved": [m.as_dict() for m in self.moved],
                "test_changes": [asdict(t) for t in self.test_changes], "clean": self.clean}


def split_history(repo: Repo, branch: str) -> SplitHistory:
    """Compare the manifests of every data/split commit `branch` pulled, in pull order."""
    require_rev(repo, branch)
    history = SplitHistory(branch)
    previous: dict[tuple[str, str], str] | None = None
    for pulled_in, commit in split_pulls(repo, branch):
        manifest = {(e.source_path, e.example_id): e.split for e in read_manifest(repo, commit)}
        history.pulls.append(SplitPull(commit, pulled_in, len(manifest), sum(1 for s in manifest.values() if s == "test")))
        if previous is not None:
            _compare(previous, manifest, commit, history)
        previous = manifest
    return history


def split_pulls(repo: Repo, branch: str) -> list[tuple[str, str]]:
    """(pulling commit, data/split commit) of every pull from a data/split branch, oldest first (one git log)."""
    fields = ["%H", "%(trailers:key=Data-From,valueonly,separator=%x1e)"]
    pulls: list[tuple[str, str]] = []
    for commit, origins in plumbing.log_records(repo.cwd, [branch], fields, grep="^Data-From: data/split", reverse=True):
        for origin in origins.split("\x1e"):
            ref, _, pulled = origin.strip().rpartition("@")
            if ref.startswith("data/split") and pulled and all(pulled != p for _, p in pulls):
                pulls.append((commit, pulled))
    return pulls


def _compare(old: dict[tuple[str, str], str], new: dict[tuple[str, str], str], commit: str, history: SplitHistory) -> None:
    for example, split in old.items():
        now = new.get(example)
        if now is not None and now != split:
            history.moved.append(MovedExample(example[0], example[1], split, now, commit))
        elif now is None and split == "test":
            history.test_changes.append(RemovedTestExample(example[0], example[1], commit))


@dataclass
class CustomerImpact:
    """One customer's releases that hold a bad upload, and its latest release."""

    affected: list[str] = field(default_factory=list)
    latest: str | None = None

    @property
    def runs_affected_model(self) -> bool:
        return self.latest in self.affected

    def as_dict(self) -> dict[str, Any]:
        return {"affected": list(self.affected), "latest": self.latest, "runs_affected_model": self.runs_affected_model}


@dataclass(frozen=True)
class Retrain:
    """`audit retrain`: the tags holding an upload, the customers running one, the stable branches to retrain on."""

    upload: str
    tags: list[str]
    customers: dict[str, CustomerImpact]  # only customers with an affected release
    stable_branches: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"upload": self.upload, "tags": list(self.tags),
                "customers": {c: e.as_dict() for c, e in self.customers.items()}, "stable_branches": list(self.stable_branches)}


def retrain(repo: Repo, upload: str) -> Retrain:
    """Tags whose data holds `upload`, by customer, and whether each is that customer's current release."""
    users = used_by(repo, upload)
    tags = sorted({u.name for u in users.users if u.kind in ("tag", "run")})
    customers: dict[str, CustomerImpact] = {}
    for release in list_releases(repo):
        entry = customers.setdefault(release.customer, CustomerImpact())
        entry.latest = release.tag
        if release.tag in tags:
            entry.affected.append(release.tag)
    branches = sorted({u.name for u in users.users if u.kind == "branch" and u.name.startswith("stable/")})
    return Retrain(users.commit, tags, {c: e for c, e in customers.items() if e.affected}, branches)


@dataclass(frozen=True)
class Running:
    """`audit running`: the release a customer runs (its latest), or ran `at` a date."""

    customer: str
    at: str | None
    release: Release

    def as_dict(self) -> dict[str, Any]:
        return {"customer": self.customer, "at": self.at, **self.release.as_dict()}


def running(repo: Repo, customer: str, at: str | None = None) -> Running:
    """The customer's latest release, or the latest one created on or before `at` (ISO date or time)."""
    releases = list_releases(repo, customer)
    if at is not None:
        releases = [r for r in releases if r.date[: len(at)] <= at]
    if not releases:
        when = f" on or before {at}" if at else ""
        raise BranchmlError(f"no release of {customer!r}{when}", hint="list them with `branchml release list`")
    return Running(customer, at, releases[-1])
