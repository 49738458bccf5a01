"""The statistics of an online experiment, on scipy: intervals, differences, p-values, sample sizes.

Proportions (accuracy: each labelled record is right or wrong) get Wilson score intervals, which
keep their coverage near 0 and 1 and for the small arms of a 99/1 split, where the textbook
(Wald) interval does not; the difference of two proportions gets Newcombe's hybrid score interval
(method 10 of Newcombe 1998, built from the two Wilson intervals) and the p-value of Pearson's
chi-square test without continuity correction (the pooled two-proportion z-test). Means (absolute
error, latency) get Student's t interval per arm and Welch's unequal-variance t-test for the
difference. The sample size is the normal approximation for the observed effect at the observed
allocation (80% power, two-sided alpha = 1 - confidence).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from branchml.errors import BranchmlError

POWER = 0.8


@dataclass(frozen=True)
class Estimate:
    """A metric over one arm: its value and confidence interval, from n records."""

    n: int
    value: float
    low: float
    high: float
    sd: float  # per-record standard deviation (for sample sizes)


@dataclass(frozen=True)
class Comparison:
    """candidate - reference: the difference, its interval, its p-value and the n it would need."""

    difference: float
    low: float
    high: float
    p_value: float
    method: str
    needed_total: int | None  # records (both arms, at the observed split) for 80% power; None: no effect
    needed_candidate: int | None


def z_score(confidence: float) -> float:
    """The two-sided normal quantile: 1.96 for 95%."""
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def proportion(successes: int, n: int, confidence: float = 0.95) -> Estimate:
    """Wilson score interval for successes/n (the closed form scipy's
    `binomtest(k, n).proportion_ci(method="wilson")` computes, without its exact p-value search,
    which costs milliseconds per call and the report makes hundreds of intervals: one per look)."""
    if n <= 0:
        raise BranchmlError("a proportion over no records", hint="widen the window (--since) or wait for traffic")
    p, z = successes / n, z_score(confidence)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return Estimate(n, p, max(0.0, centre - half), min(1.0, centre + half), math.sqrt(p * (1 - p)))


def mean(values: Sequence[float], confidence: float = 0.95) -> Estimate:
    """Student's t interval for the mean of values (one value: no interval, low = high = value)."""
    import numpy as np  # heavy, optional (the `monitor` extra)
    from scipy import stats

    if not values:
        raise BranchmlError("a mean over no records", hint="widen the window (--since) or wait for traffic")
    data = np.asarray(values, dtype=float)
    n, centre = len(data), float(data.mean())
    sd = float(data.std(ddof=1)) if n > 1 else 0.0
    if sd == 0.0:
        return Estimate(n, centre, centre, centre, 0.0)
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return Estimate(n, centre, centre - half, centre + half, sd)


def compare_proportions(reference: tuple[int, int], candidate: tuple[int, int], confidence: float = 0.95) -> Comparison:
    """(successes, n) of each arm -> Newcombe interval of the difference and the chi-square p-value."""
    ref, cand = proportion(*reference, confidence), proportion(*candidate, confidence)
    diff = cand.value - ref.value
    low = diff - math.hypot(cand.value - cand.low, ref.high - ref.value)
    high = diff + math.hypot(cand.high - cand.value, ref.value - ref.low)
    p_value = pooled_p_value(reference, candidate)
    return Comparison(diff, low, high, p_value, "newcombe-wilson, pooled z-test",
                      *needed(ref, cand, diff, 1 - confidence))


def pooled_p_value(reference: tuple[int, int], candidate: tuple[int, int]) -> float:
    """The two-proportion z-test with the pooled proportion: the same p-value as Pearson's chi-square
    on the 2x2 table without continuity correction (z^2 is that statistic), at a fraction of the
    cost of scipy's `chi2_contingency`, which the peeking looks would call hundreds of times."""
    pooled = (reference[0] + candidate[0]) / (reference[1] + candidate[1])
    if pooled in (0.0, 1.0):
        return 1.0  # every record right (or every one wrong) in both arms: no evidence of a difference
    spread = math.sqrt(pooled * (1 - pooled) * (1 / reference[1] + 1 / candidate[1]))
    z = (candidate[0] / candidate[1] - reference[0] / reference[1]) / spread
    return 2 * NormalDist().cdf(-abs(z))


def compare_means(reference: Sequence[float], candidate: Sequence[float], confidence: float = 0.95) -> Comparison:
    """Welch's t-test and interval for mean(candidate) - mean(reference)."""
    from scipy import stats  # heavy, optional (the `monitor` extra)

    ref, cand = mean(reference, confidence), mean(candidate, confidence)
    diff = cand.value - ref.value
    if ref.n < 2 or cand.n < 2 or ref.sd == cand.sd == 0.0:
        return Comparison(diff, -math.inf, math.inf, 1.0 if diff == 0 else math.nan, "welch", None, None)
    result = stats.ttest_ind(candidate, reference, equal_var=False)
    low, high = result.confidence_interval(confidence)
    return Comparison(diff, float(low), float(high), float(result.pvalue), "welch", *needed(ref, cand, diff, 1 - confidence))


def needed(reference: Estimate, candidate: Estimate, effect: float, alpha: float) -> tuple[int | None, int | None]:
    """(total, candidate) records that detect `effect` with 80% power at the observed allocation.

    With k = n_reference / n_candidate, Var(diff) = sd_c^2 / m + sd_r^2 / (k m) for m candidate
    records; setting effect = (z_{1-alpha/2} + z_power) * sqrt(Var) gives m."""
    if effect == 0 or candidate.n == 0:
        return None, None
    ratio = reference.n / candidate.n
    z = z_score(1 - alpha) + NormalDist().inv_cdf(POWER)
    spread = candidate.sd ** 2 + reference.sd ** 2 / ratio
    m = max(1, math.ceil(z * z * spread / (effect * effect)))
    return math.ceil(m * (1 + ratio)), m
