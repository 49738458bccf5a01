"""Data lineage of a run's commit, as `branchml.data.lineage` tells it (pulls back to each upload)."""

from __future__ import annotations

from typing import Any

from branchml.data.lineage import lineage
from branchml.repo import Repo


def data_lineage(repo: Repo, rev: str) -> dict[str, Any]:
    """The lineage as run records commit it (`RunRecord.data_lineage`, docs/formats.md)."""
    return lineage(repo, rev).as_dict()
