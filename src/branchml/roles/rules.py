"""The role rules, checked by one function, `check`, over ref updates.

A ref update is what a push does (`<old> <new> <ref>`), what `branchml verify A..B` asks about, and,
with the staged tree standing in for the next commit, what `git commit` is about to do. The same
function serves the client hooks, `branchml verify` and the server's pre-receive hook, so the rules
cannot drift apart. How commits are chosen and why is written down in docs/roles.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from branchml.git import plumbing
from branchml.git.plumbing import DiffEntry
from branchml.roles import appendonly
from branchml.roles.names import role_globs, role_of
from branchml.roles.paths import PathKinds

if TYPE_CHECKING:
    from branchml.repo import Repo

@dataclass(frozen=True)
class RefUpdate:
    ref: str  # refs/heads/<branch>
    old: str | None  # None: the ref is created
    new: str | None  # None: the ref is deleted


@dataclass(frozen=True)
class Violation:
    ref: str
    role: str
    commit: str  # a commit id, or "(staged)"
    path: str  # "" when the rule is about the commit or the ref
    rule: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """One violation as `verify --json` prints it."""
        return {"ref": self.ref, "role": self.role, "commit": self.commit, "path": self.path, "rule": self.rule,
                "message": self.message}

    def line(self) -> str:
        branch = self.ref.removeprefix("refs/heads/")
        where = f" {self.path}:" if self.path else ":"
        return f"{self.commit[:12]} {branch} ({self.role}) [{self.rule}]{where} {self.message}"


@dataclass(frozen=True)
class Snapshot:
    """A commit to check: its id (or a label), the tree it records and its parents."""

    label: str
    tree: str
    parents: list[str]


@dataclass(frozen=True)
class RoleRules:
    """The rules of one role: its `[roles.rules.<role>]` table in branchml.toml (docs/roles.md)."""

    append_only: list[str] = field(default_factory=list)  # path kinds that may only be added ("*": every path)
    grow: bool = False  # an append-only file may grow (its new content starts with the old)
    forbid: list[str] = field(default_factory=list)  # kinds that may not be added or changed (deleting is fine)
    merge_only: list[str] = field(default_factory=list)  # kinds that change only by merging a merge_from branch
    merge_from: str = ""  # the role whose tips vouch for merge_only paths
    trailers: list[str] = field(default_factory=list)  # trailer keys every commit of the branch must carry
    keep_history: bool = False  # no force push, no deletion of the branch

    @classmethod
    def from_table(cls, table: dict[str, Any]) -> RoleRules:
        """Keys branchml does not know are left out, as they always were ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in table.items() if key in known})

    @property
    def is_free(self) -> bool:
        """No rule at all (dev/*, ds/*): nothing to walk."""
        return self == RoleRules()


FREE = RoleRules()  # the rules of a role without a table


@dataclass(frozen=True)
class Policy:
    """Roles of branches, kinds of paths and the rules of each role, from one loaded config."""

    globs: list[tuple[str, str]]
    kinds: PathKinds
    rules: dict[str, RoleRules]
    client_refuses: bool = False  # client hooks refuse (else they warn; the server always refuses)

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> Policy:
        roles = cfg.get("roles", {})
        refuses = roles.get("client_hooks", "warn") == "refuse"
        rules = {role: RoleRules.from_table(table) for role, table in roles.get("rules", {}).items()}
        return cls(role_globs(cfg), PathKinds.from_config(cfg), rules, refuses)

    def role(self, ref: str) -> str | None:
        return role_of(ref, self.globs) if ref.startswith("refs/heads/") else None

    def rules_for(self, role: str) -> RoleRules:
        return self.rules.get(role, FREE)


Change = DiffEntry  # a path changed between two trees (status A, D, M or T; renames are off)


@dataclass
class _Ctx:
    repo: Repo
    policy: Policy
    ref: str
    role: str
    rules: RoleRules
    view: dict[str, str]
    created: frozenset[str] = frozenset()  # refs this push creates: no merge source can be among them
    found: list[Violation] = field(default_factory=list)
    added: list[tuple[str, str]] = field(default_factory=list)  # (commit, path) added on append-only paths

    def add(self, commit: str, path: str, rule: str, message: str) -> None:
        self.found.append(Violation(self.ref, self.role, commit, path, rule, message))

    def tips_of(self, role: str) -> list[str]:
        return [sha for ref, sha in self.view.items() if self.policy.role(ref) == role]

    def source_tips(self) -> list[str]:
        """Tips of `merge_from` (dev/*) branches that existed before this push (their new tips if updated).

        A dev branch created by the same push cannot vouch for code: else a push could create
        `dev/hotfix` at a commit that wrote code on stable and pass that code off as dev's.
        """
        role = self.rules.merge_from
        return [sha for ref, sha in self.view.items() if role and self.policy.role(ref) == role and ref not in self.created]

    def forks_from(self, ref: str) -> bool:
        """May a created branch's commits be attributed to `ref`? Not to a merge source created with it."""
        if ref == self.ref:
            return False
        return not (ref in self.created and self.policy.role(ref) == self.rules.merge_from)


def check(repo: Repo, updates: list[RefUpdate], policy: Policy, view: dict[str, str]) -> list[Violation]:
    """Every rule violation in `updates`.

    `view` maps branch refs to their commits as they will be once the updates land (the server's refs,
    or a clone's remote-tracking refs). It says where a new branch forks (commits reachable from another
    branch belong to that branch) and which commits are dev work (reachable from a dev/* tip).
    """
    found: list[Violation] = []
    created = frozenset(u.ref for u in updates if u.old is None and u.new is not None)
    for update in updates:
        role = policy.role(update.ref)
        if role is None or policy.rules_for(role).is_free:
            continue  # no role, or a free one (dev/*, ds/*): nothing to walk
        ctx = _Ctx(repo, policy, update.ref, role, policy.rules_for(role), view, created)
        _check_update(ctx, update)
        found += ctx.found
    return found


def _check_update(ctx: _Ctx, update: RefUpdate) -> None:
    branch = update.ref.removeprefix("refs/heads/")
    keep = ctx.rules.keep_history
    if update.new is None:
        if keep:
            ctx.add(update.old or "", "", "history", f"deleting {branch} is refused: its history is the record "
                    "every other branch is traced to; keep it and start new work on another branch")
        return
    if update.old and keep and not _is_ancestor(ctx.repo, update.old, update.new):
        ctx.add(update.new, "", "history", f"this push rewrites the history of {branch} (not a fast-forward "
                f"of {update.old[:12]}); fetch it, add your commits on top of its tip, and push without --force")
        return
    snapshots = _new_commits(ctx, update, update.new)
    diffs = commit_changes(ctx.repo, snapshots)
    for snap in snapshots:
        check_snapshot(ctx, snap, diffs.get(snap.label, []))
    _check_case(ctx, update.new)
    _check_trailers(ctx, [s.label for s in snapshots])
    if update.old and ctx.rules.append_only:
        _check_net_effect(ctx, update.old, update.new)


def _new_commits(ctx: _Ctx, update: RefUpdate, new: str) -> list[Snapshot]:
    """The branch's own new commits, oldest first: its first-parent line, minus what other branches hold.

    On a created branch, commits reachable from any other branch are that branch's (the fork point).
    Commits reachable from a `merge_from` branch (dev/*) are dev work, judged by dev's rules.
    """
    exclude = [update.old] if update.old else [sha for ref, sha in ctx.view.items() if ctx.forks_from(ref)]
    if ctx.rules.merge_from:
        exclude += ctx.source_tips()
    revs = [new] + [f"^{sha}" for sha in exclude if sha]
    shas = plumbing.rev_list(ctx.repo.cwd, ["--first-parent"], stdin=revs)
    return commit_snapshots(ctx.repo, list(reversed(shas)))


def commit_snapshots(repo: Repo, shas: list[str]) -> list[Snapshot]:
    return [Snapshot(c.oid, c.tree, list(c.parents)) for c in plumbing.commit_heads(repo.cwd, shas)]


def check_staged(repo: Repo, ref: str, snap: Snapshot, policy: Policy, view: dict[str, str]) -> list[Violation]:
    """The path rules on a commit about to be made (`snap.tree` from `git write-tree`), for pre-commit."""
    role = policy.role(ref)
    if role is None:
        return []
    ctx = _Ctx(repo, policy, ref, role, policy.rules_for(role), view)
    check_snapshot(ctx, snap)
    _check_case(ctx, snap.tree)
    return ctx.found


def check_snapshot(ctx: _Ctx, snap: Snapshot, changes: list[Change] | None = None) -> None:
    """The path rules of the role on one commit (or the staged tree), against its first parent."""
    base = snap.parents[0] if snap.parents else empty_tree(ctx.repo)
    if changes is None:
        changes = tree_changes(ctx.repo, base, snap.tree)
    if ctx.rules.append_only:
        _check_append_only(ctx, snap, base, changes)
    if ctx.rules.forbid:
        _check_forbidden(ctx, snap, changes)
    if ctx.rules.merge_only:
        _check_merge_only(ctx, snap, changes)


def tree_changes(repo: Repo, old: str, new: str) -> list[Change]:
    """Changed paths between two tree-ishes."""
    return plumbing.diff_tree(repo.cwd, old, new)


def commit_changes(repo: Repo, snapshots: list[Snapshot]) -> dict[str, list[Change]]:
    """Each commit's changes against its first parent (a root commit: against nothing), in one git call."""
    return plumbing.diff_commits(repo.cwd, [(s.label, s.parents[0] if s.parents else None) for s in snapshots])


def empty_tree(repo: Repo) -> str:
    return plumbing.empty_tree(repo.cwd)


def _is_ancestor(repo: Repo, old: str, new: str) -> bool:
    return plumbing.is_ancestor(repo.cwd, old, new)


def _check_append_only(ctx: _Ctx, snap: Snapshot, base: str, changes: list[Change]) -> None:
    kinds = ctx.rules.append_only
    mine = [c for c in changes if ctx.policy.kinds.is_any(c.path, kinds)]
    for change in mine:
        problem = appendonly.problem(ctx.repo, change, base, snap.tree, bool(ctx.rules.grow))
        if problem:
            rule, message = problem
            ctx.add(snap.label, change.path, rule, message + _branch_hint(ctx))
    ctx.added += [(snap.label, c.path) for c in mine if c.status == "A"]


def _check_case(ctx: _Ctx, tip: str) -> None:
    for label, path, other in appendonly.case_collisions(ctx.repo, tip, ctx.added):
        ctx.add(label, path, "append-only", f"differs only in letter case from the existing {other}: on "
                "macOS and Windows it replaces that file, so it counts as a modification; choose a distinct name")


def _branch_hint(ctx: _Ctx) -> str:
    return f"; {ctx.ref.removeprefix('refs/heads/')} is append-only: commit new data under a new path"


def _check_net_effect(ctx: _Ctx, old: str, new: str) -> None:
    """Old tip -> new tip must only add: catches merges that drop files the first-parent line never saw."""
    reported = {v.path for v in ctx.found}
    changes = [c for c in tree_changes(ctx.repo, old, new) if c.status != "A" and c.path not in reported]
    _check_append_only(ctx, Snapshot(new, new, [old]), old, changes)


def _check_forbidden(ctx: _Ctx, snap: Snapshot, changes: list[Change]) -> None:
    forbidden = ctx.rules.forbid
    branch = ctx.ref.removeprefix("refs/heads/")
    for change in changes:
        kind = ctx.policy.kinds.kind_of(change.path)
        if change.status != "D" and kind in forbidden:
            ctx.add(snap.label, change.path, "forbidden", f"{kind} files do not belong on {branch} (problem "
                    f"definition, docs and tracking); commit them on the data/* or stable/* branch they come from")


def _check_merge_only(ctx: _Ctx, snap: Snapshot, changes: list[Change]) -> None:
    """Paths of `merge_only` kinds change only by merging a `merge_from` branch, exactly as its tip has them.

    The comparison is with a dev tip, not with the merged parent: a parent that is merely an ancestor
    of dev (the root commit, an old dev commit) would otherwise vouch for deleting or reverting code.
    """
    kinds, source_role = ctx.rules.merge_only, ctx.rules.merge_from
    touched = [c for c in changes if ctx.policy.kinds.is_any(c.path, kinds)]
    if not touched:
        return
    tips = ctx.source_tips()
    merged = [t for t in tips if any(_is_ancestor(ctx.repo, p, t) for p in snap.parents[1:])]
    wrong = _differing_paths(ctx.repo, touched, merged)
    branch = ctx.ref.removeprefix("refs/heads/")
    for change in touched:
        if change.path not in wrong:
            continue
        how = "a merge whose code differs from the merged dev branch's tip" if merged else "a commit that is not a merge of a dev/* branch"
        ctx.add(snap.label, change.path, "merge-only", f"code changed on {branch} by {how}; no code is written on "
                f"{ctx.role} branches: change it on a {source_role or 'dev'}/* branch, `git merge` that branch here "
                "and push both (the dev branch first)")


def _differing_paths(repo: Repo, touched: list[Change], tips: list[str]) -> set[str]:
    """Touched paths that differ from the best-matching tip (all of them when there is no tip)."""
    best = {c.path for c in touched}
    for tip in dict.fromkeys(tips):
        state = _path_states(repo, tip, [c.path for c in touched])
        wrong = {c.path for c in touched if state.get(c.path) != (None if c.status == "D" else (c.new_mode, c.new_oid))}
        if len(wrong) < len(best):
            best = wrong
    return best


def _path_states(repo: Repo, commit: str, paths: list[str]) -> dict[str, tuple[str, str]]:
    return {e.path: (e.mode, e.oid) for e in plumbing.ls_tree(repo.cwd, commit, paths)}


def _check_trailers(ctx: _Ctx, commits: list[str]) -> None:
    for key in ctx.rules.trailers:
        for commit in commits_missing_trailer(ctx.repo, commits, key):
            ctx.add(commit, "", "trailer", trailer_message(key, ctx.ref))


def commits_missing_trailer(repo: Repo, commits: list[str], key: str) -> list[str]:
    if not commits:
        return []
    rows = plumbing.log_records(repo.cwd, commits, ["%H", f"%(trailers:key={key},valueonly,separator=%x2C)"], no_walk=True)
    return [sha for sha, value in rows if not value.strip()]


def trailer_message(key: str, ref: str) -> str:
    branch = ref.removeprefix("refs/heads/")
    return (f"the commit message has no `{key}:` trailer; every commit on {branch} names where its data comes from, "
            f"e.g. git commit --trailer '{key}: s3://bucket/export-2024-05.csv'")
