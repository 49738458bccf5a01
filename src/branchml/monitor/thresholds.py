"""Alert thresholds: built-in defaults < the monitor branch's alerts/rules.py `THRESHOLDS` < the tag's
`[monitor.thresholds]` in its branchml.toml < `[monitor.thresholds.<feature>]` for one feature.

The defaults and their sources are in docs/alerts.md; `DEFAULTS` is what the scaffold writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from branchml.errors import SettingError

CORRECTIONS = ("bonferroni", "none")


@dataclass(frozen=True)
class Thresholds:
    p_value: float = 0.05  # KS / chi-square significance, before the multiple-feature correction
    correction: str = "bonferroni"  # "bonferroni": p_value / number of features tested; "none"
    wasserstein: float = 0.1  # Wasserstein distance / reference std, windows above 1,000 values
    jensen_shannon: float = 0.1  # categorical windows above 1,000 values
    psi_moderate: float = 0.1  # PSI: a warning
    psi_significant: float = 0.25  # PSI: an alert
    outlier_share: float = 0.05  # share of values outside the reference's 0.1%..99.9% quantiles (or unseen categories)
    missing_increase: float = 0.1  # share of missing values above the reference's share
    drift_share: float = 0.5  # the window as a whole drifted when this share of its features did
    ece: float = 0.1  # expected calibration error of predicted probabilities, once labels arrived

    def merged(self, overrides: Mapping[str, Any], where: str) -> Thresholds:
        """These thresholds with `overrides` (sub-tables, i.e. per-feature ones, are skipped)."""
        known = {f.name: f for f in fields(self)}
        changes: dict[str, Any] = {}
        for key, value in overrides.items():
            if isinstance(value, Mapping):
                continue
            if key not in known:
                raise SettingError(f"{where}: unknown threshold {key!r}", hint=f"known: {', '.join(known)}")
            changes[key] = _checked(key, value, where)
        return replace(self, **changes)

    def for_feature(self, overrides: Mapping[str, Any], feature: str, where: str) -> Thresholds:
        own = overrides.get(feature)
        return self.merged(own, f"{where} [{feature}]") if isinstance(own, Mapping) else self


def _checked(key: str, value: Any, where: str) -> Any:
    if key == "correction":
        if value not in CORRECTIONS:
            raise SettingError(f"{where}: correction must be one of {', '.join(CORRECTIONS)}, not {value!r}",
                               hint="fix the threshold")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise SettingError(f"{where}: threshold {key} must be a non-negative number, not {value!r}", hint="fix the threshold")
    return float(value)


DEFAULTS = Thresholds()
