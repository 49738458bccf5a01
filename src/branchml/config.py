"""branchml.toml: the project's committed settings, plus the user's uncommitted local ones.

The committed file travels with clones and is untrusted input: keys that could run commands or
redirect traffic are only honoured from the local file (`<common dir>/branchml/local.toml`) or
after the user consents locally (see `trusted_keys`).
"""

from __future__ import annotations

import copy
import os
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from branchml import settings
from branchml.errors import BranchmlError, SettingError
from branchml.files import write_atomic

FILE_NAME = "branchml.toml"

DEFAULTS: dict[str, Any] = {
    "branchml": {"version": 1},
    "remotes": {},
    # inline_below: tracked files smaller than this stay inline in Git (README, "Small files").
    # checkout_in_git_max: larger files are written by branchml after checkout, not by Git, which
    # would hold each whole file in its memory (README, "Very large files"; docs/materialise.md).
    "store": {"inline_below": 0, "checkout_in_git_max": 64 << 20},
    # How branchml writes checked-out files (docs/adoption.md, "reflinks"): "copy", or "reflink" to
    # clone them from whole-file copies kept in the store where the file system can (else copy).
    # With reflink, files of at least link_min_size are written by the checkout hook, not by Git.
    "checkout": {"link": "copy", "link_min_size": 1 << 20},
    # Merge drivers (docs/merge.md): key columns per driver, by path glob; in-memory size limit.
    "merge": {
        "max_bytes": 1 << 30,
        "rows": {"key": "", "keys": {}},
        "jsonlist": {"key": "", "keys": {}},
    },
    # Branch roles (docs/roles.md): branch glob -> role, first match wins; a role "" means none.
    # client_hooks: "warn" (commit/push hooks print violations) or "refuse"; the server always refuses.
    # by_type: kinds decided by file type before folder (`models/train.py` is code; docs/roles.md).
    "roles": {
        "client_hooks": "warn",
        "by_type": ["code"],
        "branches": {
            "main": "main", "data/raw": "data/raw", "data/clean": "data/clean", "data/split": "data/split",
            "dev/*": "dev", "stable/*": "stable", "monitor/*": "monitor", "ds/*": "ds",
        },
        "rules": {
            "data/raw": {"append_only": ["*"], "trailers": ["Data-Source"], "keep_history": True},
            "stable": {"merge_only": ["code"], "merge_from": "dev"},
            "main": {"forbid": ["model", "data"]},
            "monitor": {"append_only": ["logs"], "grow": True, "keep_history": True},
        },
    },
    # Path kinds the role rules speak of (gitignore-style globs); the first kind that matches wins.
    "paths": {
        "tracking": ["tracking/**", "mlruns/**"],
        "logs": ["logs/**"],
        "docs": ["*.md", "*.rst", "docs/**", "LICENSE*"],
        "model": ["models/**", "checkpoints/**", "*.pt", "*.pth", "*.ckpt", "*.onnx", "*.skops",
                  "*.safetensors", "*.joblib", "*.h5"],
        "data": ["data/**", "*.csv", "*.tsv", "*.parquet", "*.jsonl", "*.sqlite", "*.db", "*.arrow",
                 "*.feather", "*.npy", "*.npz"],
        "code": ["src/**", "tests/**", "*.py", "*.ipynb", "*.sh", "Dockerfile", "*.dockerfile",
                 "Makefile", "requirements*.txt", "pyproject.toml", "setup.cfg", "setup.py"],
    },
    # `branchml run` (see docs/runs.md); steps run after the training command, in the branch's own tree.
    "run": {
        "metrics": "metrics.json",
        "params": "params.json",
        "steps": [],
        "tracking_branch": "main",
        "task": "other",
    },
    # data flow (branchml.data): `dir` is what `data pull` copies by default and where splits go,
    # `uploads` where `data add` puts each upload, `reports` where `data clean` commits its reports
    "data": {"dir": "data", "uploads": "data/uploads", "reports": "reports"},
    # `branchml serve TAG` reads these from the tag's own commit (docs/serve.md): the inference entry
    # point `file.py:function`, the model file (.skops, .onnx or .safetensors), the input schema file, extra trusted skops types.
    "serve": {"predict": "", "model": "", "input_schema": "", "trusted_types": []},
    # Drift baseline and alerts (docs/alerts.md): `branchml run` summarises the training file `data`
    # (features: [] = every column but `target`) into `baseline`; `thresholds` (per feature too) tune
    # `branchml monitor check`, over the defaults of the monitor branch's alerts/rules.py.
    # store_above: log parts of at least this many bytes go to the chunk store (docs/monitor.md, "Push").
    # check_on_push and trusted_rules run code: honoured from local.toml only (settings/monitor.py).
    "monitor": {"data": "", "features": [], "categorical": [], "target": "", "baseline": "models/baseline.json",
                "sample": 1000, "bins": 10, "thresholds": {}, "store_above": 1 << 20},
}


def merge_dicts(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Deep merge: `over` wins, tables merge key by key."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_dicts(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_toml(text: str, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BranchmlError(f"{where}: not valid TOML: {exc}", hint=f"fix {where} and retry") from exc


def read_toml(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    return parse_toml(path.read_text(encoding="utf-8"), str(path))


_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string", list: "a list",
               dict: "a table"}


def check_types(settings: dict[str, Any], where: str, defaults: dict[str, Any] = DEFAULTS, table: str = "") -> None:
    """Every setting that has a default must have the default's type: else one error naming file and setting."""
    for key, value in settings.items():
        default = defaults.get(key)
        if default is None:
            continue  # a free-form name (a remote, a glob) or a setting without a default
        name = f"[{table}] {key}" if table else key
        if isinstance(default, dict):
            if not isinstance(value, dict):
                _wrong_type(where, name, value, dict)
            check_types(value, where, default, f"{table}.{key}" if table else key)
        elif type(value) is not type(default):  # exact: true is not an integer here
            _wrong_type(where, name, value, type(default))


def _wrong_type(where: str, name: str, value: Any, expected: type) -> None:
    got = _TYPE_NAMES.get(type(value), type(value).__name__)
    raise SettingError(f"{where}: setting {name} must be {_TYPE_NAMES[expected]}, not {got} {value!r}",
                       hint=f"fix {name} in {where}")


def load(root: Path | None, store_dir: Path | None = None, committed_text: str | None = None,
         committed_name: str = FILE_NAME) -> dict[str, Any]:
    """Defaults <- committed branchml.toml (work tree, or `committed_text` read from a commit, named
    `committed_name` in errors, e.g. "acme-2:branchml.toml") <- local.toml; each file checked as read."""
    if committed_text is not None:
        where = committed_name
        committed = parse_toml(committed_text, where)
    else:
        where = str(root / FILE_NAME) if root is not None else FILE_NAME
        committed = read_toml(root / FILE_NAME) if root is not None else {}
    checked(committed, where)
    cfg = merge_dicts(DEFAULTS, committed)
    if store_dir is not None:
        cfg = merge_dicts(cfg, load_local(store_dir))
    return cfg


def load_local(store_dir: Path) -> dict[str, Any]:
    """The user's uncommitted `<common dir>/branchml/local.toml` alone, checked (empty when absent)."""
    path = store_dir / "local.toml"
    return checked(read_toml(path), str(path), local=True)


def load_section(committed_text: str, where: str, section: str) -> dict[str, Any]:
    """One section of a commit's branchml.toml (a tag's own, say), checked, over its defaults.

    Only that section is checked: an old commit's other sections are not this reader's business."""
    table = {section: parse_toml(committed_text, where).get(section, {})} if committed_text else {}
    checked(table, where)
    return merge_dicts({section: DEFAULTS.get(section, {})}, table)


def checked(table: dict[str, Any], where: str, *, local: bool = False) -> dict[str, Any]:
    """One settings file's tables, their types and the values of the record sections checked
    (`local`: it is local.toml, where the keys that need local consent may be set)."""
    check_types(table, where)
    settings.check(table, where, local=local)
    return table


def write_toml(path: Path, data: dict[str, Any]) -> None:
    write_atomic(path, tomli_w.dumps(data).encode())


# `BRANCHML_SKIP_SMUDGE=1 git clone URL` leaves tracked files as pointers (like GIT_LFS_SKIP_SMUDGE):
# read at every smudge and checkout hook, so it applies to exactly the commands it is set for.
SKIP_SMUDGE_ENV = "BRANCHML_SKIP_SMUDGE"


def skip_smudge() -> bool:
    return os.environ.get(SKIP_SMUDGE_ENV, "").strip().lower() not in ("", "0", "false", "no")
