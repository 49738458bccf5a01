"""Calibration once labels arrived: accuracy, and the expected calibration error of the predicted
probabilities (a probability of class 1 in [0, 1], or an object of class -> probability).

Predictions that are plain classes give accuracy only: there is no confidence to calibrate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from branchml.monitor import stats
from branchml.monitor.drift import ALERT, OK, WARNING, Finding
from branchml.monitor.labels import Label
from branchml.monitor.records import LogRecord
from branchml.settings import Thresholds


@dataclass(frozen=True)
class Calibration:
    """Accuracy on the labelled records, and the expected calibration error (None: classes only)."""

    labelled: int
    accuracy: float
    ece: float | None


@dataclass(frozen=True)
class Scored:
    predicted: str
    confidence: float | None


def score(prediction: Any) -> Scored:
    """The predicted class and, for probabilities, the confidence in it."""
    if isinstance(prediction, dict) and prediction and all(isinstance(v, int | float) for v in prediction.values()):
        best = max(prediction, key=lambda k: prediction[k])
        return Scored(str(best), float(prediction[best]))
    if isinstance(prediction, float) and 0.0 <= prediction <= 1.0 and prediction not in (0.0, 1.0):
        return Scored("1" if prediction >= 0.5 else "0", max(prediction, 1 - prediction))
    return Scored(_text(prediction), None)


def _text(value: Any) -> str:
    """Labels arrive as CSV text: 1, 1.0 and "1" are the same class."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def check(tag: str, records: list[LogRecord], labels: dict[str, Label], limits: Thresholds) -> tuple[Calibration | None, list[Finding]]:
    joined = [(score(r.prediction), labels[r.request_id]) for r in records if r.request_id in labels]
    if not joined:
        return None, []
    correct = [s.predicted == _text(_number(label.label)) for s, label in joined]
    accuracy = sum(correct) / len(joined)
    confident = [(s.confidence, c) for (s, _), c in zip(joined, correct) if s.confidence is not None]
    if len(confident) < len(joined):
        return Calibration(len(joined), accuracy, None), [Finding(
            tag, "calibration", OK if not confident else WARNING,
            f"{tag}: accuracy {accuracy:.3f} on {len(joined)} labelled record(s); "
            "predictions are classes, not probabilities: no calibration error")]
    ece = stats.expected_calibration_error([c for c, _ in confident], [k for _, k in confident])
    status = ALERT if ece > limits.ece else OK
    return Calibration(len(joined), accuracy, ece), [Finding(
        tag, "calibration", status, f"{tag}: expected calibration error {ece:.3f} "
        f"(threshold {limits.ece:g}), accuracy {accuracy:.3f} on {len(joined)} labelled record(s)", None, ece, limits.ece)]


def _number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value
