"""The public Python API: what `import branchml` offers (docs/api.md). The CLI calls the same functions.

Every function takes a `Repo` (from :func:`open_repo`) first; errors are `BranchmlError` subclasses
whose `exit_code` is an `ExitCode`. The names are the library's own functions and report types.

Loaded lazily, name by name: `api.lineage` imports `branchml.data.lineage` on first use, so a
command pays for the modules it calls, not for the whole library (the CLI imports this module for
every command). Type checkers read the imports under TYPE_CHECKING below; `_WHERE` says the same
for the interpreter, and tests/test_architecture.py checks that they agree. A new public name is
added in those two places; `__all__` here and `branchml`'s lazy names are derived from `_WHERE`. A name from an
optional extra (serving, the dashboard, the gateway) that is not installed raises a BranchmlError
naming the extra.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from branchml.errors import BranchmlError as BranchmlError
from branchml.errors import CheckFailed as CheckFailed
from branchml.errors import ExitCode as ExitCode
from branchml.version import __version__ as __version__

if TYPE_CHECKING:
    # What type checkers read. `from m import X as X` re-exports X (the API's `__all__` is computed, so
    # it cannot say so); a name the library spells otherwise is imported privately and assigned below.
    from branchml.audit.questions import RawUpload as RawUpload
    from branchml.audit.questions import Retrain as Retrain
    from branchml.audit.questions import Running as Running
    from branchml.audit.questions import SplitHistory as SplitHistory
    from branchml.audit.questions import retrain as _retrain_affected
    from branchml.audit.questions import running as _running_release
    from branchml.audit.questions import split_history as split_history
    from branchml.audit.questions import uploads as uploads
    from branchml.audit.refdiff import RefDiff as RefDiff
    from branchml.audit.refdiff import diff_refs as diff_refs
    from branchml.audit.rerun import RerunPlan as RerunPlan
    from branchml.audit.rerun import RerunResult as RerunResult
    from branchml.audit.rerun import plan as _rerun_plan
    from branchml.audit.rerun import rerun as rerun
    from branchml.audit.textconv import textconv as textconv
    from branchml.audit.why import Story as Story
    from branchml.audit.why import why as _story
    from branchml.checkout import materialize_matching as _materialize
    from branchml.config import skip_smudge as skip_smudge
    from branchml.data.add import add as _add_data
    from branchml.data.clean import clean as _clean_data
    from branchml.data.lineage import Lineage as Lineage
    from branchml.data.lineage import Usage as Usage
    from branchml.data.lineage import lineage as lineage
    from branchml.data.lineage import used_by as used_by
    from branchml.data.pull import pull as _pull_data
    from branchml.data.split import leakage as leakage
    from branchml.data.split import split as _split_data
    from branchml.data.split import view as _split_view
    from branchml.demo.build import DemoSummary as DemoSummary
    from branchml.demo.build import build as _build_demo
    from branchml.experiments.arms import METRICS as METRICS
    from branchml.experiments.plot import plot as _plot_ab_report
    from branchml.experiments.report import Report as _ABReport
    from branchml.fs.get import GetResult as GetResult
    from branchml.fs.get import get as _get_files
    from branchml.gateway.credentials import Credentials as Credentials
    from branchml.gateway.credentials import credentials_path as credentials_path
    from branchml.gateway.credentials import load_or_create as _gateway_credentials
    from branchml.gateway.server import serve as _serve_gateway
    from branchml.git.add import AddResult as AddResult
    from branchml.git.hooks import run_hook as run_hook
    from branchml.git.porcelain import remote_names as _git_remote_names
    from branchml.merge.driver import run as _run_merge_driver
    from branchml.migrate.api import export as _export_history
    from branchml.migrate.api import import_history as import_history
    from branchml.migrate.rewrite import Report as _MigrationReport
    from branchml.monitor.check import CheckOptions as CheckOptions
    from branchml.monitor.check import check as _check_monitor
    from branchml.monitor.checkreport import CheckReport as CheckReport
    from branchml.monitor.imports import QueriesImported as QueriesImported
    from branchml.monitor.imports import import_queries as import_queries
    from branchml.monitor.labels import LabelsAdded as LabelsAdded
    from branchml.monitor.labels import TagLogs as TagLogs
    from branchml.monitor.labels import label_file as _add_labels
    from branchml.monitor.labels import tag_records as tag_records
    from branchml.monitor.labels import tag_summaries as tag_summaries
    from branchml.monitor.query import LogSummary as LogSummary
    from branchml.monitor.query import parse_since as parse_since
    from branchml.monitor.reports import commit_report as _commit_check_report
    from branchml.monitor.reports import summary as _check_summary
    from branchml.monitor.rules import current_env as _monitor_env
    from branchml.monitor.rules import rules_to_trust as rules_to_trust
    from branchml.monitor.rules import scaffold_rules as scaffold_rules
    from branchml.monitor.rules import trust as _trust_rules
    from branchml.monitor.scaffold import RULES_PATH as RULES_PATH
    from branchml.monitor.watch import watch as _watch_monitor
    from branchml.remote.api import ListedRemote as ListedRemote
    from branchml.remote.api import MissingFile as MissingFile
    from branchml.remote.api import RemoteVerification as RemoteVerification
    from branchml.remote.api import add_remote as add_remote
    from branchml.remote.api import committed_remote as committed_remote
    from branchml.remote.api import fetch as fetch
    from branchml.remote.api import gc as _gc_remote
    from branchml.remote.api import list_remotes as list_remotes
    from branchml.remote.api import push as push
    from branchml.remote.api import remove_remote as remove_remote
    from branchml.remote.api import split_remote_and_refs as split_remote_and_refs
    from branchml.remote.api import trust_remote as trust_remote
    from branchml.remote.api import verify as _verify_remote
    from branchml.remote.download import FetchReport as FetchReport
    from branchml.remote.migration import migrate as _migrate_remote
    from branchml.remote.settings import load_remotes as load_remotes
    from branchml.remote.settings import needs_consent as needs_consent
    from branchml.repo import Repo as Repo
    from branchml.roles.branches import create_branch as create_branch
    from branchml.roles.branches import list_branches as list_branches
    from branchml.roles.rules import Violation as Violation
    from branchml.runs.listing import list_runs as list_runs
    from branchml.runs.mlflow_export import MlflowExport as MlflowExport
    from branchml.runs.mlflow_export import export as _export_mlflow
    from branchml.runs.release import Release as Release
    from branchml.runs.release import ReleaseWritten as ReleaseWritten
    from branchml.runs.release import list_releases as list_releases
    from branchml.runs.run import run as run
    from branchml.runs.show import RunInfo as RunInfo
    from branchml.runs.show import TreeFile as TreeFile
    from branchml.runs.tracking import RunRecord as RunRecord
    from branchml.serve.launch import serve_model as serve_model
    from branchml.ui.server import serve as _serve_ui
    from branchml.workflows.clone import clone as clone
    from branchml.workflows.commitchecks import verify as verify
    from branchml.workflows.commitchecks import verify_all as verify_all
    from branchml.workflows.doctor import DoctorReport as DoctorReport
    from branchml.workflows.doctor import run_doctor as _doctor
    from branchml.workflows.fsck import FsckProblem as FsckProblem
    from branchml.workflows.fsck import FsckReport as FsckReport
    from branchml.workflows.fsck import require_store as require_store
    from branchml.workflows.fsck import run_fsck as _fsck
    from branchml.workflows.gc import run_gc as _gc
    from branchml.workflows.joined import ab_report as ab_report
    from branchml.workflows.joined import cat as cat
    from branchml.workflows.joined import fetch_and_write as fetch_and_write
    from branchml.workflows.joined import fsck_total as fsck_total
    from branchml.workflows.joined import get_release as get_release
    from branchml.workflows.joined import open_repo as open_repo
    from branchml.workflows.joined import ref_names as ref_names
    from branchml.workflows.joined import show as show
    from branchml.workflows.listing import list_files as list_files
    from branchml.workflows.setup import Installed as Installed
    from branchml.workflows.setup import init as init
    from branchml.workflows.setup import install as install
    from branchml.workflows.setup import install_global as install_global
    from branchml.workflows.setup import materialize_all as materialize_all
    from branchml.workflows.setup import rooted as _rooted_patterns
    from branchml.workflows.setup import track as track
    from branchml.workflows.setup import untrack as untrack
    from branchml.workflows.stage import add_files as add_files
    from branchml.workflows.stats import StoreStats as StoreStats
    from branchml.workflows.stats import store_stats as _stats
    from branchml.workflows.status import Status as Status
    from branchml.workflows.status import status as status
    from branchml.workflows.switch import switch as switch

    ABReport = _ABReport
    MigrationReport = _MigrationReport
    add_data = _add_data
    add_labels = _add_labels
    build_demo = _build_demo
    check_monitor = _check_monitor
    check_summary = _check_summary
    clean_data = _clean_data
    commit_check_report = _commit_check_report
    doctor = _doctor
    export_history = _export_history
    export_mlflow = _export_mlflow
    fsck = _fsck
    gateway_credentials = _gateway_credentials
    gc = _gc
    gc_remote = _gc_remote
    get_files = _get_files
    git_remote_names = _git_remote_names
    materialize = _materialize
    migrate_remote = _migrate_remote
    monitor_env = _monitor_env
    plot_ab_report = _plot_ab_report
    pull_data = _pull_data
    rerun_plan = _rerun_plan
    retrain_affected = _retrain_affected
    rooted_patterns = _rooted_patterns
    run_merge_driver = _run_merge_driver
    running_release = _running_release
    serve_gateway = _serve_gateway
    serve_ui = _serve_ui
    split_data = _split_data
    split_view = _split_view
    stats = _stats
    story = _story
    trust_rules = _trust_rules
    verify_remote = _verify_remote
    watch_monitor = _watch_monitor

# name -> (module, attribute): what `from <module> import <attribute> as <name>` above imports
_WHERE: dict[str, tuple[str, str]] = {
    "ABReport": ("branchml.experiments.report", "Report"),
    "AddResult": ("branchml.git.add", "AddResult"),
    "CheckOptions": ("branchml.monitor.check", "CheckOptions"),
    "CheckReport": ("branchml.monitor.checkreport", "CheckReport"),
    "Credentials": ("branchml.gateway.credentials", "Credentials"),
    "DemoSummary": ("branchml.demo.build", "DemoSummary"),
    "DoctorReport": ("branchml.workflows.doctor", "DoctorReport"),
    "FetchReport": ("branchml.remote.download", "FetchReport"),
    "FsckProblem": ("branchml.workflows.fsck", "FsckProblem"),
    "FsckReport": ("branchml.workflows.fsck", "FsckReport"),
    "GetResult": ("branchml.fs.get", "GetResult"),
    "Installed": ("branchml.workflows.setup", "Installed"),
    "LabelsAdded": ("branchml.monitor.labels", "LabelsAdded"),
    "Lineage": ("branchml.data.lineage", "Lineage"),
    "ListedRemote": ("branchml.remote.api", "ListedRemote"),
    "LogSummary": ("branchml.monitor.query", "LogSummary"),
    "METRICS": ("branchml.experiments.arms", "METRICS"),
    "MigrationReport": ("branchml.migrate.rewrite", "Report"),
    "MissingFile": ("branchml.remote.api", "MissingFile"),
    "MlflowExport": ("branchml.runs.mlflow_export", "MlflowExport"),
    "QueriesImported": ("branchml.monitor.imports", "QueriesImported"),
    "RULES_PATH": ("branchml.monitor.scaffold", "RULES_PATH"),
    "RawUpload": ("branchml.audit.questions", "RawUpload"),
    "RefDiff": ("branchml.audit.refdiff", "RefDiff"),
    "Release": ("branchml.runs.release", "Release"),
    "ReleaseWritten": ("branchml.runs.release", "ReleaseWritten"),
    "RemoteVerification": ("branchml.remote.api", "RemoteVerification"),
    "Repo": ("branchml.repo", "Repo"),
    "RerunPlan": ("branchml.audit.rerun", "RerunPlan"),
    "RerunResult": ("branchml.audit.rerun", "RerunResult"),
    "Retrain": ("branchml.audit.questions", "Retrain"),
    "RunInfo": ("branchml.runs.show", "RunInfo"),
    "RunRecord": ("branchml.runs.tracking", "RunRecord"),
    "Running": ("branchml.audit.questions", "Running"),
    "SplitHistory": ("branchml.audit.questions", "SplitHistory"),
    "Status": ("branchml.workflows.status", "Status"),
    "StoreStats": ("branchml.workflows.stats", "StoreStats"),
    "Story": ("branchml.audit.why", "Story"),
    "TagLogs": ("branchml.monitor.labels", "TagLogs"),
    "TreeFile": ("branchml.runs.show", "TreeFile"),
    "Usage": ("branchml.data.lineage", "Usage"),
    "Violation": ("branchml.roles.rules", "Violation"),
    "ab_report": ("branchml.workflows.joined", "ab_report"),
    "add_data": ("branchml.data.add", "add"),
    "add_files": ("branchml.workflows.stage", "add_files"),
    "add_labels": ("branchml.monitor.labels", "label_file"),
    "add_remote": ("branchml.remote.api", "add_remote"),
    "build_demo": ("branchml.demo.build", "build"),
    "cat": ("branchml.workflows.joined", "cat"),
    "check_monitor": ("branchml.monitor.check", "check"),
    "check_summary": ("branchml.monitor.reports", "summary"),
    "clean_data": ("branchml.data.clean", "clean"),
    "clone": ("branchml.workflows.clone", "clone"),
    "commit_check_report": ("branchml.monitor.reports", "commit_report"),
    "committed_remote": ("branchml.remote.api", "committed_remote"),
    "create_branch": ("branchml.roles.branches", "create_branch"),
    "credentials_path": ("branchml.gateway.credentials", "credentials_path"),
    "diff_refs": ("branchml.audit.refdiff", "diff_refs"),
    "doctor": ("branchml.workflows.doctor", "run_doctor"),
    "export_history": ("branchml.migrate.api", "export"),
    "export_mlflow": ("branchml.runs.mlflow_export", "export"),
    "fetch": ("branchml.remote.api", "fetch"),
    "fetch_and_write": ("branchml.workflows.joined", "fetch_and_write"),
    "fsck": ("branchml.workflows.fsck", "run_fsck"),
    "fsck_total": ("branchml.workflows.joined", "fsck_total"),
    "gateway_credentials": ("branchml.gateway.credentials", "load_or_create"),
    "gc": ("branchml.workflows.gc", "run_gc"),
    "gc_remote": ("branchml.remote.api", "gc"),
    "get_files": ("branchml.fs.get", "get"),
    "get_release": ("branchml.workflows.joined", "get_release"),
    "git_remote_names": ("branchml.git.porcelain", "remote_names"),
    "import_history": ("branchml.migrate.api", "import_history"),
    "import_queries": ("branchml.monitor.imports", "import_queries"),
    "init": ("branchml.workflows.setup", "init"),
    "install": ("branchml.workflows.setup", "install"),
    "install_global": ("branchml.workflows.setup", "install_global"),
    "leakage": ("branchml.data.split", "leakage"),
    "lineage": ("branchml.data.lineage", "lineage"),
    "list_branches": ("branchml.roles.branches", "list_branches"),
    "list_files": ("branchml.workflows.listing", "list_files"),
    "list_releases": ("branchml.runs.release", "list_releases"),
    "list_remotes": ("branchml.remote.api", "list_remotes"),
    "list_runs": ("branchml.runs.listing", "list_runs"),
    "load_remotes": ("branchml.remote.settings", "load_remotes"),
    "materialize": ("branchml.checkout", "materialize_matching"),
    "materialize_all": ("branchml.workflows.setup", "materialize_all"),
    "migrate_remote": ("branchml.remote.migration", "migrate"),
    "monitor_env": ("branchml.monitor.rules", "current_env"),
    "needs_consent": ("branchml.remote.settings", "needs_consent"),
    "open_repo": ("branchml.workflows.joined", "open_repo"),
    "parse_since": ("branchml.monitor.query", "parse_since"),
    "plot_ab_report": ("branchml.experiments.plot", "plot"),
    "pull_data": ("branchml.data.pull", "pull"),
    "push": ("branchml.remote.api", "push"),
    "ref_names": ("branchml.workflows.joined", "ref_names"),
    "remove_remote": ("branchml.remote.api", "remove_remote"),
    "require_store": ("branchml.workflows.fsck", "require_store"),
    "rerun": ("branchml.audit.rerun", "rerun"),
    "rerun_plan": ("branchml.audit.rerun", "plan"),
    "retrain_affected": ("branchml.audit.questions", "retrain"),
    "rooted_patterns": ("branchml.workflows.setup", "rooted"),
    "rules_to_trust": ("branchml.monitor.rules", "rules_to_trust"),
    "run": ("branchml.runs.run", "run"),
    "run_hook": ("branchml.git.hooks", "run_hook"),
    "run_merge_driver": ("branchml.merge.driver", "run"),
    "running_release": ("branchml.audit.questions", "running"),
    "scaffold_rules": ("branchml.monitor.rules", "scaffold_rules"),
    "serve_gateway": ("branchml.gateway.server", "serve"),
    "serve_model": ("branchml.serve.launch", "serve_model"),
    "serve_ui": ("branchml.ui.server", "serve"),
    "show": ("branchml.workflows.joined", "show"),
    "skip_smudge": ("branchml.config", "skip_smudge"),
    "split_data": ("branchml.data.split", "split"),
    "split_history": ("branchml.audit.questions", "split_history"),
    "split_remote_and_refs": ("branchml.remote.api", "split_remote_and_refs"),
    "split_view": ("branchml.data.split", "view"),
    "stats": ("branchml.workflows.stats", "store_stats"),
    "status": ("branchml.workflows.status", "status"),
    "story": ("branchml.audit.why", "why"),
    "switch": ("branchml.workflows.switch", "switch"),
    "tag_records": ("branchml.monitor.labels", "tag_records"),
    "tag_summaries": ("branchml.monitor.labels", "tag_summaries"),
    "textconv": ("branchml.audit.textconv", "textconv"),
    "track": ("branchml.workflows.setup", "track"),
    "trust_remote": ("branchml.remote.api", "trust_remote"),
    "trust_rules": ("branchml.monitor.rules", "trust"),
    "untrack": ("branchml.workflows.setup", "untrack"),
    "uploads": ("branchml.audit.questions", "uploads"),
    "used_by": ("branchml.data.lineage", "used_by"),
    "verify": ("branchml.workflows.commitchecks", "verify"),
    "verify_all": ("branchml.workflows.commitchecks", "verify_all"),
    "verify_remote": ("branchml.remote.api", "verify"),
    "watch_monitor": ("branchml.monitor.watch", "watch"),
}

# modules that need an optional extra at import time, and the extra
_EXTRAS = {"branchml.serve.launch": "serve", "branchml.ui.server": "ui", "branchml.gateway.server": "gateway"}

# `from branchml.api import *` and docs/api.md: the lazy names and the four imported eagerly. Derived, so a
# name is added in two places only (the TYPE_CHECKING import and `_WHERE`). Type checkers cannot read a
# computed `__all__`: they read the `import X as X` re-exports (and the assignments) above instead.
if not TYPE_CHECKING:
    __all__ = ["BranchmlError", "CheckFailed", "ExitCode", "__version__", *_WHERE]


def __getattr__(name: str) -> Any:
    """Import the module that holds `name` (once: the value is kept in this module)."""
    if name not in _WHERE:
        raise AttributeError(f"module 'branchml.api' has no attribute {name!r}")
    module, attribute = _WHERE[name]
    try:
        value = getattr(importlib.import_module(module), attribute)
    except ModuleNotFoundError as exc:
        if module not in _EXTRAS or (exc.name or "branchml").startswith("branchml"):
            raise
        extra = _EXTRAS[module]
        raise BranchmlError(f"{name} needs the `{extra}` extra ({exc.name} is missing)",
                            hint=f"pip install 'branchml[{extra}]'") from exc
    globals()[name] = value
    return value
