"""Check reports committed onto monitor/<env>: `reports/<UTC time>.json` and a readable `.md` twin.

Committed with plumbing (branch.commit_files: new files only, compare-and-swap update-ref), so a
check never touches the checkout and never races the servers appending logs.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from branchml.git import plumbing
from branchml.git.cmd import Where
from branchml.monitor.branch import commit_files
from branchml.monitor.checkreport import CheckReport
from branchml.monitor.drift import WARNING, FeatureResult

REPORTS_DIR = "reports"
TRAILER = "Monitor-Check"


def report_paths(report: CheckReport) -> tuple[str, str]:
    stamp = datetime.strptime(report.checked_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    name = f"{REPORTS_DIR}/{stamp.strftime('%Y%m%dT%H%M%S')}-{stamp.microsecond:06d}Z"
    return f"{name}.json", f"{name}.md"


def commit_report(cwd: Where, report: CheckReport) -> str:
    """Commit `report` onto monitor/<env> and note the commit in `report.committed`; returns the JSON file's path."""
    json_path, md_path = report_paths(report)
    body = (json.dumps(report.as_dict(), sort_keys=True, indent=2, default=str) + "\n").encode()
    verdict = f"{len(report.alerts)} alert(s)" if report.alert else "no alert"
    title = f"monitor/{report.env}: check of {report.window.records} record(s): {verdict}"
    message = plumbing.with_trailers(title, [(TRAILER, f"{'alert' if report.alert else 'ok'} {report.commit}")])
    report.committed = commit_files(cwd, report.env, {json_path: body, md_path: summary(report).encode()}, message)
    return json_path


def summary(report: CheckReport) -> str:
    """The report for people: verdict, alerts, then per tag one line per feature."""
    window = report.window
    lines = [f"# monitor/{report.env} check, {report.checked_at}", "",
             f"Window: {window.records} record(s), {window.first or '-'} .. {window.last or '-'}"
             + (f" (since {report.since})" if report.since else "") + f"; commit {report.commit[:12]}.",
             f"Rules: {report.rules.note}.", "",
             f"**{len(report.alerts)} alert(s)**" if report.alert else "**No alert.**", ""]
    lines += [f"- {alert}" for alert in report.alerts]
    for tag in report.tags:
        lines += ["", f"## {tag.tag} ({tag.records} record(s), baseline {tag.baseline or 'none'})", ""]
        lines += [_feature_line(f) for f in tag.features]
        if tag.prediction:
            lines.append(_feature_line(tag.prediction, "prediction "))
        if tag.label_drift:
            lines.append(_feature_line(tag.label_drift, "labels "))
        if tag.calibration:
            c = tag.calibration
            ece = "-" if c.ece is None else f"{c.ece:.3f}"
            lines.append(f"- calibration: accuracy {c.accuracy:.3f}, ECE {ece} on {c.labelled} labelled record(s)")
    notes = [f.message for f in report.findings if f.status == WARNING]
    if notes:
        lines += ["", "## Warnings", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def _feature_line(f: FeatureResult, prefix: str = "") -> str:
    if f.test is None:
        return f"- {prefix}{f.feature}: not tested ({f.count} value(s))"
    measure = f"p = {f.p_value:.3g}" if f.p_value is not None else f"distance {f.statistic:.3g}"
    psi = f", PSI {f.psi:.3f}" if f.psi is not None else ""
    share = f", outliers {f.outlier_share:.1%}" if f.outlier_share is not None else ""
    verdict = "DRIFT" if f.drifted else "ok"
    return f"- {prefix}{f.feature}: {verdict} ({f.test} {measure}{psi}{share}, n = {f.count}, missing {f.missing})"
