"""The public Python API: what `import branchml` offers (docs/api.md). The CLI calls the same functions.

Every function takes a `Repo` (from :func:`open_repo`) first; errors are `BranchmlError` subclasses
whose `exit_code` is an `ExitCode`. Names are re-exported lazily by `branchml/__init__.py`, so
`import branchml` stays cheap (Git starts the filter, which lives in this package, on every command).
"""

from __future__ import annotations

import os

from branchml.data.add import add as add_data
from branchml.data.clean import clean as clean_data
from branchml.data.lineage import lineage, used_by
from branchml.data.pull import pull as pull_data
from branchml.data.split import leakage
from branchml.data.split import split as split_data
from branchml.errors import BranchmlError, CheckFailed, ExitCode
from branchml.experiments.report import Report as ABReport
from branchml.experiments.report import report as _ab_report
from branchml.monitor.check import CheckOptions
from branchml.monitor.check import check as check_monitor
from branchml.monitor.query import parse_since
from branchml.monitor.reports import commit_report as commit_check_report
from branchml.remote.api import RemoteVerification, fetch, push
from branchml.remote.api import verify as verify_remote
from branchml.remote.migration import migrate as migrate_remote
from branchml.remote.ondemand import make_fetcher
from branchml.repo import Repo, use_fetcher
from branchml.roles.branches import create_branch, list_branches
from branchml.runs.release import get as get_release
from branchml.runs.release import list_releases
from branchml.runs.run import run
from branchml.runs.show import show
from branchml.runs.tracking import RunRecord
from branchml.runs.tracking import read_records as list_runs
from branchml.version import __version__
from branchml.workflows.clone import clone
from branchml.workflows.commitchecks import verify, verify_all
from branchml.workflows.doctor import DoctorReport
from branchml.workflows.doctor import run_doctor as doctor
from branchml.workflows.fsck import FsckReport
from branchml.workflows.fsck import run_fsck as fsck
from branchml.workflows.gc import run_gc as gc
from branchml.workflows.listing import list_files
from branchml.workflows.setup import init, install, track, untrack
from branchml.workflows.stats import StoreStats
from branchml.workflows.stats import store_stats as stats
from branchml.workflows.status import Status, status

__all__ = [
    "ABReport", "BranchmlError", "CheckFailed", "CheckOptions", "DoctorReport", "ExitCode", "FsckReport", "RemoteVerification", "Repo", "RunRecord", "Status", "StoreStats", "__version__",
    "ab_report", "add_data", "check_monitor", "clean_data", "clone", "commit_check_report", "create_branch", "doctor", "fetch", "fsck", "gc", "get_release", "init", "install",
    "leakage", "lineage", "list_branches", "list_files", "list_releases", "list_runs", "migrate_remote", "open_repo", "pull_data", "push", "run",
    "show", "split_data", "stats", "status", "track", "untrack", "used_by", "verify", "verify_all", "verify_remote",
]


def open_repo(path: str | os.PathLike[str] | None = None) -> Repo:
    """The repository around `path` (default: the current folder). Stores opened in this process
    fetch content they lack from the blob remote, as the `branchml` command's do."""
    use_fetcher(make_fetcher)
    return Repo.find(path)


def ab_report(repo: Repo, env: str, metric: str = "accuracy", since: str | None = None,
              confidence: float = 0.95) -> ABReport:
    """The online experiments of monitor/<env> (`branchml ab report`); `since`: 7d, 12h or an ISO date."""
    return _ab_report(repo.cwd, env, metric, parse_since(since), confidence)
