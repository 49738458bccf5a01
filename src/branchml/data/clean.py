"""`data clean`: drop broken files and unparsable rows on the clean branch, with a report of each drop.

Reads the committed files of the data folder (never a half-edited work tree), applies the built-in
rules and the user's committed rules, and commits the removals, the rewritten row files and a JSON
report (`reports/clean-<UTC time>.json`) in one commit, with a `Data-Cleaned: <rules>` trailer.
Cleaning clean data changes nothing; files that passed the same rules before are not read again.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field

from branchml.data import rules as builtin
from branchml.data.change import ChangeSet, commit_changes
from branchml.data.rows import UnreadableFile, read_row_file, row_format
from branchml.data.settings import data_settings, repo_folder
from branchml.data.tree import (
    Entry,
    file_content,
    head_commit,
    iter_contents,
    ls_tree,
    read_blobs,
    require_role,
)
from branchml.errors import BranchmlError
from branchml.git import plumbing
from branchml.repo import Repo

ROLES = ("data/clean",)
RULES_VERSION = "builtin-1"  # bump when a built-in rule changes, so the next clean checks every file

CLEAN_REPORT_FORMAT = 1  # the `format` of committed clean reports (docs/formats.md)


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
    since: str | None = None  # the clean commit after which files were checked (None: all files)


def clean(repo: Repo, rules_script: str | None = None, everything: bool = False) -> CleanResult:
    """Check the data folder and commit the drops with a report.

    Files unchanged since the last clean commit made with the same rules are not checked again
    (they passed then); `everything` checks every file.
    """
    require_role(repo, ROLES, "data clean")
    settings = data_settings(repo)
    head = head_commit(repo)
    user = _user_rules(repo, head, rules_script) if rules_script else None
    entries = [e for e in ls_tree(repo, head, settings.dir) if e.path != (user.script if user else None)]
    rules_id = RULES_VERSION + (f" {user.script}@{user.blob}" if user else "")
    since = None if everything else last_cleaned(repo, head, rules_id)
    if since and head:  # a last clean implies a head
        entries = [e for e in entries if e.path in changed_since(repo, since, head, settings.dir)]
    changes = ChangeSet()
    result = CleanResult(None, None, len(entries), since=since)
    for entry, data in iter_contents(repo, entries):
        _clean_file(entry, data, user, changes, result)
    if not changes:
        return result
    result.report = f"{settings.reports}/clean-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%fZ}.json"
    changes.contents[result.report] = _report(head, user, result)
    message = f"Clean data: drop {len(result.dropped_files)} file(s) and {len(result.dropped_rows)} row(s)"
    result.commit = commit_changes(repo, changes, message, [("Data-Cleaned", rules_id)])
    return result


def last_cleaned(repo: Repo, head: str | None, rules_id: str) -> str | None:
    """The last clean commit, if it used the same rules (else everything must be checked again)."""
    if head is None:
        return None
    found = plumbing.log_records(repo.cwd, [head], ["%H", "%(trailers:key=Data-Cleaned,valueonly)"],
                                 grep="Data-Cleaned: ", fixed=True, limit=1)
    if not found:
        return None
    commit, used = found[0]
    return commit if used.strip() == rules_id else None


def changed_since(repo: Repo, old: str, new: str, folder: str) -> set[str]:
    return {d.path for d in plumbing.diff_tree(repo.cwd, old, new, [folder], diff_filter="AMT")}


def _clean_file(entry: Entry, data: bytes, user: builtin.UserRules | None, changes: ChangeSet, result: CleanResult) -> None:
    problem = file_problem(entry.path, data, user)
    if problem is None and row_format(entry.path):
        problem = _clean_rows(entry.path, data, user, changes, result)
    if problem is not None:
        rule, reason = problem
        changes.removals.add(entry.path)
        result.dropped_files.append(Drop(entry.path, rule, reason))


def file_problem(path: str, data: bytes, user: builtin.UserRules | None) -> tuple[str, str] | None:
    """(rule, reason) of the first rule that rejects the whole file, or None."""
    for name, rule in builtin.BUILTIN_FILE_RULES.items():
        reason = rule(path, data)
        if reason:
            return name, reason
    reason = user.file_problem(path, data) if user else None
    return ("user:check_file", reason) if reason else None


def _clean_rows(path: str, data: bytes, user: builtin.UserRules | None, changes: ChangeSet, result: CleanResult) -> tuple[str, str] | None:
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


def _user_rules(repo: Repo, head: str | None, script: str) -> builtin.UserRules:
    path = repo_folder(script, "--rules")
    entry = next((e for e in ls_tree(repo, head, path) if e.path == path), None)
    if entry is None:
        raise BranchmlError(
            f"--rules {script}: no such file committed on this branch",
            hint=f"commit it first (`git add {path} && git commit`): the rules that run are the committed ones",
        )

    source = file_content(repo, read_blobs(repo, [entry.sha])[entry.sha], path)
    return builtin.load_user_rules(path, entry.sha, source)


def _report(head: str | None, user: builtin.UserRules | None, result: CleanResult) -> bytes:
    report = {
        "format": CLEAN_REPORT_FORMAT,
        "cleaned_commit": head,
        "checked_since": result.since,
        "rules": [*builtin.BUILTIN_FILE_RULES, "bad-row", "bad-rows"],
        "user_rules": {"script": user.script, "blob": user.blob} if user else None,
        "checked_files": result.checked_files,
        "dropped_files": [asdict(d) for d in result.dropped_files],
        "dropped_rows": [asdict(d) for d in result.dropped_rows],
    }
    return (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode()
