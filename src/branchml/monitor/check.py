"""`branchml monitor check`: one window of monitor/<env> against the baselines of the tags that
served it, judged by the alert rules committed on the branch.

The result is a `CheckReport` (checkreport.py, docs/formats.md "Monitor check report"): per tag,
each feature's drift test, PSI, outliers and missing values, prediction drift against the
training target, calibration where labels arrived; then the findings and the alerts the rules
raised. `reports.commit_report` commits it onto the branch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from branchml.errors import BranchmlError
from branchml.git import plumbing
from branchml.monitor import baselines, calibration, drift, rules
from branchml.monitor.checkreport import (
    CHECK_REPORT_FORMAT as CHECK_REPORT_FORMAT,  # what readers of reports check
)
from branchml.monitor.checkreport import (
    CheckReport,
    DatasetDrift,
    LabelJoin,
    RulesUsed,
    TagCheck,
    WindowSpan,
)
from branchml.monitor.drift import ALERT, OK, WARNING, Finding
from branchml.monitor.labels import Label, read_labels
from branchml.monitor.records import LogRecord, branch_ref, now_iso
from branchml.monitor.scaffold import RULES_PATH
from branchml.monitor.window import Window, read_window
from branchml.repo import Repo
from branchml.settings import DEFAULT_THRESHOLDS, Thresholds


@dataclass(frozen=True)
class CheckOptions:
    env: str
    since: str | None = None  # UTC timestamp text (monitor.query.parse_since)
    commit: str | None = None  # None: the branch tip
    untrusted: str = "refuse"  # what to do with rules nobody trusted here: "refuse" or "built-in"


def check(repo: Repo, options: CheckOptions) -> CheckReport:
    """The report of one check (not committed: see reports.commit_report)."""
    commit = options.commit or plumbing.rev_parse(repo.cwd, f"{branch_ref(options.env)}^{{commit}}")
    if commit is None:
        raise BranchmlError(f"no branch monitor/{options.env}", hint="list them with `git branch --list 'monitor/*'`")
    ruleset = rules.load(repo, options.env, commit, untrusted=options.untrusted)
    window = read_window(repo.cwd, options.env, commit, options.since)
    labels = read_labels(repo.cwd, options.env)
    base = DEFAULT_THRESHOLDS.merged(ruleset.thresholds, RULES_PATH, "THRESHOLDS")
    tags = [_check_tag(repo, tag, records, labels, base) for tag, records in window.by_tag.items()]
    report = _report(options, window, ruleset, tags, labels)
    report.alerts = rules.run_alerts(ruleset, report.facts())
    return report


def _report(options: CheckOptions, window: Window, ruleset: rules.Rules, tags: list[TagCheck],
            labels: dict[str, Label]) -> CheckReport:
    first, last = window.span()
    logged = {r.request_id for records in window.by_tag.values() for r in records}
    findings = [f for t in tags for f in t.findings]
    if not window.count:
        findings.append(Finding("", "window", WARNING, f"monitor/{options.env}: no records in the window"
                                + (f" since {options.since}" if options.since else "") + ": nothing to check"))
    return CheckReport(env=options.env, commit=window.commit, checked_at=now_iso(), since=options.since,
                       window=WindowSpan(window.count, first, last),
                       rules=RulesUsed(RULES_PATH, ruleset.source, ruleset.blob, ruleset.note), tags=tags,
                       labels=LabelJoin(len(logged & set(labels)), len(set(labels) - logged)), findings=findings)


def _check_tag(repo: Repo, tag: str, records: list[LogRecord], labels: dict[str, Label], base: Thresholds) -> TagCheck:
    found = baselines.load(repo, tag)
    out = TagCheck(tag, len(records), found.commit)
    limits = base.merged(found.thresholds, f"{tag}:branchml.toml")
    findings: list[Finding] = []
    if found.baseline is None:
        findings.append(Finding(tag, "baseline", WARNING, found.note))
    else:
        out.baseline = found.path
        findings += _features(tag, records, found, limits, out)
        findings += _labels(tag, records, labels, found, limits, out)
    out.calibration, more = calibration.check(tag, records, labels, limits)
    out.findings = findings + more
    return out


def _features(tag: str, records: list[LogRecord], found: baselines.TagBaseline, limits: Thresholds,
              out: TagCheck) -> list[Finding]:
    assert found.baseline is not None
    reference: dict[str, Any] = found.baseline.get("features", {})
    findings: list[Finding] = []
    named = [r.features for r in records if isinstance(r.features, dict)]
    if len(named) < len(records):
        findings.append(Finding(tag, "feature", WARNING, f"{tag}: {len(records) - len(named)} record(s) without named "
                                "features (not an object): left out"))
    tested = 0
    for name, stats in reference.items():
        if named and not any(name in features for features in named):
            findings.append(Finding(tag, "feature", ALERT, f"{tag}: feature {name} is in the baseline but in no logged record", name))
            continue
        feature_limits = limits.for_feature(found.thresholds, name, f"{tag}:branchml.toml")
        result = drift.check_feature(tag, name, stats, [f.get(name) for f in named], feature_limits, len(reference))
        out.features.append(result)
        findings += result.findings
        tested += result.test is not None
    drifted = sum(1 for f in out.features if f.drifted)
    if tested:
        share = drifted / tested
        out.dataset_drift = DatasetDrift(drifted, tested, share, limits.drift_share)
        findings.append(Finding(tag, "dataset_drift", ALERT if share >= limits.drift_share else OK,
                                f"{tag}: {drifted} of {tested} feature(s) drifted (window drift at {limits.drift_share:.0%})",
                                None, share, limits.drift_share))
    findings += _prediction(tag, records, found, limits, out)
    return findings


def _prediction(tag: str, records: list[LogRecord], found: baselines.TagBaseline, limits: Thresholds,
                out: TagCheck) -> list[Finding]:
    """Predictions against the training target's distribution (the model should answer like the data)."""
    target = (found.baseline or {}).get("target")
    if not target:
        return [Finding(tag, "prediction_drift", OK, f"{tag}: no [monitor] target in the baseline: prediction drift not checked")]
    values = [r.prediction if not isinstance(r.prediction, dict) else calibration.score(r.prediction).predicted for r in records]
    result = drift.check_feature(tag, str(target.get("name")), target, values, limits, 1, check="prediction_drift")
    out.prediction = result
    return [f for f in result.findings if f.check in ("prediction_drift", "outliers")]


def _labels(tag: str, records: list[LogRecord], labels: dict[str, Label], found: baselines.TagBaseline,
            limits: Thresholds, out: TagCheck) -> list[Finding]:
    """The labels that arrived for this tag's records against the training target (the world moved)."""
    target = (found.baseline or {}).get("target")
    observed = [labels[r.request_id].label for r in records if r.request_id in labels]
    if not target or not observed:
        return []
    result = drift.check_feature(tag, str(target.get("name")), target, observed, limits, 1, check="label_drift")
    out.label_drift = result
    return [f for f in result.findings if f.check in ("label_drift", "outliers")]
