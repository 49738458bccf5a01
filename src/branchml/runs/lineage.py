"""Data lineage of a run's commit, as `branchml.data.lineage` tells it (pulls back to each upload)."""

from __future__ import annotations

from branchml.data.lineage import lineage


def data_lineage(repo, rev: str) -> dict:
    return lineage(repo, rev)
