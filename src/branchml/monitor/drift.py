"""One feature of one window against its baseline: drift test, PSI, outliers, missing values.

Every result becomes `Finding`s with a status (`ok`, `warning`, `alert`) and a one-line message;
the branch's alerts/rules.py decides which of them raise alerts (by default: every `alert`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from branchml.monitor import stats
from branchml.runs.baseline import as_numbers, is_missing
from branchml.settings import Thresholds

OK, WARNING, ALERT = "ok", "warning", "alert"


@dataclass(frozen=True)
class Finding:
    tag: str
    check: str  # drift, psi, outliers, missing, prediction_drift, label_drift, calibration, baseline, feature, labels
    status: str  # ok, warning, alert
    message: str
    feature: str | None = None
    value: float | None = None
    threshold: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FeatureResult:
    """What was measured for one feature; `findings` says what it means."""

    feature: str
    kind: str
    count: int
    missing: int
    test: str | None = None
    statistic: float | None = None
    p_value: float | None = None
    alpha: float | None = None  # the p-value threshold after the correction
    psi: float | None = None
    outlier_share: float | None = None
    unseen: list[str] = field(default_factory=list)
    drifted: bool = False
    findings: list[Finding] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("findings")
        return data


def check_feature(tag: str, name: str, reference: dict[str, Any], values: list[Any], limits: Thresholds,
                  tested: int, check: str = "drift") -> FeatureResult:
    """Compare the window's `values` of `name` with its `reference` statistics (from the baseline)."""
    present = [v for v in values if not is_missing(v)]
    result = FeatureResult(name, str(reference.get("kind")), len(present), len(values) - len(present))
    result.findings.append(_missing(tag, name, reference, result, limits))
    if not present:
        result.findings.append(Finding(tag, check, WARNING, f"{tag}: {name}: no values in the window", name))
        return result
    if reference.get("kind") == "numeric":
        numbers = as_numbers(present)
        if numbers is None:
            result.findings.append(Finding(tag, check, ALERT, f"{tag}: {name}: non-numeric values where training had numbers", name))
            return result
        _numeric(tag, name, reference, numbers, limits, tested, result, check)
    else:
        _categorical(tag, name, reference, [str(v) for v in present], limits, tested, result, check)
    return result


def alpha(limits: Thresholds, tested: int) -> float:
    """The p-value threshold of one feature among `tested` (Bonferroni unless switched off)."""
    return limits.p_value / max(tested, 1) if limits.correction == "bonferroni" else limits.p_value


def _numeric(tag: str, name: str, reference: dict[str, Any], numbers: list[float], limits: Thresholds, tested: int,
             result: FeatureResult, check: str) -> None:
    if not reference.get("count"):
        result.findings.append(Finding(tag, check, WARNING, f"{tag}: {name}: the baseline has no values", name))
        return
    test = stats.numeric_test(reference["sample"], numbers, float(reference["std"]))
    _judge(tag, name, test, limits.wasserstein, limits, tested, result, check)
    result.psi = stats.psi(reference["bin_counts"], stats.bin_counts(reference["bin_edges"], numbers))
    result.findings.append(_psi(tag, name, result.psi, limits))
    low, high = reference["quantiles"]["0.001"], reference["quantiles"]["0.999"]
    outside = sum(1 for v in numbers if v < low or v > high)
    result.outlier_share = outside / len(numbers)
    status = ALERT if result.outlier_share > limits.outlier_share else OK
    result.findings.append(Finding(tag, "outliers", status,
                                   f"{tag}: {name}: {outside} of {len(numbers)} value(s) outside the training's "
                                   f"0.1%-99.9% range [{low:g}, {high:g}]", name, result.outlier_share, limits.outlier_share))


def _categorical(tag: str, name: str, reference: dict[str, Any], present: list[str], limits: Thresholds, tested: int,
                 result: FeatureResult, check: str) -> None:
    known: dict[str, int] = reference.get("frequencies", {})
    counts: dict[str, int] = {}
    for value in present:
        counts[value] = counts.get(value, 0) + 1
    _judge(tag, name, stats.categorical_test(known, counts), limits.jensen_shannon, limits, tested, result, check)
    result.unseen = sorted(c for c in counts if c not in known)
    share = sum(counts[c] for c in result.unseen) / len(present)
    result.outlier_share = share
    shown = ", ".join(repr(c) for c in result.unseen[:5]) + (" ..." if len(result.unseen) > 5 else "")
    message = (f"{tag}: {name}: {share:.1%} of the values are categories training never saw ({shown})" if result.unseen
               else f"{tag}: {name}: every category was seen in training")
    status = ALERT if share > limits.outlier_share else (WARNING if result.unseen else OK)
    result.findings.append(Finding(tag, "outliers", status, message, name, share, limits.outlier_share))


def _judge(tag: str, name: str, test: stats.TestResult, distance_limit: float, limits: Thresholds, tested: int,
           result: FeatureResult, check: str) -> None:
    result.test, result.statistic, result.p_value = test.test, test.statistic, test.p_value
    if test.p_value is not None:
        result.alpha = alpha(limits, tested)
        result.drifted = test.p_value < result.alpha
        value, limit, words = test.p_value, result.alpha, f"p = {test.p_value:.3g} (threshold {result.alpha:.3g})"
    else:
        result.drifted = test.statistic > distance_limit
        value, limit, words = test.statistic, distance_limit, f"distance {test.statistic:.3g} (threshold {distance_limit:g})"
    verdict = "drifted" if result.drifted else "no drift"
    label = {"drift": name, "label_drift": f"labels ({name})"}.get(check, f"prediction ({name})")
    result.findings.append(Finding(tag, check, ALERT if result.drifted else OK,
                                   f"{tag}: {label}: {verdict}, {test.test} {words}, n = {result.count}", name, value, limit))


def _psi(tag: str, name: str, value: float, limits: Thresholds) -> Finding:
    status = ALERT if value >= limits.psi_significant else WARNING if value >= limits.psi_moderate else OK
    return Finding(tag, "psi", status, f"{tag}: {name}: PSI {value:.3f} (moderate {limits.psi_moderate:g}, "
                   f"significant {limits.psi_significant:g})", name, value, limits.psi_significant)


def _missing(tag: str, name: str, reference: dict[str, Any], result: FeatureResult, limits: Thresholds) -> Finding:
    total = result.count + result.missing
    share = result.missing / total if total else 0.0
    ref_total = int(reference.get("count", 0)) + int(reference.get("missing", 0))
    ref_share = int(reference.get("missing", 0)) / ref_total if ref_total else 0.0
    status = ALERT if share - ref_share > limits.missing_increase else OK
    return Finding(tag, "missing", status, f"{tag}: {name}: {share:.1%} missing or NaN (training: {ref_share:.1%})",
                   name, share, ref_share + limits.missing_increase)
