"""`data clean`: drop broken files and unparsable rows on the clean branch, with a report of each drop.

Reads the committed files of the data folder (never a half-edited work tree), applies the built-in
rules and the user's committed rules, and commits the removals, the rewritten row files and a JSON
report (`reports/clean-<UTC time>.json`) in one commit. Cleaning clean data changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field

from branchml.data import rules as builtin
from branchml.data.change import ChangeSet, commit_changes
from branchml.data.rows import UnreadableFile, read_row_file, row_format
from branchml.data.settings import data_settings, repo_folder
from branchml.data.tree import Entry, head_commit, iter_contents, ls_tree, read_blobs, require_role
from branchml.errors import BranchmlError

ROLES = ("data/clean",)


@dataclass
class Drop:
    path: str
    rule: str
    reason: str
    row: int | None = None  # line (CSV, JSONL) or row number (Parquet) when one row is dropped


@dataclass
class CleanResult:
    commit: str | None  # None when nothing needed cleaning
    report: str | None
    checked_files: int
    dropped_files: list[Drop] = field(default_factory=list)
    dropped_rows: list[Drop] = field(default_factory=list)


def clean(repo, rules_script: str | None = None) -> CleanResult:
    require_role(repo, ROLES, "data clean")
    settings = data_settings(repo)
    head = head_commit(repo)
    user = _user_rules(repo, head, rules_script) if rules_script else None
    entries = [e for e in ls_tree(repo, head, settings["dir"]) if e.path != (user.script if user else None)]
    changes = ChangeSet()
    result = CleanResult(None, None, len(entries))
    for entry, data in iter_contents(repo, entries):
        _clean_file(entry, data, user, changes, result)
    if not changes:
        return result
    result.report = f"{settings['reports']}/clean-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S%fZ}.json"
    changes.contents[result.report] = _report(head, user, result)
    message = f"Clean data: drop {len(result.dropped_files)} file(s) and {len(result.dropped_rows)} row(s)"
    result.commit = commit_changes(repo, changes, message, [])
    return result


def _clean_file(entry: Entry, data: bytes, user, changes: ChangeSet, result: CleanResult) -> None:
    problem = file_problem(entry.path, data, user)
    if problem is None and row_format(entry.path):
        problem = _clean_rows(entry.path, data, user, changes, result)
    if problem is not None:
        rule, reason = problem
        changes.removals.add(entry.path)
        result.dropped_files.append(Drop(entry.path, rule, reason))


def file_problem(path: str, data: bytes, user) -> tuple[str, str] | None:
    """(rule, reason) of the first rule that rejects the whole file, or None."""
    for name, rule in builtin.BUILTIN_FILE_RULES.items():
        reason = rule(path, data)
        if reason:
            return name, reason
    reason = user.file_problem(path, data) if user else None
    return ("user:check_file", reason) if reason else None


def _clean_rows(path: str, data: bytes, user, changes: ChangeSet, result: CleanResult) -> tuple[str, str] | None:
    """Drop bad rows; a file-level problem when the file cannot be read or no row is left."""
    try:
        table = read_row_file(path, data)
    except UnreadableFile as exc:
        return "bad-rows", str(exc)
    keep, drops = [], []
    for row in table.rows:
        reason = row.error or (user.row_problem(path, row.value) if user else None)
        if reason:
            drops.append(Drop(path, "bad-row" if row.error else "user:check_row", reason, row.number))
        else:
            keep.append(row.number)
    if not drops:
        return None
    if not keep:
        return "bad-rows", f"no valid row left ({len(drops)} dropped)"
    result.dropped_rows.extend(drops)
    changes.contents[path] = table.subset(keep)
    return None


def _user_rules(repo, head: str | None, script: str) -> builtin.UserRules:
    path = repo_folder(script, "--rules")
    entry = next((e for e in ls_tree(repo, head, path) if e.path == path), None)
    if entry is None:
        raise BranchmlError(
            f"--rules {script}: no such file committed on this branch",
            hint=f"commit it first (`git add {path} && git commit`): the rules that run are the committed ones",
        )
    from branchml.data.tree import file_content

    source = file_content(repo, read_blobs(repo, [entry.sha])[entry.sha], path)
    return builtin.load_user_rules(path, entry.sha, source)


def _report(head: str | None, user, result: CleanResult) -> bytes:
    report = {
        "cleaned_commit": head,
        "rules": [*builtin.BUILTIN_FILE_RULES, "bad-row", "bad-rows"],
        "user_rules": {"script": user.script, "blob": user.blob} if user else None,
        "checked_files": result.checked_files,
        "dropped_files": [asdict(d) for d in result.dropped_files],
        "dropped_rows": [asdict(d) for d in result.dropped_rows],
    }
    return (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode()
