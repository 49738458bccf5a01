"""The drift baseline: reference statistics of the training features, written with the model.

`branchml run` calls `write_for_run` after the training command: when `[monitor] data` names the
training file (CSV, JSON lines or Parquet, in the work tree), the declared features are summarised
into `[monitor] baseline` (default `models/baseline.json`) and committed and tagged with the model.
Monitoring checks then compare production windows with the baseline of the very tag that served
them, without re-reading raw data, and every window is binned the same way (bins come from here).

Per numeric feature: count, missing, min/max/mean/std, tail quantiles (outliers), decile bin edges
with the reference counts per bin (PSI), and a seeded sample of at most `[monitor] sample` values
(KS, Wasserstein). Per categorical feature: the frequency of each category. The format is
`BASELINE_FORMAT` (docs/formats.md, "Drift baseline").
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from branchml.data.rows import UnreadableFile, read_row_file
from branchml.errors import BranchmlError
from branchml.files import write_atomic
from branchml.settings import MonitorSettings

BASELINE_FORMAT = 1
TAIL_QUANTILES = (0.001, 0.01, 0.99, 0.999)
SAMPLE_SEED = 0  # the same training data always gives the same baseline file


@dataclass
class Column:
    """One column of the training file: its name and values in row order (None: missing)."""

    name: str
    values: list[Any] = field(default_factory=list)


def write_for_run(root: Path, settings: MonitorSettings, tag: str) -> str | None:
    """Write the baseline of `[monitor] data` into the work tree; returns its path (None: not configured)."""
    if not settings.data:
        return None
    path = root / settings.data
    if not path.is_file():
        raise BranchmlError(f"[monitor] data = {settings.data!r}: no such file after training",
                            hint="name the training file (CSV, JSON lines, Parquet) in branchml.toml, or remove [monitor] data")
    baseline = compute(read_columns(path, settings.data), settings, tag)
    out = root / settings.baseline
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, (json.dumps(baseline, sort_keys=True, indent=2) + "\n").encode())
    return settings.baseline


def read_columns(path: Path, name: str) -> dict[str, Column]:
    """Every column of a row file; rows that do not parse are an error naming the file and row."""
    try:
        rows = read_row_file(name, path.read_bytes()).rows
    except UnreadableFile as exc:
        raise BranchmlError(f"{name}: {exc}", hint="[monitor] data must be CSV, JSON lines or Parquet") from exc
    columns: dict[str, Column] = {}
    for number, row in enumerate(rows):
        if row.error or not isinstance(row.value, dict):
            raise BranchmlError(f"{name}: row {row.number}: {row.error or 'not an object'}", hint="fix the training file")
        for key, value in row.value.items():
            columns.setdefault(key, Column(key, [None] * number)).values.append(value)
        for column in columns.values():
            if len(column.values) < number + 1:
                column.values.append(None)  # a JSON line without that key
    return columns


def compute(columns: dict[str, Column], settings: MonitorSettings, tag: str) -> dict[str, Any]:
    """The baseline document of `columns` (see the module docstring)."""
    names = list(settings.features) or [c for c in columns if c != settings.target]
    missing = [n for n in names + ([settings.target] if settings.target else []) if n not in columns]
    if missing:
        raise BranchmlError(f"{settings.data}: no column {', '.join(map(repr, missing))} (columns: {', '.join(columns)})",
                            hint="fix [monitor] features / target in branchml.toml")
    rows = len(next(iter(columns.values())).values) if columns else 0
    target = summarise(columns[settings.target], settings) if settings.target else None
    return {"format": BASELINE_FORMAT, "tag": tag, "data": settings.data, "rows": rows,
            "features": {n: summarise(columns[n], settings) for n in names},
            "target": None if target is None else {"name": settings.target, **target}}


def summarise(column: Column, settings: MonitorSettings) -> dict[str, Any]:
    present = [v for v in column.values if not is_missing(v)]
    numbers = as_numbers(present)
    if column.name in settings.categorical or numbers is None:
        return _categorical(column, present)
    return _numeric(column, numbers, settings)


def is_missing(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def as_numbers(values: list[Any]) -> list[float] | None:
    """The values as floats, or None when one of them is not a number (then the column is categorical)."""
    out = []
    for value in values:
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            out.append(float(value))
            continue
        try:
            out.append(float(str(value)))
        except ValueError:
            return None
    return [v for v in out if not math.isnan(v)]


def _categorical(column: Column, present: list[Any]) -> dict[str, Any]:
    frequencies: dict[str, int] = {}
    for value in present:
        frequencies[str(value)] = frequencies.get(str(value), 0) + 1
    return {"kind": "categorical", "count": len(present), "missing": len(column.values) - len(present),
            "frequencies": dict(sorted(frequencies.items()))}


def _numeric(column: Column, numbers: list[float], settings: MonitorSettings) -> dict[str, Any]:
    import numpy as np  # optional extra `monitor`: heavy, only needed when a baseline is configured

    values = np.asarray(numbers, dtype=float)
    if values.size == 0:
        return {"kind": "numeric", "count": 0, "missing": len(column.values)}
    edges = np.unique(np.quantile(values, np.linspace(0, 1, settings.bins + 1)[1:-1]))
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=edges.size + 1)
    rng = np.random.default_rng(SAMPLE_SEED)
    sample = values if values.size <= settings.sample else rng.choice(values, settings.sample, replace=False)
    return {"kind": "numeric", "count": int(values.size), "missing": len(column.values) - int(values.size),
            "min": float(values.min()), "max": float(values.max()), "mean": float(values.mean()),
            "std": float(values.std()), "quantiles": {str(q): float(np.quantile(values, q)) for q in TAIL_QUANTILES},
            "bin_edges": [float(e) for e in edges], "bin_counts": [int(c) for c in counts],
            "sample": sorted(float(v) for v in sample)}
