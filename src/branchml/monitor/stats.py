"""Drift statistics on scipy and numpy (the `monitor` extra): no drift framework, a few known tests.

Which test runs follows Evidently's documented defaults (docs/alerts.md lists the sources):
numeric windows of at most `KS_MAX` values use the two-sample Kolmogorov-Smirnov test, larger
ones the Wasserstein distance divided by the reference's standard deviation; categorical windows
of at most `KS_MAX` values use the chi-square goodness-of-fit test, larger ones the Jensen-Shannon
distance. PSI is computed on the reference's own bins for every numeric feature.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from branchml.errors import BranchmlError

KS_MAX = 1000  # above this many values, p-values flag drifts too small to matter: use distances
PSI_EPSILON = 1e-4  # share given to an empty bin, so the logarithm stays finite
ECE_BINS = 10


@dataclass(frozen=True)
class TestResult:
    """One statistical comparison of a window with its reference."""

    test: str  # "ks", "wasserstein", "chi2", "jensen_shannon"
    statistic: float
    p_value: float | None  # None for distances


def _scipy_stats() -> Any:
    try:
        import scipy.stats  # optional extra `monitor`: heavy, loaded by checks only
    except ModuleNotFoundError as exc:
        raise BranchmlError("monitor checks need scipy and numpy", hint="pip install 'branchml[monitor]'") from exc
    return scipy.stats


def numeric_test(sample: Sequence[float], values: Sequence[float], std: float) -> TestResult:
    """KS for small windows, normalised Wasserstein distance for large ones."""
    stats = _scipy_stats()
    if len(values) <= KS_MAX:
        result = stats.ks_2samp(sample, values)
        return TestResult("ks", float(result.statistic), float(result.pvalue))
    distance = float(stats.wasserstein_distance(sample, values))
    return TestResult("wasserstein", distance / std if std > 0 else (0.0 if distance == 0 else float("inf")), None)


def categorical_test(reference: Mapping[str, int], window: Mapping[str, int]) -> TestResult:
    """Chi-square of the window's counts against the reference shares, or the JS distance."""
    import numpy as np  # optional extra `monitor`

    categories = sorted(set(reference) | set(window))
    ref = np.array([reference.get(c, 0) for c in categories], dtype=float)
    seen = np.array([window.get(c, 0) for c in categories], dtype=float)
    if seen.sum() <= KS_MAX:
        expected = (ref + 0.5) / (ref + 0.5).sum() * seen.sum()  # +0.5: a category unseen in training stays testable
        result = _scipy_stats().chisquare(seen, expected)
        return TestResult("chi2", float(result.statistic), float(result.pvalue))
    from scipy.spatial.distance import jensenshannon  # optional extra `monitor`

    return TestResult("jensen_shannon", float(jensenshannon(ref / ref.sum(), seen / seen.sum(), base=2)), None)


def bin_counts(edges: Sequence[float], values: Sequence[float]) -> list[int]:
    """Counts of `values` in the bins the reference's interior `edges` make (open at both ends)."""
    import numpy as np  # optional extra `monitor`

    index = np.searchsorted(np.asarray(edges, dtype=float), np.asarray(values, dtype=float), side="right")
    return [int(c) for c in np.bincount(index, minlength=len(edges) + 1)]


def psi(reference: Sequence[int], window: Sequence[int]) -> float:
    """Population stability index: sum over bins of (w - r) * ln(w / r), on shares."""
    import numpy as np  # optional extra `monitor`

    ref = np.asarray(reference, dtype=float)
    win = np.asarray(window, dtype=float)
    ref = np.clip(ref / ref.sum(), PSI_EPSILON, None)
    win = np.clip(win / win.sum(), PSI_EPSILON, None)
    return float(np.sum((win - ref) * np.log(win / ref)))


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], bins: int = ECE_BINS) -> float:
    """ECE (Naeini et al. 2015; Guo et al. 2017): the gap between confidence and accuracy,
    averaged over equal-width confidence bins, weighted by how many predictions fall in each."""
    import numpy as np  # optional extra `monitor`

    conf = np.asarray(confidence, dtype=float)
    hits = np.asarray(correct, dtype=float)
    which = np.minimum((conf * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.sum() / conf.size * abs(hits[inside].mean() - conf[inside].mean())
    return float(total)
