"""The `[run]` table of branchml.toml: the files `branchml run` reads after training, its extra
steps, and the branch its records are tracked on (docs/runs.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from branchml import config
from branchml.repo import Repo


@dataclass(frozen=True)
class RunSettings:
    metrics: str  # the JSON file of metrics the training writes (name -> number)
    params: str  # the JSON file of parameters (an object)
    steps: list[str | list[str]]  # commands run after the training command, in the branch's own tree
    tracking_branch: str  # where `tracking/runs/<tag>.json` records are committed
    task: str  # the kind of model, for the model card

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> RunSettings:
        """From loaded settings (`config.load` fills every key from the defaults, types checked)."""
        table = cfg["run"]
        return cls(table["metrics"], table["params"], list(table["steps"]), table["tracking_branch"], table["task"])


def run_settings(repo: Repo) -> RunSettings:
    """[run] of this work tree's branchml.toml (plus local.toml)."""
    return RunSettings.from_config(config.load(repo.root, repo.store_dir))
