"""Branches with roles: create one, list them, verify their commits."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from branchml.errors import BranchmlError
from branchml.git import plumbing, porcelain
from branchml.roles.hooks import branch_heads, client_policy, current_branch
from branchml.roles.rules import RefUpdate, Violation, check

if TYPE_CHECKING:
    from branchml.repo import Repo


@dataclass(frozen=True)
class BranchInfo:
    branch: str
    role: str | None
    head: str
    date: str  # committer date of the head, ISO 8601: the branch's last activity
    subject: str
    current: bool
    latest_tag: str | None  # nearest tag reachable from the head
    tags_at_head: list[str]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def create_branch(repo: Repo, name: str, start: str | None = None, *, any_role: bool = False) -> str:
    """Create `name` (from `start`, default HEAD) and switch to it; refuses names without a role."""
    policy = client_policy(repo)
    role = policy.role("refs/heads/" + name)
    if role is None and not any_role:
        globs = ", ".join(glob for glob, _ in policy.globs)
        raise BranchmlError(f"branch name {name!r} has no role (roles are given to: {globs})",
                            hint="pick a name such as dev/<topic> or stable/<customer>, add a glob under "
                                 "[roles.branches] in branchml.toml, or pass --force-role")
    if not plumbing.valid_branch_name(repo.cwd, name):
        raise BranchmlError(f"{name!r} is not a valid Git branch name", hint="see `git help check-ref-format`")
    if plumbing.rev_parse(repo.cwd, f"refs/heads/{name}"):
        raise BranchmlError(f"branch {name} already exists", hint=f"switch to it with `git switch {name}`")
    if start and not plumbing.commit_id(repo.cwd, start):
        raise BranchmlError(f"--from {start!r} is not a commit, branch or tag here", hint="see `branchml branches`")
    porcelain.switch(repo.cwd, name, create=True, start=start)
    return role or ""


def list_branches(repo: Repo) -> list[BranchInfo]:
    policy = client_policy(repo)
    current = current_branch(repo)
    rows = plumbing.ref_rows(repo.cwd, ["refs/heads/"], ["refname", "objectname", "committerdate:iso-strict", "subject"])
    heads = [row[1] for row in rows]
    latest = _latest_tags(repo, heads)
    at = _tags_by_commit(repo)
    return [BranchInfo(ref.removeprefix("refs/heads/"), policy.role(ref), head, date, subject, ref == current,
                       latest.get(head), at.get(head, [])) for ref, head, date, subject in rows]


def _latest_tags(repo: Repo, commits: list[str]) -> dict[str, str]:
    """The nearest tag of each commit, in one `git describe` (a commit without one describes as itself)."""
    return plumbing.nearest_tags(repo.cwd, commits)


def _tags_by_commit(repo: Repo) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for obj, peeled, name in plumbing.ref_rows(repo.cwd, ["refs/tags/"], ["objectname", "*objectname", "refname:strip=2"]):
        found.setdefault(peeled or obj, []).append(name)
    return found


def verify(repo: Repo, revision: str | None = None, branch: str | None = None) -> list[Violation]:
    """Check the role rules on `revision` (`A..B`, or a branch/commit; default HEAD) as commits of `branch`."""
    update, heads = verify_update(repo, revision, branch)
    return check(repo, [update], client_policy(repo), heads)


def verify_update(repo: Repo, revision: str | None, branch: str | None) -> tuple[RefUpdate, dict[str, str]]:
    """`revision` as the ref update `check` judges, and the other branches (the view)."""
    revision = revision or "HEAD"
    old, _, new = revision.rpartition("..") if ".." in revision else ("", "", revision)
    ref = _branch_ref(repo, branch, new)
    new_sha = _commit(repo, new or "HEAD")
    old_sha = _commit(repo, old) if old else _default_base(repo, ref, new_sha)
    heads = branch_heads(repo)
    heads.pop(ref, None)
    return RefUpdate(ref, old_sha, new_sha), heads


def _branch_ref(repo: Repo, branch: str | None, tip: str) -> str:
    if branch:
        return "refs/heads/" + branch.removeprefix("refs/heads/")
    name = plumbing.full_ref_name(repo.cwd, tip or "HEAD") or ""
    if name.startswith("refs/heads/"):
        return name
    raise BranchmlError(f"cannot tell which branch {tip or 'HEAD'!r} is", hint="name it: branchml verify RANGE --branch <name>")


def _commit(repo: Repo, rev: str) -> str:
    sha = plumbing.commit_id(repo.cwd, rev)
    if not sha:
        raise BranchmlError(f"{rev!r} is not a commit here", hint="give a range such as origin/main..HEAD")
    return sha


def _default_base(repo: Repo, ref: str, tip: str) -> str | None:
    """Where the branch's own commits start: its fork from its upstream, else from main.

    None (every commit of the branch) when neither exists, or for main itself without an upstream.
    """
    for other in (f"{ref}@{{upstream}}", "refs/heads/main"):
        if other == ref or not plumbing.rev_parse(repo.cwd, other):
            continue
        base = plumbing.merge_base(repo.cwd, other, tip)
        if base:
            return base
    return None

