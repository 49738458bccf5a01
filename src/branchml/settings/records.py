"""The [store], [checkout], [merge], [serve], [diff] and [rerun] sections of branchml.toml, as records,
and the checks of their values (`SECTIONS`, run by `settings.check` as each file is read)."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from branchml.settings.checks import Check, non_negative, positive, size, text

LINK_MODES = ("copy", "reflink")
# Refused with their reason: an edit through the link would change the copy every checkout shares.
REFUSED_LINKS = ("hardlink", "symlink")


@dataclass(frozen=True)
class StoreSettings:
    inline_below: int  # tracked files smaller than this stay inline in Git (README, "Small files")
    checkout_in_git_max: int  # larger files are written by branchml after checkout (docs/materialise.md)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> StoreSettings:
        table = cfg["store"]
        return cls(table["inline_below"], table["checkout_in_git_max"])


@dataclass(frozen=True)
class CheckoutSettings:
    link: str  # "copy", or "reflink": clones of whole-file copies kept in the store (docs/adoption.md)
    link_min_size: int  # with reflink, files this large are written by the checkout hook, not by Git

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> CheckoutSettings:
        table = cfg["checkout"]
        return cls(table["link"], table["link_min_size"])


@dataclass(frozen=True)
class MergeKeys:
    """`[merge.<driver>]`: the key column(s) of a table, per path glob (`keys`, first match) or for all."""

    key: str
    keys: dict[str, str] = field(default_factory=dict)

    def key_for(self, path: str) -> str:
        """The key for `path` ("" for none): fnmatch globs, where `*` also matches `/` (docs/merge.md)."""
        for pattern, key in self.keys.items():
            if fnmatch.fnmatchcase(path, pattern):
                return key
        return self.key


@dataclass(frozen=True)
class MergeSettings:
    max_bytes: int  # what a driver may hold in memory (a JSON object side)
    rows: MergeKeys
    jsonlist: MergeKeys

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> MergeSettings:
        table = cfg["merge"]
        return cls(table["max_bytes"], _merge_keys(table["rows"]), _merge_keys(table["jsonlist"]))


@dataclass(frozen=True)
class ServeSettings:
    """`[serve]`, read from the served tag's own commit (docs/serve.md)."""

    predict: str  # "file.py:function" or "package.module:function"; "" for an .onnx model
    model: str  # the model file (.skops, .onnx or .safetensors)
    input_schema: str  # the input schema file, or ""
    trusted_types: list[str] = field(default_factory=list)  # skops types trusted beyond its safe list

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> ServeSettings:
        table = cfg["serve"]
        return cls(table["predict"].strip(), table["model"].strip(), table["input_schema"].strip(),
                   list(table["trusted_types"]))


@dataclass(frozen=True)
class DiffSettings:
    """`[diff]` (docs/audit.md): sizes up to which `branchml diff` compares rows and textconv prints text."""

    rows_max_bytes: int = 256 << 20
    textconv_max_bytes: int = 16 << 20

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> DiffSettings:
        return cls(**cfg.get("diff", {}))


@dataclass(frozen=True)
class RerunSettings:
    """`[rerun]` (docs/audit.md): how far a re-run's metrics may differ, relative and absolute."""

    tolerance: float = 1e-9
    metrics: dict[str, float] = field(default_factory=dict)  # per metric, over `tolerance`

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> RerunSettings:
        table = cfg.get("rerun", {})
        return cls(float(table.get("tolerance", cls.tolerance)),
                   {str(k): float(v) for k, v in table.get("metrics", {}).items()})


def _merge_keys(table: Mapping[str, Any]) -> MergeKeys:
    return MergeKeys(table["key"], dict(table["keys"]))


def _link(value: Any) -> str | None:
    return None if value in LINK_MODES else " or ".join(f'"{mode}"' for mode in LINK_MODES)


def _entry_point(value: Any) -> str | None:
    if not isinstance(value, str):
        return "a string"
    file, sep, function = value.strip().rpartition(":")
    if not value.strip() or (sep and file.strip() and function.strip()):
        return None
    return '"" or an entry point "file.py:function" (or "package.module:function")'


def _type_names(value: Any) -> str | None:
    good = isinstance(value, list) and all(isinstance(v, str) and v for v in value)
    return None if good else "a list of type names (strings)"


def _tolerances(value: Any) -> str | None:
    good = isinstance(value, dict) and all(non_negative(v) is None for v in value.values())
    return None if good else "a table of metric = tolerance (numbers, 0 or more)"


def _key_table(value: Any) -> str | None:
    if not isinstance(value, dict) or set(value) - {"key", "keys"}:
        return 'a table of `key` (a column, or columns joined by ",") and `keys` (glob = key)'
    if not all(isinstance(k, str) for k in value.get("keys", {}).values()):
        return "a table whose `keys` map globs to key strings"
    return None


SECTIONS: dict[str, dict[str, Check]] = {
    "store": {"inline_below": size, "checkout_in_git_max": size},
    "checkout": {"link": _link, "link_min_size": size},
    "merge": {"max_bytes": positive, "rows": _key_table, "jsonlist": _key_table},
    "serve": {"predict": _entry_point, "model": text, "input_schema": text, "trusted_types": _type_names},
    "diff": {"rows_max_bytes": size, "textconv_max_bytes": size},
    "rerun": {"tolerance": non_negative, "metrics": _tolerances},
}
