"""`branchml runs`: the run records of the tracking branch, in the order a reader asks for."""

from __future__ import annotations

from branchml.repo import Repo
from branchml.runs.settings import run_settings
from branchml.runs.tracking import RunRecord, read_records


def list_runs(repo: Repo, branch: str | None = None, *, sort_by: str | None = None, ascending: bool = False) -> list[RunRecord]:
    """The records on `branch` (default: the tracking branch of [run]), oldest first; with `sort_by`, by
    that metric (highest first unless `ascending`), records without it last in start order."""
    records = sorted(read_records(repo, branch or run_settings(repo).tracking_branch), key=lambda r: r.started)
    if not sort_by:
        return records
    have = sorted((r for r in records if sort_by in r.metrics), key=lambda r: r.metrics[sort_by], reverse=not ascending)
    return have + [r for r in records if sort_by not in r.metrics]
