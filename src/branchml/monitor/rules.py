"""Running the alert code committed on a monitor branch, and the local consent it needs.

`alerts/rules.py` is code from a branch: it may come from a teammate's push or a fetched remote.
Like a tag's predict code for `branchml serve`, it runs in branchml's process with the user's rights,
so branchml runs a committed file only when its blob id is trusted here: the built-in scaffold
always is; any other version needs `branchml monitor trust --env ENV` (which shows the file and
records its blob id in the uncommitted `<common dir>/branchml/local.toml`). A changed file is a
new blob and needs consent again. Committed settings can never grant it.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from branchml import config
from branchml.errors import BranchmlError
from branchml.git import plumbing
from branchml.monitor.branch import commit_files
from branchml.monitor.scaffold import RULES_PATH, SCAFFOLD
from branchml.repo import Repo
from branchml.settings import MonitorConsent

LOCAL_KEY = "trusted_rules"  # in local.toml's [monitor] only (MonitorConsent)


@dataclass(frozen=True)
class Rules:
    """The rule set one check runs."""

    source: str  # "committed" or "built-in"
    blob: str | None  # blob id of the committed file (None: built-in)
    note: str  # why this set runs (shown in the report)
    thresholds: dict[str, Any]
    alerts: Callable[[dict[str, Any]], Any]


def committed_blob(repo: Repo, commit: str) -> str | None:
    found = [e for e in plumbing.ls_tree(repo.cwd, commit, [RULES_PATH]) if e.type == "blob"]
    return found[0].oid if found else None


def scaffold_blob(repo: Repo) -> str:
    return plumbing.hash_object(repo.cwd, SCAFFOLD.encode(), write=False)


def trusted(repo: Repo) -> set[str]:
    return set(MonitorConsent.from_local(config.load_local(repo.store_dir)).trusted_rules) | {scaffold_blob(repo)}


def trust(repo: Repo, blob: str) -> None:
    """Record the user's consent to run the rules file `blob` in this repository."""
    path = repo.store_dir / "local.toml"
    local = config.read_toml(path)
    section = local.setdefault("monitor", {})
    section[LOCAL_KEY] = sorted(set(section.get(LOCAL_KEY, [])) | {blob})
    config.write_toml(path, local)


def load(repo: Repo, env: str, commit: str, *, untrusted: str = "refuse") -> Rules:
    """The rules committed at `commit` of monitor/<env>; `untrusted`: "refuse" or "built-in"."""
    blob = committed_blob(repo, commit)
    if blob is None:
        return _compile(SCAFFOLD, "built-in", None, f"monitor/{env} has no {RULES_PATH}: the built-in rules ran "
                        f"(`branchml monitor scaffold --env {env}` commits them for editing)")
    if blob not in trusted(repo):
        if untrusted == "built-in":
            return _compile(SCAFFOLD, "built-in", None, f"{RULES_PATH} (blob {blob[:12]}) is not trusted here: "
                            "the built-in rules ran instead")
        raise BranchmlError(f"monitor/{env}:{RULES_PATH} (blob {blob[:12]}) is code nobody trusted in this clone yet",
                            hint=f"read it (`git show monitor/{env}:{RULES_PATH}`), then `branchml monitor trust --env {env}`")
    with plumbing.CatFile(repo.cwd) as cat:
        source = cat.blob(blob).decode("utf-8", errors="replace")
    return _compile(source, "committed", blob, f"monitor/{env}:{RULES_PATH} as committed")


def _compile(source: str, kind: str, blob: str | None, note: str) -> Rules:
    origin = f"{RULES_PATH}@{blob[:12]}" if blob else f"{RULES_PATH} (built-in)"
    namespace: dict[str, Any] = {"__name__": "branchml_alert_rules", "__file__": origin}
    try:
        exec(compile(source, origin, "exec"), namespace)  # noqa: S102 (trusted by the user: see the module docstring)
    except Exception as exc:
        raise BranchmlError(f"{origin} failed to load: {_where(exc)}", hint=f"fix {RULES_PATH} and commit it") from exc
    alerts = namespace.get("alerts")
    if not callable(alerts):
        raise BranchmlError(f"{origin} defines no function alerts(report)", hint="see docs/alerts.md")
    thresholds = namespace.get("THRESHOLDS", {})
    if not isinstance(thresholds, dict):
        raise BranchmlError(f"{origin}: THRESHOLDS must be a dict", hint="see docs/alerts.md")
    return Rules(kind, blob, note, thresholds, alerts)


def run_alerts(rules: Rules, report: dict[str, Any]) -> list[str]:
    """The alerts the rules raise on `report`: a list of one-line strings."""
    try:
        found = rules.alerts(report)
    except Exception as exc:
        raise BranchmlError(f"{RULES_PATH}: alerts(report) failed: {_where(exc)}", hint=f"fix {RULES_PATH} and commit it") from exc
    if not isinstance(found, list | tuple) or not all(isinstance(a, str) for a in found):
        raise BranchmlError(f"{RULES_PATH}: alerts(report) must return a list of strings, not {found!r:.80}",
                            hint="return e.g. [finding['message'] for finding in ...]")
    return list(found)


def _where(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(RULES_PATH)]
    line = f" (line {frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{line}"


def current_env(repo: Repo, env: str | None) -> str:
    """`env`, else the env of the checked-out monitor/<env> branch (what `monitor check` runs on)."""
    if env:
        return env
    head = plumbing.head_ref(repo.cwd) or ""
    if head.startswith("refs/heads/monitor/"):
        return head.removeprefix("refs/heads/monitor/")
    raise BranchmlError("which environment? not on a monitor/<env> branch", hint="pass --env prod (or git switch monitor/prod)")


def rules_to_trust(repo: Repo, env: str) -> tuple[str, str]:
    """(blob, source text) of monitor/<env>'s committed rules file: what `trust` shows before asking."""
    commit = plumbing.rev_parse(repo.cwd, f"refs/heads/monitor/{env}^{{commit}}")
    blob = committed_blob(repo, commit) if commit else None
    if blob is None:
        raise BranchmlError(f"monitor/{env} has no {RULES_PATH}", hint=f"branchml monitor scaffold --env {env}")
    with plumbing.CatFile(repo.cwd) as cat:
        return blob, cat.blob(blob).decode("utf-8", errors="replace")


def scaffold_rules(repo: Repo, env: str) -> str:
    """Commit the default rules file onto monitor/<env> (branches made before it existed); the commit."""
    commit = plumbing.rev_parse(repo.cwd, f"refs/heads/monitor/{env}^{{commit}}")
    if commit and committed_blob(repo, commit):
        raise BranchmlError(f"monitor/{env} already has {RULES_PATH}", hint=f"edit it: git switch monitor/{env}")
    return commit_files(repo.cwd, env, {RULES_PATH: SCAFFOLD.encode()}, f"monitor/{env}: default alert rules")
