"""The public Python API: what `import branchml` offers (docs/api.md). The CLI calls the same functions.

Every function takes a `Repo` (from :func:`open_repo`) first; errors are `BranchmlError` subclasses
whose `exit_code` is an `ExitCode`. Names are re-exported lazily by `branchml/__init__.py`, so
`import branchml` stays cheap (Git starts the filter, which lives in this package, on every command).

The names are the library's own functions, re-exported; the few functions defined here only join
two of them (a report and the repository it needs). Servers of optional extras load on call.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from branchml.audit.questions import SplitHistory, split_history, uploads
from branchml.audit.questions import retrain as retrain_affected
from branchml.audit.questions import running as running_release
from branchml.audit.refdiff import RefDiff, diff_refs
from branchml.audit.rerun import RerunPlan, RerunResult, rerun
from branchml.audit.rerun import plan as rerun_plan
from branchml.audit.textconv import textconv
from branchml.audit.why import Story
from branchml.audit.why import why as story
from branchml.checkout import materialize_matching as materialize
from branchml.config import skip_smudge
from branchml.data.add import add as add_data
from branchml.data.clean import clean as clean_data
from branchml.data.lineage import Lineage, Usage, lineage, used_by
from branchml.data.pull import pull as pull_data
from branchml.data.split import leakage
from branchml.data.split import split as split_data
from branchml.data.split import view as split_view
from branchml.demo.build import build as build_demo
from branchml.errors import BranchmlError, CheckFailed, ExitCode
from branchml.experiments.arms import METRICS
from branchml.experiments.plot import plot as plot_ab_report
from branchml.experiments.report import Report as ABReport
from branchml.experiments.report import report as _ab_report
from branchml.fs.get import GetResult
from branchml.fs.get import get as get_files
from branchml.gateway.credentials import Credentials, credentials_path
from branchml.gateway.credentials import load_or_create as gateway_credentials
from branchml.git.hooks import run_hook
from branchml.git.plumbing import ref_rows
from branchml.git.porcelain import remote_names as git_remote_names
from branchml.merge.driver import run as run_merge_driver
from branchml.migrate.api import export as export_history
from branchml.migrate.api import import_history
from branchml.migrate.rewrite import Report as MigrationReport
from branchml.monitor.check import CheckOptions
from branchml.monitor.check import check as check_monitor
from branchml.monitor.imports import import_queries
from branchml.monitor.labels import LabelsAdded, tag_records, tag_summaries
from branchml.monitor.labels import label_file as add_labels
from branchml.monitor.query import parse_since
from branchml.monitor.reports import commit_report as commit_check_report
from branchml.monitor.reports import summary as check_summary
from branchml.monitor.rules import current_env as monitor_env
from branchml.monitor.rules import rules_to_trust, scaffold_rules
from branchml.monitor.rules import trust as trust_rules
from branchml.monitor.scaffold import RULES_PATH
from branchml.monitor.watch import watch as watch_monitor
from branchml.remote.api import (
    ListedRemote,
    MissingFile,
    RemoteVerification,
    add_remote,
    committed_remote,
    fetch,
    list_remotes,
    push,
    remove_remote,
    split_remote_and_refs,
    trust_remote,
)
from branchml.remote.api import gc as gc_remote
from branchml.remote.api import verify as verify_remote
from branchml.remote.download import FetchReport
from branchml.remote.migration import migrate as migrate_remote
from branchml.remote.ondemand import make_fetcher
from branchml.remote.settings import load_remotes, needs_consent
from branchml.repo import Repo, use_fetcher
from branchml.roles.branches import create_branch, list_branches
from branchml.runs.listing import list_runs
from branchml.runs.mlflow_export import export as export_mlflow
from branchml.runs.release import get as _get_release
from branchml.runs.release import list_releases, repo_for
from branchml.runs.run import run
from branchml.runs.show import RunInfo, TreeFile
from branchml.runs.show import show as _show
from branchml.runs.tracking import RunRecord
from branchml.serve.split import Router, parse_canary
from branchml.store.pointer import parse_pointer
from branchml.version import __version__
from branchml.workflows.clone import clone
from branchml.workflows.commitchecks import verify, verify_all
from branchml.workflows.doctor import DoctorReport
from branchml.workflows.doctor import run_doctor as doctor
from branchml.workflows.fsck import FsckProblem, FsckReport, require_store
from branchml.workflows.fsck import run_fsck as fsck
from branchml.workflows.gc import run_gc as gc
from branchml.workflows.listing import list_files
from branchml.workflows.setup import (
    init,
    install,
    install_global,
    materialize_all,
    track,
    untrack,
)
from branchml.workflows.setup import rooted as rooted_patterns
from branchml.workflows.stats import StoreStats
from branchml.workflows.stats import store_stats as stats
from branchml.workflows.status import Status, status
from branchml.workflows.switch import switch

__all__ = [
    "ABReport", "BranchmlError", "CheckFailed", "CheckOptions", "Credentials", "DoctorReport", "ExitCode", "FetchReport", "FsckProblem", "FsckReport", "GetResult",
    "LabelsAdded", "Lineage", "ListedRemote", "METRICS", "MigrationReport", "MissingFile", "RULES_PATH", "RefDiff", "RemoteVerification", "Repo", "RerunPlan",
    "RerunResult", "RunInfo", "RunRecord", "SplitHistory", "Status", "StoreStats", "Story", "TreeFile", "Usage", "__version__",
    "ab_report", "add_data", "add_labels", "add_remote", "build_demo", "cat", "check_monitor", "check_summary", "clean_data", "clone",
    "commit_check_report", "committed_remote", "create_branch", "credentials_path", "diff_refs", "doctor", "export_history",
    "export_mlflow", "fetch", "fetch_and_write", "fsck", "fsck_total", "gateway_credentials", "gc", "gc_remote", "get_files",
    "get_release", "git_remote_names", "import_history", "import_queries", "init", "install", "install_global", "leakage",
    "lineage", "list_branches", "list_files", "list_releases", "list_remotes", "list_runs", "load_remotes", "materialize",
    "materialize_all", "migrate_remote", "monitor_env", "needs_consent", "open_repo", "parse_since", "plot_ab_report",
    "pull_data", "push", "ref_names", "remove_remote", "require_store", "rerun", "rerun_plan", "retrain_affected",
    "rooted_patterns", "rules_to_trust", "run", "run_hook", "run_merge_driver", "running_release", "scaffold_rules",
    "serve_gateway", "serve_model", "serve_ui", "show", "skip_smudge", "split_data", "split_history", "split_remote_and_refs",
    "split_view", "stats", "status", "story", "switch", "tag_records", "tag_summaries", "textconv", "track", "trust_remote",
    "trust_rules", "untrack", "uploads", "used_by", "verify", "verify_all", "verify_remote", "watch_monitor",
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


def show(repo: Repo, tag: str, *, monitor: bool = False, since: str | None = None) -> RunInfo:
    """Where `tag` came from (code, data lineage, metrics, files); with `monitor`, its production logs
    per monitor/<env> branch (records newer than `since`: 7d, 12h or an ISO date)."""
    info = _show(repo, tag)
    if monitor:
        info.monitor = tag_summaries(repo.cwd, tag, since)
    return info


def get_release(repo: Repo | None, customer: str, dest: Path, *, tag: str | None = None, remote: str | None = None,
                force: bool = False) -> dict[str, Any]:
    """Write `customer`'s latest release (or `tag`) into `dest`. `repo` None: the repository here, or,
    with a `remote` URL that is not one of its Git remotes (e.g. in an empty folder), a cache clone of it."""
    if repo is None or (remote is not None and remote not in git_remote_names(repo.cwd)):
        repo, remote = repo_for(remote)
    return _get_release(repo, customer, dest, tag=tag, remote=remote, force=force)


def fetch_and_write(repo: Repo, refs: list[str], include: list[str], remote: str | None = None,
                    advance: Callable[[int], None] = lambda n: None) -> tuple[FetchReport, list[str]]:
    """`branchml fetch`: download what `refs` (default HEAD) need; for this checkout, also write the
    files it holds as pointers (BRANCHML_SKIP_SMUDGE=1 checkouts). The fetch report and the paths written."""
    report = fetch(repo, refs, include, remote, advance)
    written = materialize(repo, include) if repo.root is not None and set(refs) <= {"HEAD"} else []
    return report, written


def fsck_total(repo: Repo) -> int:
    """Bytes `fsck --read-data` reads: the progress bar's end."""
    require_store(repo)
    return int(repo.store.stats()["chunk_bytes"])


def cat(repo: Repo, pointer_file: BinaryIO, out: BinaryIO) -> None:
    """Write the content a pointer (read from `pointer_file`) refers to, verified as a whole before
    the first byte goes out (a terminal or pipe cannot take bytes back)."""
    name = getattr(pointer_file, "name", "<stdin>")
    pointer = parse_pointer(pointer_file.read(201), name)
    require_store(repo)
    repo.store.verify_file(pointer, name)
    for data in repo.store.iter_file(pointer, name):
        out.write(data)


def ref_names(*patterns: str) -> list[str]:
    """Short names of the refs under `patterns` in the repository here (shell completion)."""
    return [name for (name,) in ref_rows(None, patterns, ["refname:short"])]


def serve_model(repo: Repo, tag: str, *, host: str = "127.0.0.1", port: int = 8080, canaries: tuple[str, ...] = (),
                shadows: tuple[str, ...] = (), workers: int = 1, **options: Any) -> None:
    """Serve `tag` (canaries "TAG=PCT%", shadow tags) with `workers` processes on one port until
    interrupted; `options`: ServeOptions' fields (env, log, timeout, fsync...)."""
    try:  # optional extra `serve` (fastapi, uvicorn): loaded by this call only
        from branchml.serve.app import ServeOptions
        from branchml.serve.server import serve as run_server
    except ModuleNotFoundError as exc:
        raise BranchmlError(f"serving needs {exc.name}", hint="pip install 'branchml[serve]'") from exc
    router = Router(tag, tuple(parse_canary(c) for c in canaries), tuple(shadows))
    run_server(repo, router, ServeOptions(**options), host, port, workers)


def serve_ui(repo: Repo, host: str = "127.0.0.1", port: int = 8765, *, allow_remote: bool = False,
             open_browser: bool = False) -> None:
    """The read-only dashboard of `repo` until interrupted (extra `ui`)."""
    try:
        from branchml.ui.server import (
            serve,  # optional extra `ui` (starlette, uvicorn, jinja2)
        )
    except ModuleNotFoundError as exc:
        raise BranchmlError(f"the dashboard needs the `ui` extra ({exc.name} is missing)", hint="pip install 'branchml[ui]'") from None
    serve(repo, host, port, allow_remote=allow_remote, open_browser=open_browser)


def serve_gateway(repo: Repo, host: str = "127.0.0.1", port: int = 9000, *, allow_remote: bool = False) -> None:
    """The S3-compatible endpoint of `repo` until interrupted (extra `gateway`)."""
    try:  # optional extra `gateway` (starlette, uvicorn): loaded by this call only
        from branchml.gateway.server import serve
    except ModuleNotFoundError as exc:
        raise BranchmlError(f"the gateway needs {exc.name}", hint="pip install 'branchml[gateway]'") from exc
    serve(repo, host, port, allow_remote=allow_remote)
