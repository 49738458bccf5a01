"""`branchml filter-process`, which Git starts once per command that touches tracked files: it loads
the filter, the store and the remotes' fetchers, and nothing of click or the hooks."""

from __future__ import annotations

import os

from branchml.crash import report_crash
from branchml.git.filter import run_filter_process
from branchml.remote.ondemand import make_fetcher
from branchml.remote.prefetch import prefetch_tree
from branchml.repo import Repo, use_fetcher


def open_repo() -> Repo:
    """The repository Git runs the filter in."""
    return Repo.find(os.getcwd())


def main(args: list[str]) -> int:
    use_fetcher(make_fetcher)  # what a checkout lacks comes from the blob remotes
    return run_filter_process(open_repo, report_crash, prefetch_tree)
