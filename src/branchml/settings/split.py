"""`[split]` of branchml.toml: the split `branchml data split` saved on a data/split branch (docs/data.md).

Nothing is saved before the first split, so every key may be absent; a saved split is reused by
the next one, and changing it needs --force (data/split.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from branchml.settings.checks import Check, integer, is_number, text

SPLITS = ("train", "val", "test")
RATIOS = "three numbers for train, val, test, 0 or more, that add up to 1 (train above 0), e.g. [0.8, 0.1, 0.1]"


def ratios_problem(values: Any) -> str | None:
    """What is accepted, when `values` are not three usable ratios; None when they are."""
    good = isinstance(values, list | tuple) and len(values) == len(SPLITS) and all(is_number(v) for v in values)
    good = good and all(v >= 0 for v in values) and abs(sum(values) - 1) <= 1e-6 and values[0] > 0
    return None if good else RATIOS


CHECKS: dict[str, Check] = {"ratios": ratios_problem, "seed": integer, "key": text, "source": text}


@dataclass(frozen=True)
class SplitSettings:
    """The saved split: None for what was not saved (nothing, before the first split)."""

    ratios: tuple[float, float, float] | None = None
    seed: int | None = None
    key: str | None = None  # the column naming each example; None: the example's content hash
    source: str | None = None  # the folder that was split

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> SplitSettings:
        """From loaded settings ([split] has no defaults: its keys were checked as read)."""
        table = cfg.get("split", {})
        ratios = table.get("ratios")
        return cls(None if ratios is None else (float(ratios[0]), float(ratios[1]), float(ratios[2])),
                   table.get("seed"), table.get("key") or None, table.get("source"))

    @property
    def saved(self) -> bool:
        return self != SplitSettings()

    def as_toml(self) -> dict[str, Any]:
        """The `[split]` table as committed: the keys that are set."""
        table = {"ratios": list(self.ratios) if self.ratios else None, "seed": self.seed, "source": self.source,
                 "key": self.key}
        return {k: v for k, v in table.items() if v is not None}
