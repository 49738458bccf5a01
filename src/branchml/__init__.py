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
    "ABReport", "BranchmlError", "CheckFailed", "CheckOptions", "DoctorReport", "ExitCode", "FsckReport", "RemoteVerification", "Repo", "RunRecord", "Status", "StoreStats",
    "ab_report", "add_data", "check_monitor", "clean_data", "clone", "commit_check_report", "create_branch", "doctor", "fetch", "fsck", "gc", "get_release", "init", "install",
    "leakage", "lineage", "list_branches", "list_files", "list_releases", "list_runs", "migrate_remote", "open_repo", "pull_data",
    "push", "run",
    "show", "split_data", "stats", "status", "track", "untrack", "used_by", "verify", "verify_all", "verify_remote",
)
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module("branchml.api"), name)
    raise AttributeError(f"module 'branchml' has no attribute {name!r}")
