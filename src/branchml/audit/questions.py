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
from branchml.runs.release import list_releases


def uploads(repo: Repo, branch: str = "data/raw") -> list[dict[str, Any]]:
    """Every commit on `branch` with a `Data-Source` trailer: author, date, source and files added."""
    require_rev(repo, branch)
    fields = ["%H", "%an <%ae>", "%aI", "%(trailers:key=Data-Source,valueonly,separator=; )", "%s"]
    found = []
    for commit, author, date, source, subject in plumbing.log_records(repo.cwd, [branch], fields, grep="^Data-Source:",
                                                                       first_parent=True):
        found.append({"commit": commit, "author": author, "date": date, "source": source.strip(),
                      "subject": subject, "files": _added_files(repo, commit)})
    return found


def _added_files(repo: Repo, commit: str) -> list[str]:
    parent = plumbing.rev_parse(repo.cwd, f"{commit}^") or plumbing.empty_tree(repo.cwd)
    return [e.path for e in plumbing.diff_tree(repo.cwd, parent, commit, diff_filter="A")]


@dataclass
class SplitHistory:
    branch: str
    pulls: list[dict[str, Any]] = field(default_factory=list)  # split commits pulled, oldest first
    moved: list[dict[str, Any]] = field(default_factory=list)  # examples whose split changed between pulls
    test_changes: list[dict[str, Any]] = field(default_factory=list)  # test examples removed between pulls

    @property
    def clean(self) -> bool:
        return not self.moved and not self.test_changes

    def as_dict(self) -> dict[str, Any]:
        """`audit split --json`: the fields and whether the split held."""
        return {**asdict(self), "clean": self.clean}


def split_history(repo: Repo, branch: str) -> SplitHistory:
    """Compare the manifests of every data/split commit `branch` pulled, in pull order."""
    require_rev(repo, branch)
    history = SplitHistory(branch)
    previous: dict[tuple[str, str], str] | None = None
    for pulled_in, commit in split_pulls(repo, branch):
        manifest = {(e.source_path, e.example_id): e.split for e in read_manifest(repo, commit)}
        history.pulls.append({"commit": commit, "pulled_in": pulled_in, "examples": len(manifest),
                              "test": sum(1 for s in manifest.values() if s == "test")})
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
            history.moved.append({"source_path": example[0], "example_id": example[1], "from": split, "to": now, "commit": commit})
        elif now is None and split == "test":
            history.test_changes.append({"source_path": example[0], "example_id": example[1], "removed_in": commit})


def retrain(repo: Repo, upload: str) -> dict[str, Any]:
    """Tags whose data holds `upload`, by customer, and whether each is that customer's current release."""
    users = used_by(repo, upload)
    tags = sorted({u.name for u in users.users if u.kind in ("tag", "run")})
    customers: dict[str, dict[str, Any]] = {}
    for release in list_releases(repo):
        entry = customers.setdefault(release["customer"], {"affected": [], "latest": None})
        entry["latest"] = release["tag"]
        if release["tag"] in tags:
            entry["affected"].append(release["tag"])
    affected = {c: {**e, "runs_affected_model": e["latest"] in e["affected"]} for c, e in customers.items() if e["affected"]}
    branches = sorted({u.name for u in users.users if u.kind == "branch" and u.name.startswith("stable/")})
    return {"upload": users.commit, "tags": tags, "customers": affected, "stable_branches": branches}


def running(repo: Repo, customer: str, at: str | None = None) -> dict[str, Any]:
    """The customer's latest release, or the latest one created on or before `at` (ISO date or time)."""
    releases = list_releases(repo, customer)
    if at is not None:
        releases = [r for r in releases if r["date"][: len(at)] <= at]
    if not releases:
        when = f" on or before {at}" if at else ""
        raise BranchmlError(f"no release of {customer!r}{when}", hint="list them with `branchml release list`")
    return {"customer": customer, "at": at, **releases[-1]}
