"""The public Python API: what `import branchml` offers (docs/api.md). The CLI calls the same functions.

Every function takes a `Repo` (from :func:`open_repo`) first; errors are `BranchmlError` subclasses
whose `exit_code` is an `ExitCode`. The names are the library's own functions and report types.

Loaded lazily, name by name: `api.lineage` imports `branchml.data.lineage` on first use, so a
command pays for the modules it calls, not for the whole library (the CLI imports this module for
every command). Type checkers read the imports under TYPE_CHECKING below; `_WHERE` says the same
for the interpreter, and tests/test_architecture.py checks that they agree. A name from an
optional extra (serving, the dashboard, the gateway) that is not installed raises a BranchmlError
naming the extra.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from branchml.errors import BranchmlError, CheckFailed, ExitCode
from branchml.version import __version__

if TYPE_CHECKING:
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
    from branchml.experiments.arms import METRICS
    from branchml.experiments.plot import plot as plot_ab_report
    from branchml.experiments.report import Report as ABReport
    from branchml.fs.get import GetResult
    from branchml.fs.get import get as get_files
    from branchml.gateway.credentials import Credentials, credentials_path
    from branchml.gateway.credentials import load_or_create as gateway_credentials
    from branchml.gateway.server import serve as serve_gateway
    from branchml.git.hooks import run_hook
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
    from branchml.remote.settings import load_remotes, needs_consent
    from branchml.repo import Repo
    from branchml.roles.branches import create_branch, list_branches
    from branchml.runs.listing import list_runs
    from branchml.runs.mlflow_export import export as export_mlflow
    from branchml.runs.release import list_releases
    from branchml.runs.run import run
    from branchml.runs.show import RunInfo, TreeFile
    from branchml.runs.tracking import RunRecord
    from branchml.serve.launch import serve_model
    from branchml.ui.server import serve as serve_ui
    from branchml.workflows.clone import clone
    from branchml.workflows.commitchecks import verify, verify_all
    from branchml.workflows.doctor import DoctorReport
    from branchml.workflows.doctor import run_doctor as doctor
    from branchml.workflows.fsck import FsckProblem, FsckReport, require_store
    from branchml.workflows.fsck import run_fsck as fsck
    from branchml.workflows.gc import run_gc as gc
    from branchml.workflows.joined import (
        ab_report,
        cat,
        fetch_and_write,
        fsck_total,
        get_release,
        open_repo,
        ref_names,
        show,
    )
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

# name -> (module, attribute): what `from <module> import <attribute> as <name>` above imports
_WHERE: dict[str, tuple[str, str]] = {
    "ABReport": ("branchml.experiments.report", "Report"),
    "CheckOptions": ("branchml.monitor.check", "CheckOptions"),
    "Credentials": ("branchml.gateway.credentials", "Credentials"),
    "DoctorReport": ("branchml.workflows.doctor", "DoctorReport"),
    "FetchReport": ("branchml.remote.download", "FetchReport"),
    "FsckProblem": ("branchml.workflows.fsck", "FsckProblem"),
    "FsckReport": ("branchml.workflows.fsck", "FsckReport"),
    "GetResult": ("branchml.fs.get", "GetResult"),
    "LabelsAdded": ("branchml.monitor.labels", "LabelsAdded"),
    "Lineage": ("branchml.data.lineage", "Lineage"),
    "ListedRemote": ("branchml.remote.api", "ListedRemote"),
    "METRICS": ("branchml.experiments.arms", "METRICS"),
    "MigrationReport": ("branchml.migrate.rewrite", "Report"),
    "MissingFile": ("branchml.remote.api", "MissingFile"),
    "RULES_PATH": ("branchml.monitor.scaffold", "RULES_PATH"),
    "RefDiff": ("branchml.audit.refdiff", "RefDiff"),
    "RemoteVerification": ("branchml.remote.api", "RemoteVerification"),
    "Repo": ("branchml.repo", "Repo"),
    "RerunPlan": ("branchml.audit.rerun", "RerunPlan"),
    "RerunResult": ("branchml.audit.rerun", "RerunResult"),
    "RunInfo": ("branchml.runs.show", "RunInfo"),
    "RunRecord": ("branchml.runs.tracking", "RunRecord"),
    "SplitHistory": ("branchml.audit.questions", "SplitHistory"),
    "Status": ("branchml.workflows.status", "Status"),
    "StoreStats": ("branchml.workflows.stats", "StoreStats"),
    "Story": ("branchml.audit.why", "Story"),
    "TreeFile": ("branchml.runs.show", "TreeFile"),
    "Usage": ("branchml.data.lineage", "Usage"),
    "ab_report": ("branchml.workflows.joined", "ab_report"),
    "add_data": ("branchml.data.add", "add"),
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

__all__ = [  # the names above, and the four imported eagerly (test_architecture checks the list)
    "ABReport", "BranchmlError", "CheckFailed", "CheckOptions", "Credentials", "DoctorReport", "ExitCode",
    "FetchReport", "FsckProblem", "FsckReport", "GetResult", "LabelsAdded", "Lineage", "ListedRemote", "METRICS",
    "MigrationReport", "MissingFile", "RULES_PATH", "RefDiff", "RemoteVerification", "Repo", "RerunPlan",
    "RerunResult", "RunInfo", "RunRecord", "SplitHistory", "Status", "StoreStats", "Story", "TreeFile", "Usage",
    "__version__", "ab_report", "add_data", "add_labels", "add_remote", "build_demo", "cat", "check_monitor",
    "check_summary", "clean_data", "clone", "commit_check_report", "committed_remote", "create_branch",
    "credentials_path", "diff_refs", "doctor", "export_history", "export_mlflow", "fetch", "fetch_and_write", "fsck",
    "fsck_total", "gateway_credentials", "gc", "gc_remote", "get_files", "get_release", "git_remote_names",
    "import_history", "import_queries", "init", "install", "install_global", "leakage", "lineage", "list_branches",
    "list_files", "list_releases", "list_remotes", "list_runs", "load_remotes", "materialize", "materialize_all",
    "migrate_remote", "monitor_env", "needs_consent", "open_repo", "parse_since", "plot_ab_report", "pull_data",
    "push", "ref_names", "remove_remote", "require_store", "rerun", "rerun_plan", "retrain_affected",
    "rooted_patterns", "rules_to_trust", "run", "run_hook", "run_merge_driver", "running_release", "scaffold_rules",
    "serve_gateway", "serve_model", "serve_ui", "show", "skip_smudge", "split_data", "split_history",
    "split_remote_and_refs", "split_view", "stats", "status", "story", "switch", "tag_records", "tag_summaries",
    "textconv", "track", "trust_remote", "trust_rules", "untrack", "uploads", "used_by", "verify", "verify_all",
    "verify_remote", "watch_monitor",
]


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
