"""The report of one `monitor check` (docs/formats.md "Monitor check report", `CHECK_REPORT_FORMAT`).

Records, not dicts, inside branchml: the check builds them, `reports` commits and summarises them,
the CLI prints them. `as_dict()` is the committed JSON and `--json`'s output; `facts()` is what a
branch's `alerts(report)` function reads (the same dict before the alerts are known: docs/alerts.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from branchml.monitor.calibration import Calibration
from branchml.monitor.drift import FeatureResult, Finding

CHECK_REPORT_FORMAT = 1


@dataclass(frozen=True)
class WindowSpan:
    """The records checked: how many, and the first and last time stamps (None: no record)."""

    records: int
    first: str | None
    last: str | None


@dataclass(frozen=True)
class RulesUsed:
    """Which alert rules judged the window: the committed file (its blob) or the built-in set, and why."""

    path: str  # alerts/rules.py
    source: str  # "committed" or "built-in"
    blob: str | None  # the committed file's blob id (None: built-in)
    note: str


@dataclass(frozen=True)
class LabelJoin:
    """Labels that found their logged request, and labels naming requests not in the window."""

    joined: int
    unknown_request_ids: int


@dataclass(frozen=True)
class DatasetDrift:
    """How many of a tag's tested features drifted, against the share that makes the window drift."""

    drifted: int
    tested: int
    share: float
    threshold: float


@dataclass
class TagCheck:
    """One tag's records against its training baseline; `findings` go to the report's list."""

    tag: str
    records: int
    commit: str | None  # the tag's commit (None: the tag is not in this clone)
    baseline: str | None = None  # the baseline file's path, None when the tag has none
    features: list[FeatureResult] = field(default_factory=list)
    prediction: FeatureResult | None = None
    label_drift: FeatureResult | None = None
    calibration: Calibration | None = None
    dataset_drift: DatasetDrift | None = None
    findings: list[Finding] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def result(found: FeatureResult | None) -> dict[str, Any] | None:
            return found.to_dict() if found else None

        return {"tag": self.tag, "records": self.records, "commit": self.commit, "baseline": self.baseline,
                "features": [f.to_dict() for f in self.features], "prediction": result(self.prediction),
                "label_drift": result(self.label_drift),
                "calibration": asdict(self.calibration) if self.calibration else None,
                "dataset_drift": asdict(self.dataset_drift) if self.dataset_drift else None}


@dataclass
class CheckReport:
    env: str
    commit: str  # the monitor/<env> commit checked
    checked_at: str  # UTC, records.now_iso()
    since: str | None
    window: WindowSpan
    rules: RulesUsed
    tags: list[TagCheck]
    labels: LabelJoin
    findings: list[Finding]
    alerts: list[str] = field(default_factory=list)  # what the rules raised, one line each
    committed: str | None = None  # the commit that holds this report on monitor/<env> (reports.commit_report)
    format: int = CHECK_REPORT_FORMAT

    @property
    def alert(self) -> bool:
        return bool(self.alerts)

    def facts(self) -> dict[str, Any]:
        """The report as the rules' `alerts(report)` reads it: everything but the alerts."""
        return {"format": self.format, "env": self.env, "commit": self.commit, "checked_at": self.checked_at,
                "since": self.since, "window": asdict(self.window), "rules": asdict(self.rules),
                "tags": [t.as_dict() for t in self.tags], "labels": asdict(self.labels),
                "findings": [f.to_dict() for f in self.findings]}

    def as_dict(self) -> dict[str, Any]:
        """The committed JSON (`committed` only once committed: it names the commit holding the file)."""
        out = {**self.facts(), "alerts": list(self.alerts), "alert": self.alert}
        return out | ({"committed": self.committed} if self.committed else {})
