"""From logged records and joined labels to observations: one metric value per answered query.

An observation keeps what decides its group (the tag that answered, the variant the router chose)
and its time, so windows and interim looks can be cut after the fact. Accuracy is a proportion
(1 when the prediction equals the label); absolute and squared error need numeric labels;
`latency_ms` needs no label at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from branchml.errors import BranchmlError
from branchml.experiments import stats
from branchml.monitor.labels import Label
from branchml.monitor.records import LogRecord

PROPORTIONS = {"accuracy"}
MEANS = {"mae", "mse", "latency_ms"}
METRICS = sorted(PROPORTIONS | MEANS)
HIGHER_IS_BETTER = {"accuracy"}


@dataclass(frozen=True)
class Observation:
    ts: str
    tag: str
    variant: str
    value: float


@dataclass(frozen=True)
class Arm:
    """One (variant, tag) of the window: how many records, how many observed, the metric."""

    variant: str
    tag: str
    records: int
    observed: int
    first: str
    last: str
    estimate: stats.Estimate | None


def check_metric(metric: str) -> str:
    if metric not in PROPORTIONS | MEANS:
        raise BranchmlError(f"unknown metric {metric!r}", hint=f"use one of {', '.join(METRICS)}")
    return metric


def observe(records: Iterable[LogRecord], labels: dict[str, Label], metric: str) -> list[Observation]:
    """The observations of `records` for `metric`, oldest first (records without a label are left out,
    except for latency, which every record has)."""
    found = []
    for record in records:
        value = _value(record, labels, metric)
        if value is not None:
            found.append(Observation(record.ts, record.tag, record.variant, value))
    return sorted(found, key=lambda o: o.ts)


def _value(record: LogRecord, labels: dict[str, Label], metric: str) -> float | None:
    if metric == "latency_ms":
        return None if record.latency_ms is None else float(record.latency_ms)
    label = labels.get(record.request_id)
    if label is None or label.label is None:
        return None
    if metric == "accuracy":
        return 1.0 if same(record.prediction, label.label) else 0.0
    error = _number(record.prediction, "prediction", record) - _number(label.label, "label", record)
    return abs(error) if metric == "mae" else error * error


def same(prediction: Any, label: Any) -> bool:
    """Labels often arrive as CSV text: "3" is the prediction 3, and "1.0" the prediction 1."""
    if str(prediction) == str(label):
        return True
    try:
        return float(prediction) == float(label)
    except (TypeError, ValueError):
        return False


def _number(value: Any, what: str, record: LogRecord) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise BranchmlError(f"request {record.request_id} of {record.tag}: {what} {value!r} is not a number",
                            hint="mae and mse need numeric predictions and labels; use --metric accuracy") from None


def arms(records: Sequence[LogRecord], observations: Sequence[Observation], metric: str, confidence: float) -> list[Arm]:
    """Every (variant, tag) of the records, with its metric over its observations."""
    counts: dict[tuple[str, str], list[str]] = defaultdict(list)
    for record in records:
        counts[(record.variant, record.tag)].append(record.ts)
    values = group(observations)
    return [Arm(variant, tag, len(stamps), len(values.get((variant, tag), [])), min(stamps), max(stamps),
                estimate(values.get((variant, tag), []), metric, confidence))
            for (variant, tag), stamps in sorted(counts.items(), key=lambda kv: min(kv[1]))]


def group(observations: Iterable[Observation]) -> dict[tuple[str, str], list[float]]:
    found: dict[tuple[str, str], list[float]] = defaultdict(list)
    for o in observations:
        found[(o.variant, o.tag)].append(o.value)
    return found


def estimate(values: Sequence[float], metric: str, confidence: float) -> stats.Estimate | None:
    if not values:
        return None
    if metric in PROPORTIONS:
        return stats.proportion(round(sum(values)), len(values), confidence)
    return stats.mean(values, confidence)


def compare(reference: Sequence[float], candidate: Sequence[float], metric: str, confidence: float) -> stats.Comparison:
    if metric in PROPORTIONS:
        return stats.compare_proportions((round(sum(reference)), len(reference)),
                                         (round(sum(candidate)), len(candidate)), confidence)
    return stats.compare_means(reference, candidate, confidence)
