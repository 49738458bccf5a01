"""Warnings about sequential misuse ("peeking") of a fixed-sample test.

A p-value is valid for one look at a sample size chosen in advance. Looking again as data
arrives and stopping at the first p < alpha inflates the false-positive rate far above alpha
(with 10 looks, about 19% for alpha = 5%: Armitage, McPherson & Rowe 1969). The logs keep every
answer's time, so the report replays the looks a person refreshing it would have had (after each
tenth of the records, in time order) and says when the verdict changed along the way, or when the
result is significant before the sample size the observed effect needs.
"""

from __future__ import annotations

from collections.abc import Sequence

from branchml.experiments import arms, stats
from branchml.experiments.arms import Observation

LOOKS = 10


def interim_p_values(reference: Sequence[Observation], candidate: Sequence[Observation], metric: str,
                     confidence: float, looks: int = LOOKS) -> list[tuple[int, float]]:
    """(records so far, p-value) after each of `looks` equal shares of both arms' records in time order."""
    merged = sorted([*reference, *candidate], key=lambda o: o.ts)
    candidate_ids = {id(o) for o in candidate}
    found = []
    for look in range(1, looks + 1):
        upto = merged[: round(len(merged) * look / looks)]
        ref = [o.value for o in upto if id(o) not in candidate_ids]
        cand = [o.value for o in upto if id(o) in candidate_ids]
        if len(ref) >= 2 and len(cand) >= 2:
            found.append((len(upto), arms.compare(ref, cand, metric, confidence).p_value))
    return found


def warnings(reference: Sequence[Observation], candidate: Sequence[Observation], metric: str, confidence: float,
             final: stats.Comparison) -> list[str]:
    alpha = 1 - confidence
    said = []
    path = interim_p_values(reference, candidate, metric, confidence)
    flips = sum(1 for (_, a), (_, b) in zip(path, path[1:]) if (a < alpha) != (b < alpha))
    earlier = [(n, p) for n, p in path[:-1] if p < alpha]
    if earlier and not final.p_value < alpha:
        n, p = earlier[0]
        said.append(f"peeking: significant at an earlier look ({n} records, p={p:.3g}) but not now (p={final.p_value:.3g}); "
                    "stopping at that look would have been a false discovery")
    elif flips >= 2:
        said.append(f"peeking: the verdict changed {flips} times over {len(path)} looks; fix the sample size in advance")
    needed = final.needed_candidate
    observed = len(candidate)
    if final.p_value < alpha and needed is not None and observed < needed:
        said.append(f"peeking: significant with {observed} candidate records, fewer than the {needed} this effect needs "
                    "for 80% power; repeated looks make such early wins likely to be noise: keep the test running")
    return said
