"""`branchml filter-process`, which Git starts once per command that touches tracked files: it loads
the filter and the store, and nothing of click or the hooks. The remotes load only when a checkout
lacks content: a `git add`, a `git commit` or a `git status` never fetches, so it neither imports
them nor reads their settings (nor runs `git remote` to look for one)."""

from __future__ import annotations

import importlib
import os
import sys

from branchml.cli.hook_start import remote_fetcher
from branchml.crash import report_crash
from branchml.git.filter import run_filter_process
from branchml.repo import FetcherOnFirstMiss, Repo, use_fetcher

PREFETCH = "branchml.remote.prefetch"  # loaded by name, on the first content a checkout lacks


def prefetch_tree(repo: Repo, treeish: str, what: str, retry: str) -> None:
    """remote/prefetch.py's batch fetch of what a checkout's tree lacks, loaded when first needed."""
    importlib.import_module(PREFETCH).prefetch_tree(repo, treeish, what, retry)


def open_repo() -> Repo:
    """The repository Git runs the filter in."""
    return Repo.find(os.getcwd())


def main(args: list[str]) -> int:
    use_fetcher(lambda repo: FetcherOnFirstMiss(remote_fetcher, repo))  # as the hooks: remotes load on a miss
    code = run_filter_process(open_repo, report_crash, prefetch_tree)
    # Done: every answer is sent, the store writer has fsynced its packs and committed the index,
    # every thread has stopped. Git waits for this exit before `git add` returns, and Python's
    # teardown took 60-190 ms of it under load: unloading modules, and closing the index, which
    # checkpoints SQLite's WAL with two fsyncs. Leave the WAL to the next writer (SQLite checkpoints
    # it on its own once it grows, and reads it back like after a kill -9, which the store is built
    # for: tests/test_kill.py) and end here.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
