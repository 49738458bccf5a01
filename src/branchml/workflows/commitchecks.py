"""Checks of what commits hold, beside the role rules: unresolved merges and raw bytes.

Client hooks can be skipped (or were never installed), so the same checks run where nobody can
skip them: `branchml verify` (CI) and the server's pre-receive hook. Both report in the role rules'
format (`Violation`), so one list says everything that is wrong with a range of commits.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from branchml import config
from branchml.errors import BranchmlError
from branchml.git import plumbing
from branchml.merge.unresolved import find_unresolved
from branchml.roles.branches import verify_update
from branchml.roles.hooks import branch_heads, client_policy, listing, server_config
from branchml.roles.rules import Policy, RefUpdate, Violation, check
from branchml.settings import StoreSettings
from branchml.workflows.rawbytes import commit_changes, fix_hint, raw_in_commits

if TYPE_CHECKING:
    from branchml.repo import Repo

ZERO = "0" * 40


class CommitsRefused(BranchmlError):
    """Pushed commits that hold unresolved merges or raw bytes; one line per file."""

    def __init__(self, found: list[Violation]) -> None:
        lines = "".join(listing(found)).rstrip("\n")
        super().__init__(f"{len(found)} file(s) in the pushed commits must not be committed as they are:\n{lines}",
                         hint="fix them in your clone as each line says, rewrite the commits that hold them, push again")
        self.violations = found


def commit_problems(repo: Repo, ref: str, commits: list[str], cfg: dict[str, Any], role: str) -> list[Violation]:
    """Raw bytes where pointers belong, and unresolved merge conflicts, in what `commits` add or change."""
    inline_below = StoreSettings.from_config(cfg).inline_below
    raw = raw_in_commits(repo, commits, inline_below)
    found = [Violation(ref, role, r.commit, r.path, "raw-bytes", f"{r.message()}; fix: {fix_hint([r.path], committed=True)}")
             for r in raw]
    for commit, entries in commit_changes(repo, commits).items():
        try:
            unresolved = find_unresolved(repo, entries, commit)
        except BranchmlError as exc:  # content neither here nor on a blob remote: say so, do not guess
            sys.stderr.write(f"branchml: warning: {commit[:12]}: cannot check for unresolved merges: {exc.message}\n")
            continue
        found += [Violation(ref, role, commit, u.path, "unresolved-merge", f"{u.reason}; {u.hint} and commit again")
                  for u in unresolved]
    return found


def verify(repo: Repo, revision: str | None = None, branch: str | None = None) -> list[Violation]:
    """`branchml verify`: the role rules and the content checks on a range of a branch."""
    policy = client_policy(repo)
    update, heads = verify_update(repo, revision, branch)
    found = check(repo, [update], policy, heads)
    return found + commit_problems(repo, update.ref, _range(repo, update, heads), _client_config(repo),
                                   policy.role(update.ref) or "-")


def verify_all(repo: Repo) -> list[Violation]:
    """`verify` on every local branch that has a role, each over its commits since its fork point."""
    policy = client_policy(repo)
    found = []
    for ref in branch_heads(repo):
        if policy.role(ref):
            name = ref.removeprefix("refs/heads/")
            found += verify(repo, name, name)
    return found


def _range(repo: Repo, update: RefUpdate, heads: dict[str, str]) -> list[str]:
    exclude = [update.old] if update.old else list(heads.values())
    revs = [update.new or "HEAD"] + [f"^{sha}" for sha in exclude if sha]
    return plumbing.rev_list(repo.cwd, [], stdin=revs)


def _client_config(repo: Repo) -> dict[str, Any]:
    return config.load(repo.root, repo.store_dir)


def pre_receive(repo: Repo, args: list[str], stdin: bytes) -> None:
    """Server: every commit the push brings (not yet on any ref) must pass the content checks."""
    cfg = server_config(repo)
    policy = Policy.from_config(cfg)
    found: list[Violation] = []
    seen: set[str] = set()
    for line in stdin.decode().splitlines():
        _old, new, ref = line.split()
        if new == ZERO:
            continue
        commits = [c for c in plumbing.rev_list(repo.cwd, [new, "--not", "--all"]) if c not in seen]
        seen.update(commits)
        found += commit_problems(repo, ref, commits, cfg, policy.role(ref) or "-")
    if found:
        raise CommitsRefused(found)
