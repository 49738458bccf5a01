"""An A/B report as a picture (PNG, SVG, PDF: matplotlib picks the format from the suffix).

One bar per arm (variant and tag) with its confidence interval, and one point per experiment and
per change of the primary tag with the interval of its difference: what a person would rather
look at than a table. matplotlib is an optional extra (`plot`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from branchml.errors import BranchmlError
from branchml.experiments.report import Report

if TYPE_CHECKING:
    from matplotlib.axes import Axes

FORMATS = {".png", ".svg", ".pdf"}


def plot(result: Report, path: Path) -> Path:
    if path.suffix.lower() not in FORMATS:
        raise BranchmlError(f"{path}: cannot tell the picture format", hint="end the name in .png, .svg or .pdf")
    try:
        import matplotlib  # heavy, optional (the `plot` extra)

        matplotlib.use("Agg")  # no display: write files only
        from matplotlib import pyplot
    except ModuleNotFoundError as exc:
        raise BranchmlError(f"plotting needs {exc.name}", hint="pip install 'branchml[plot]'") from exc
    figure, (left, right) = pyplot.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    _arms(left, result)
    _differences(right, result)
    figure.suptitle(f"monitor/{result.env}: {result.metric} ({result.confidence:.0%} intervals)")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    pyplot.close(figure)
    return path


def _arms(axes: Axes, result: Report) -> None:
    shown = [a for a in result.arms if a.estimate is not None]
    names = [f"{a.tag}\n{a.variant}" for a in shown]
    values = [a.estimate.value for a in shown if a.estimate]
    errors = [[a.estimate.value - a.estimate.low for a in shown if a.estimate],
              [a.estimate.high - a.estimate.value for a in shown if a.estimate]]
    axes.bar(names, values, yerr=errors, capsize=4, color="#4c78a8")
    axes.set_ylabel(result.metric)
    axes.set_title("per tag and variant")


def _differences(axes: Axes, result: Report) -> None:
    rows = [(f"{e.kind}: {e.candidate} vs {e.reference}", e.comparison) for e in result.experiments if e.comparison]
    rows += [(f"change: {c.after} after {c.before}", c.comparison) for c in result.changes if c.comparison]
    for y, (_name, comparison) in enumerate(rows):
        assert comparison is not None
        axes.errorbar([comparison.difference], [y], capsize=4, fmt="o", color="#e45756",
                      xerr=[[comparison.difference - comparison.low], [comparison.high - comparison.difference]])
    axes.axvline(0, color="grey", linewidth=1)
    axes.set_yticks(range(len(rows)), [name for name, _ in rows])
    axes.set_xlabel(f"difference in {result.metric} (candidate - reference)")
    axes.set_title("experiments and changes")
