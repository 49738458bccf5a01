"""The alert code every new monitor branch starts with (`alerts/rules.py`), editable by its users.

It is also the built-in rule set: a branch without the file, or whose file is not trusted where
the check runs (a server, `monitor watch` on a fetched branch), runs exactly this text.
"""

from __future__ import annotations

RULES_PATH = "alerts/rules.py"

SCAFFOLD = '''\
"""Alert rules of this monitor branch: `branchml monitor check` runs the version committed here.

This is code, and it runs with the rights of whoever runs the check: branchml runs it only where
someone consented to this exact file (`branchml monitor trust --env ENV`; docs/alerts.md).

THRESHOLDS are this branch's defaults; a tag's `[monitor.thresholds]` in its branchml.toml wins
over them, `[monitor.thresholds.<feature>]` for one feature. Sources: docs/alerts.md.
alerts(report) gets the check's report (docs/formats.md, "Monitor check report") and returns the
alerts, one line each; an empty list means no alert.
"""

THRESHOLDS = {
    "p_value": 0.05,           # KS / chi-square, windows of up to 1,000 values
    "correction": "bonferroni",  # p_value / number of features tested ("none" to switch off)
    "wasserstein": 0.1,        # Wasserstein distance / reference std, windows above 1,000 values
    "jensen_shannon": 0.1,     # categorical windows above 1,000 values
    "psi_moderate": 0.1,       # PSI on the reference's decile bins: warning
    "psi_significant": 0.25,   # ... alert
    "outlier_share": 0.05,     # values outside the training's 0.1%-99.9% range, or unseen categories
    "missing_increase": 0.1,   # missing or NaN share above the training's
    "drift_share": 0.5,        # the window drifted as a whole when this share of features did
    "ece": 0.1,                # expected calibration error, once labels arrived
}


def alerts(report):
    """One alert per finding whose status is "alert" (drift, PSI, outliers, missing values,
    prediction drift, calibration, a feature absent from the logs)."""
    return [finding["message"] for finding in report["findings"] if finding["status"] == "alert"]
'''
