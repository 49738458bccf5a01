"""branchml: a whole ML project in one Git repository.

The public Python API is `branchml.api` (described in docs/api.md), re-exported here lazily:
`branchml.open_repo(...)` imports it on first use, so `import branchml` itself loads nothing more
(Git starts `branchml filter-process`, which lives in this package, on every command).
"""

from __future__ import annotations

import importlib
from typing import Any

from branchml.version import __version__

_API = (
    "ABReport", "BranchmlError", "CheckFailed", "CheckOptions", "Credentials", "DoctorReport", "ExitCode",
    "FetchReport", "FsckProblem", "FsckReport", "GetResult", "LabelsAdded", "Lineage", "ListedRemote", "METRICS",
    "MigrationReport", "MissingFile", "RULES_PATH", "RefDiff", "RemoteVerification", "Repo", "RerunPlan",
    "RerunResult", "RunInfo", "RunRecord", "SplitHistory", "Status", "StoreStats", "Story", "TreeFile", "Usage",
    "ab_report", "add_data", "add_labels", "add_remote", "build_demo", "cat", "check_monitor", "check_summary",
    "clean_data", "clone", "commit_check_report", "committed_remote", "create_branch", "credentials_path",
    "diff_refs", "doctor", "export_history", "export_mlflow", "fetch", "fetch_and_write", "fsck", "fsck_total",
    "gateway_credentials", "gc", "gc_remote", "get_files", "get_release", "git_remote_names", "import_history",
    "import_queries", "init", "install", "install_global", "leakage", "lineage", "list_branches", "list_files",
    "list_releases", "list_remotes", "list_runs", "load_remotes", "materialize", "materialize_all", "migrate_remote",
    "monitor_env", "needs_consent", "open_repo", "parse_since", "plot_ab_report", "pull_data", "push", "ref_names",
    "remove_remote", "require_store", "rerun", "rerun_plan", "retrain_affected", "rooted_patterns", "rules_to_trust",
    "run", "run_hook", "run_merge_driver", "running_release", "scaffold_rules", "serve_gateway", "serve_model",
    "serve_ui", "show", "skip_smudge", "split_data", "split_history", "split_remote_and_refs", "split_view", "stats",
    "status", "story", "switch", "tag_records", "tag_summaries", "textconv", "track", "trust_remote", "trust_rules",
    "untrack", "uploads", "used_by", "verify", "verify_all", "verify_remote", "watch_monitor",
)
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module("branchml.api"), name)
    raise AttributeError(f"module 'branchml' has no attribute {name!r}")
