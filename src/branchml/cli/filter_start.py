"""`branchml filter-process`, which Git starts once per command that touches tracked files: it loads
the filter and the store, and nothing of click or the hooks. The remotes load only when a checkout
lacks content: a `git add`, a `git commit` or a `git status` never fetches, so it neither imports
them nor reads their settings (nor runs `git remote` to look for one)."""

from __future__ import annotations

import importlib
import os
import sys

from branchml.crash import report_crash
from branchml.git.filter import run_filter_process
from branchml.repo import Repo, use_fetcher

# loaded by name, on the first content a checkout lacks
ONDEMAND, PREFETCH = "branchml.remote.ondemand", "branchml.remote.prefetch"


class FetcherOnFirstMiss:
    """The store's fetcher (a `store.Fetcher`): the remotes' on-demand fetcher, built when the
    store first lacks something; without a remote it fetches nothing, and the store says what is
    missing as it does without a fetcher."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.fetcher: object = None
        self.built = False

    def __call__(self, file_oids: list[bytes], chunk_ids: list[bytes]) -> None:
        if not self.built:
            self.fetcher = importlib.import_module(ONDEMAND).make_fetcher(self.repo)
            self.built = True
        if callable(self.fetcher):
            self.fetcher(file_oids, chunk_ids)


def prefetch_tree(repo: Repo, treeish: str, what: str, retry: str) -> None:
    """remote/prefetch.py's batch fetch of what a checkout's tree lacks, loaded when first needed."""
    importlib.import_module(PREFETCH).prefetch_tree(repo, treeish, what, retry)


def open_repo() -> Repo:
    """The repository Git runs the filter in."""
    return Repo.find(os.getcwd())


def main(args: list[str]) -> int:
    use_fetcher(FetcherOnFirstMiss)  # what a checkout lacks comes from the blob remotes
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
