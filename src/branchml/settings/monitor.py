"""`[monitor]` of branchml.toml (docs/alerts.md, docs/monitor.md), its `[monitor.thresholds]`, and the
two keys only local.toml may hold.

`MonitorSettings` is what training and checks read: the drift baseline `branchml run` writes, the
alert thresholds a tag carries, where log parts go to the chunk store. `MonitorConsent` is what
runs code, so it is read from `<common dir>/branchml/local.toml` only: `check_on_push` (the server's
post-receive hook runs checks) and `trusted_rules` (blob ids of alerts/rules.py files the user
trusted). A committed file that sets either is refused, naming the file, so nobody believes a
committed setting could grant that consent.

`Thresholds` are the alert limits: built-in defaults < the monitor branch's alerts/rules.py
`THRESHOLDS` < a tag's `[monitor.thresholds]` < `[monitor.thresholds.<feature>]` for one feature.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from branchml.errors import SettingError
from branchml.settings.checks import (
    Check,
    count_above,
    flag,
    names,
    non_negative,
    size,
    text,
)

CORRECTIONS = ("bonferroni", "none")
LOCAL_ONLY = ("check_on_push", "trusted_rules")  # consent: honoured from local.toml only


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

    def merged(self, overrides: Mapping[str, Any], where: str, label: str = "[monitor.thresholds]") -> Thresholds:
        """These thresholds with `overrides` (sub-tables, i.e. per-feature ones, are skipped), each checked:
        a refused one is one line naming `where` (a file, or alerts/rules.py), `label` and the threshold."""
        changes = {key: _threshold(where, label, key, value) for key, value in overrides.items()
                   if not isinstance(value, Mapping)}
        return replace(self, **changes)

    def for_feature(self, overrides: Mapping[str, Any], feature: str, where: str) -> Thresholds:
        own = overrides.get(feature)
        return self.merged(own, where, f"[monitor.thresholds.{feature}]") if isinstance(own, Mapping) else self


THRESHOLD_NAMES = [f.name for f in fields(Thresholds)]
DEFAULT_THRESHOLDS = Thresholds()


def _threshold(where: str, label: str, key: str, value: Any) -> Any:
    """One threshold's value, checked: a known name, a number 0 or more (`correction`: a method)."""
    if key not in THRESHOLD_NAMES:
        raise SettingError(f"{where}: {label} has no threshold {key!r}",
                           hint=f"thresholds are {', '.join(THRESHOLD_NAMES)}; fix or remove {key} in {where}")
    accepted = _correction(value) if key == "correction" else non_negative(value)
    if accepted is not None:
        raise SettingError(f"{where}: setting {label} {key} must be {accepted}, not {value!r}",
                           hint=f"fix {label} {key} in {where}")
    return value if key == "correction" else float(value)


def _correction(value: Any) -> str | None:
    return None if value in CORRECTIONS else " or ".join(f'"{c}"' for c in CORRECTIONS)


def _thresholds(table: Any) -> str | None:
    """The table's shape; its thresholds are checked by `check_thresholds`, naming each one."""
    return None if isinstance(table, dict) else "a table of thresholds, and [monitor.thresholds.<feature>] tables of them"


def check_thresholds(table: Mapping[str, Any], where: str) -> None:
    """`[monitor.thresholds]`: thresholds, and per-feature tables of them (one level deep)."""
    DEFAULT_THRESHOLDS.merged(table, where)
    for feature, own in table.items():
        if isinstance(own, Mapping):  # every key a threshold: a table in it is no threshold's name
            for key, value in own.items():
                _threshold(where, f"[monitor.thresholds.{feature}]", key, value)


def _trusted_blobs(value: Any) -> str | None:
    good = isinstance(value, list) and all(isinstance(v, str) and len(v) in (40, 64) for v in value)
    return None if good else "a list of blob ids (written by `branchml monitor trust`)"


CHECKS: dict[str, Check] = {
    "data": text, "features": names, "categorical": names, "target": text, "baseline": text,
    "sample": count_above(1), "bins": count_above(2), "thresholds": _thresholds, "store_above": size,
    "check_on_push": flag, "trusted_rules": _trusted_blobs,
}


def check_local_only(table: Mapping[str, Any], where: str) -> None:
    """Refuse the consent keys in a committed file: they would be ignored, and must not seem to work."""
    for key in LOCAL_ONLY:
        if key in table:
            raise SettingError(f"{where}: [monitor] {key} is read from local.toml only: a committed setting cannot "
                               "make branchml run code", hint=f"remove it from {where}; set it in .git/branchml/local.toml "
                               "of the repository that should run it (`branchml monitor trust` writes trusted_rules)")


@dataclass(frozen=True)
class MonitorSettings:
    """`[monitor]` of branchml.toml (the work tree's, or a tag's own for its baseline and thresholds)."""

    data: str = ""  # training file, relative to the work tree; "" = no baseline
    features: tuple[str, ...] = ()  # () = every column but the target
    categorical: tuple[str, ...] = ()  # also categorical: any column with a non-numeric value
    target: str = ""  # label column: its distribution is the reference for prediction drift
    baseline: str = "models/baseline.json"  # where `branchml run` writes the baseline
    sample: int = 1000  # values kept per numeric feature (KS, Wasserstein)
    bins: int = 10  # bins per numeric feature (PSI)
    thresholds: dict[str, Any] = field(default_factory=dict)  # checked overrides, per feature too
    store_above: int = 1 << 20  # log parts of at least this many bytes go to the chunk store

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> MonitorSettings:
        """From loaded settings: every key has a value (the defaults) and was checked as read."""
        table = cfg["monitor"]
        return cls(table["data"], tuple(table["features"]), tuple(table["categorical"]), table["target"],
                   table["baseline"], table["sample"], table["bins"], dict(table["thresholds"]), table["store_above"])


@dataclass(frozen=True)
class MonitorConsent:
    """`[monitor]` keys that make branchml run code, read from local.toml only (see the module docstring)."""

    check_on_push: bool = False  # the server's post-receive hook runs `monitor check` (built-in rules)
    trusted_rules: frozenset[str] = frozenset()  # alerts/rules.py blobs the user trusted here

    @classmethod
    def from_local(cls, local: Mapping[str, Any]) -> MonitorConsent:
        """From local.toml as read and checked (`config.load_local`)."""
        table = local.get("monitor", {})
        return cls(table.get("check_on_push", False), frozenset(table.get("trusted_rules", ())))
