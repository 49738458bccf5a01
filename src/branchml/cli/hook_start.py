"""`branchml hook NAME ARGS...`, which Git starts for every commit (pre-commit, commit-msg), push and
checkout. It loads the hook dispatcher and the repository only; the handlers load their topic, and
the remotes' fetcher loads when a store first lacks something (a checkout whose content is all
local never loads it; the commit hooks never open a store)."""

from __future__ import annotations

import importlib
from typing import Any

from branchml.crash import guarded
from branchml.git.hooks import run_hook
from branchml.git.rss import log_peak_rss
from branchml.repo import FetcherOnFirstMiss, Repo, use_fetcher

FETCHER = "branchml.remote.ondemand"  # loaded by name, on the first miss


def remote_fetcher(repo: Repo) -> Any:  # a store.Fetcher, or None without remotes
    """remote/ondemand.py's fetcher, its module loaded when a store first lacks something."""
    return importlib.import_module(FETCHER).make_fetcher(repo)


def main(args: list[str]) -> int:
    """Refusals print plainly (no rich: hooks must start fast)."""
    name, rest = args[0], args[1:]
    use_fetcher(lambda repo: FetcherOnFirstMiss(remote_fetcher, repo))
    try:
        return guarded(f"hook {name}", lambda: run_hook(Repo.find(), name, rest))
    finally:
        log_peak_rss()  # bench/ measures hooks' memory too
