"""`branchml add`: stage files as `git add -A` would, cleaning tracked files without Git's pipe
(git/add.py has the how and why; docs/add.md the measurements)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from branchml.git import add
from branchml.git.add import AddResult
from branchml.git.filter import store_settings
from branchml.repo import Repo


def add_files(repo: Repo, paths: Sequence[str] = (), cwd: Path | None = None) -> AddResult:
    """Stage `paths` (pathspecs relative to `cwd`, default the whole work tree) like `git add -A`:
    the same index and commit, with tracked large files read and stored by branchml directly."""
    root = repo.work_tree
    settings = store_settings(root)  # the filter's own reading of [store]: same inline rule
    return add.add(root, repo.store, list(paths), cwd or Path.cwd(), settings.inline_below)
