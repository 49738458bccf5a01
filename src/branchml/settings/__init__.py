"""The sections of branchml.toml as records, each checked as it is read.

`check` runs on each settings file as `config.load` reads it (the committed branchml.toml, a tag's
copy, local.toml), after the type check, so a refused value is reported with the file it is in,
its section and key, and what is accepted (one line, exit 14). The records are then built from
the merged settings, where defaults give every key a value:

- `records`: `[store]`, `[checkout]`, `[merge]`, `[serve]`, `[diff]`, `[rerun]`;
- `monitor`: `[monitor]` and `[monitor.thresholds]` (`MonitorSettings`, `Thresholds`), and the
  consent keys only local.toml may hold (`MonitorConsent`);
- `split`: `[split]`, the split a data/split branch saved (`SplitSettings`).

`[data]`, `[run]` and `[roles]`/`[paths]` are records of their packages (`data.settings`,
`runs.settings`, `roles`). `[release] include` stays loose on purpose: it is read from old tags'
own files, and a stricter check now must not make an old tag unreleasable (runs/contents.py).

None of these settings redirects traffic or runs a command from a committed file: the keys that
could (remotes, the monitor's consent keys) are honoured only from local.toml or after local
consent (`remote/settings.py`, `MonitorConsent`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from branchml.errors import SettingError
from branchml.settings import monitor, split
from branchml.settings.checks import Check, refuse, refuse_unknown
from branchml.settings.monitor import (
    DEFAULT_THRESHOLDS,
    MonitorConsent,
    MonitorSettings,
    Thresholds,
)
from branchml.settings.records import (
    LINK_MODES,
    REFUSED_LINKS,
    CheckoutSettings,
    DiffSettings,
    MergeKeys,
    MergeSettings,
    RerunSettings,
    ServeSettings,
    StoreSettings,
)
from branchml.settings.records import SECTIONS as RECORD_SECTIONS
from branchml.settings.split import SplitSettings

__all__ = [
    "LINK_MODES", "REFUSED_LINKS", "SECTIONS", "CheckoutSettings", "DEFAULT_THRESHOLDS", "DiffSettings", "MergeKeys",
    "MergeSettings", "MonitorConsent", "MonitorSettings", "RerunSettings", "ServeSettings", "SplitSettings",
    "StoreSettings", "Thresholds", "check",
]

SECTIONS: dict[str, dict[str, Check]] = {**RECORD_SECTIONS, "monitor": monitor.CHECKS, "split": split.CHECKS}


def check(settings: Mapping[str, Any], where: str, *, local: bool = False) -> None:
    """Refuse an unknown key or a refused value in the sections above, naming file, section and key.

    Types of settings with a default are checked before (`config.check_types`); each check here
    also refuses a wrong type itself, for the keys without defaults. `local`: the file is
    local.toml, the one place the monitor's consent keys count."""
    for section, checks in SECTIONS.items():
        table = settings.get(section)
        if table is None:
            continue
        if not isinstance(table, dict):
            raise SettingError(f"{where}: setting {section} must be a table, not {table!r}",
                               hint=f"write it as [{section}] in {where}")
        for key, value in table.items():
            if key not in checks:
                refuse_unknown(where, section, key, list(checks))
            _check_value(section, key, value, checks[key], where)
    _check_monitor(settings.get("monitor"), where, local)


def _check_value(section: str, key: str, value: Any, check_one: Check, where: str) -> None:
    if section == "checkout" and key == "link" and value in REFUSED_LINKS:
        raise SettingError(f"{where}: [checkout] link = {value!r} is refused: an edit through a {value} would "
                           "change the stored copy every other checkout uses",
                           hint='use link = "reflink" (copy-on-write) or "copy"')
    accepted = check_one(value)
    if accepted is not None:
        refuse(where, section, key, accepted, value)


def _check_monitor(table: Mapping[str, Any] | None, where: str, local: bool) -> None:
    if table is None:
        return
    if not local:
        monitor.check_local_only(table, where)
    if "thresholds" in table:
        monitor.check_thresholds(table["thresholds"], where)
