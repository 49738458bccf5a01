"""`branchml ab report`: the online experiments an environment's logs hold, and what each tag changed.

Nothing is declared: the router logs every answer with its tag and variant, and the report finds
the experiments from them. Each tag that answered as a canary is compared with the primary tag
that answered the other callers while the canary ran (the same window of time, so the season,
the traffic and the labelling are the same on both sides). A candidate newer than the primary
(by its `<customer>-<n>` number, else its tag date) is a forward test (old 99% / new 1%); an
older one is a backward test (after a promotion, 1% kept on the old tag to confirm the effect in
reverse). Separately, every change of the primary tag over time is a before/after comparison
that names the tag behind the change (confounded with time: the experiments are the causal ones).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from branchml.errors import BranchmlError
from branchml.experiments import arms as armlib
from branchml.experiments import peeking, stats
from branchml.experiments.arms import Arm, Observation
from branchml.git import plumbing
from branchml.git.cmd import Where
from branchml.monitor.labels import read_labels
from branchml.monitor.query import env_logs
from branchml.monitor.records import LogRecord
from branchml.runs.tags import tag_number

FORMAT = 1
PRIMARY, CANARY = "primary", "canary"


@dataclass(frozen=True)
class Experiment:
    """A candidate tag served to some callers while the reference tag served the others."""

    kind: str  # "forward", "backward" or "parallel" (tags of different customers, no order)
    reference: str
    candidate: str
    first: str
    last: str
    reference_n: int
    candidate_n: int
    comparison: stats.Comparison | None
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Change:
    """The primary tag changed at `at`: `after` (the cause) against `before`, over their periods."""

    before: str
    after: str
    at: str
    before_n: int
    after_n: int
    comparison: stats.Comparison | None


@dataclass(frozen=True)
class Report:
    env: str
    metric: str
    confidence: float
    since: str | None
    records: int
    labels_unmatched: int
    arms: list[Arm]
    experiments: list[Experiment]
    changes: list[Change]
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values; an interval that does not exist (one record) is null, not Infinity."""
        return {"format": FORMAT, **_finite(asdict(self))}


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def report(cwd: Where, env: str, metric: str = "accuracy", since: str | None = None, confidence: float = 0.95) -> Report:
    """Read monitor/<env> (records since `since`, labels joined) and compare its arms."""
    armlib.check_metric(metric)
    if not 0.5 < confidence < 1:
        raise BranchmlError(f"confidence {confidence}: must be between 0.5 and 1", hint="e.g. --confidence 0.95")
    records = env_logs(cwd, env, since).records
    if not records:
        where = f"monitor/{env}" + (f" since {since}" if since else "")
        raise BranchmlError(f"no logged queries on {where}", hint="widen the window (--since) or serve traffic first")
    labels = read_labels(cwd, env) if metric != "latency_ms" else {}
    observations = armlib.observe(records, labels, metric)
    if not observations:
        raise BranchmlError(f"none of the {len(records)} logged queries on monitor/{env} has a label yet",
                            hint=f"commit ground truth: branchml monitor label --env {env} labels.csv "
                                 "(request_id,label), or use --metric latency_ms")
    return _compare(cwd, env, metric, since, confidence, records, labels, observations)


def _compare(cwd: Where, env: str, metric: str, since: str | None, confidence: float, records: Sequence[LogRecord],
             labels: dict[str, Any], observations: list[Observation]) -> Report:
    known = {r.request_id for r in records}
    arm_list = armlib.arms(records, observations, metric, confidence)
    experiments = [_experiment(cwd, arm, observations, metric, confidence) for arm in arm_list if arm.variant == CANARY]
    periods = _periods(observations)
    warnings = []
    if len(periods) > 3 * len({tag for tag, _ in periods}):
        warnings.append(f"the primary tag alternates {len(periods)} times: several servers with different primary tags "
                        f"log to monitor/{env}; compare them with a canary, not over time")
        periods = []
    changes = _changes(periods, metric, confidence)
    if not any(e.comparison for e in experiments) and not changes:
        served = ", ".join(sorted({f"{a.tag} ({a.variant})" for a in arm_list}))
        warnings.append(f"nothing to compare: one tag answered on monitor/{env} in this window ({served}); start a forward "
                        f"test with `branchml serve CURRENT --canary CANDIDATE=1% --env {env}`")
    return Report(env, metric, confidence, since, len(records), sum(1 for rid in labels if rid not in known),
                  arm_list, experiments, changes, warnings)


def _experiment(cwd: Where, canary: Arm, observations: list[Observation], metric: str, confidence: float) -> Experiment:
    window = [o for o in observations if canary.first <= o.ts <= canary.last]
    primaries = Counter(o.tag for o in window if o.variant == PRIMARY and o.tag != canary.tag)
    candidate = [o for o in window if o.variant == CANARY and o.tag == canary.tag]
    if not primaries or not candidate:
        reason = "no primary answers observed while it ran" if not primaries else "none of its answers has a label"
        return Experiment("unknown", "-", canary.tag, canary.first, canary.last, 0, len(candidate), None, [reason])
    reference_tag = primaries.most_common(1)[0][0]
    reference = [o for o in window if o.variant == PRIMARY and o.tag == reference_tag]
    comparison = armlib.compare([o.value for o in reference], [o.value for o in candidate], metric, confidence)
    looks = peeking.warnings(reference, candidate, metric, confidence, comparison)
    return Experiment(_kind(cwd, reference_tag, canary.tag), reference_tag, canary.tag, canary.first, canary.last,
                      len(reference), len(candidate), comparison, looks)


def _kind(cwd: Where, reference: str, candidate: str) -> str:
    """forward when the candidate is the newer tag, backward when it is the older one."""
    prefix = candidate.rpartition("-")[0]
    ref_n, cand_n = tag_number(reference, prefix), tag_number(candidate, prefix)
    if ref_n is not None and cand_n is not None:
        return "forward" if cand_n > ref_n else "backward"
    dates = [plumbing.for_each_ref(cwd, f"refs/tags/{tag}", "creatordate:unix") for tag in (reference, candidate)]
    if not all(dates):
        return "parallel"
    return "forward" if int(dates[1][0]) > int(dates[0][0]) else "backward"


def _periods(observations: list[Observation]) -> list[tuple[str, list[Observation]]]:
    """The primary tag's consecutive runs, in time order."""
    periods: list[tuple[str, list[Observation]]] = []
    for o in (o for o in observations if o.variant == PRIMARY):
        if periods and periods[-1][0] == o.tag:
            periods[-1][1].append(o)
        else:
            periods.append((o.tag, [o]))
    return periods


def _changes(periods: list[tuple[str, list[Observation]]], metric: str, confidence: float) -> list[Change]:
    """Each boundary between periods compares the period after (its tag is the cause) with the one before."""
    changes = []
    for (before, old), (after, new) in zip(periods, periods[1:]):
        values_old, values_new = [o.value for o in old], [o.value for o in new]
        comparison = armlib.compare(values_old, values_new, metric, confidence) if values_old and values_new else None
        changes.append(Change(before, after, new[0].ts, len(old), len(new), comparison))
    return changes
