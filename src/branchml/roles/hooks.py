"""Hook handlers: the role rules at commit time, at push time, and on the server (pre-receive).

Client hooks give early feedback: by default they warn and let the commit or push go on (local
experiments stay easy; `[roles] client_hooks = "refuse"` makes them refuse), and they can be skipped
anyway (`--no-verify`). The server's pre-receive hook is where the rules hold. There the rules come
from branchml.toml on the server's `main` as it was before the push (a push cannot loosen the rules
it is checked by) and from the server's local.toml.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from branchml import config
from branchml.errors import BranchmlError
from branchml.git import plumbing
from branchml.git.hooks import mark_message_free
from branchml.roles.rules import (
    Policy,
    RefUpdate,
    Snapshot,
    Violation,
    check,
    check_staged,
    trailer_message,
)

if TYPE_CHECKING:
    from branchml.repo import Repo

MAIN_REF = "refs/heads/main"


class RulesRefused(BranchmlError):
    """One or more role rules are violated; the message lists them one per line."""

    def __init__(self, violations: list[Violation]) -> None:
        lines = "".join(listing(violations)).rstrip("\n")
        super().__init__(f"{len(violations)} branch role rule violation(s):\n{lines}",
                         hint="the rules and how to work with them: docs/roles.md (configurable in branchml.toml)")
        self.violations = violations


def client_policy(repo: Repo) -> Policy:
    return Policy.from_config(config.load(repo.root, repo.store_dir))


def server_policy(repo: Repo) -> Policy:
    return Policy.from_config(server_config(repo))


def server_config(repo: Repo) -> dict[str, Any]:
    """Settings from main's branchml.toml before the push; the defaults if that file is broken.

    Falling back (with a warning) keeps the server open for the push that repairs the file.
    """
    committed = committed_config(repo, MAIN_REF)
    try:
        return config.load(None, repo.store_dir, committed_text=committed)
    except BranchmlError as exc:
        sys.stderr.write(f"branchml: warning: {exc.message}; checking with the default rules\n")
        return config.load(None, repo.store_dir)


def committed_config(repo: Repo, commit: str) -> str | None:
    text = plumbing.read_blob(repo.cwd, f"{commit}:{config.FILE_NAME}")
    return text.decode(errors="replace") if text else None


def broken_config(repo: Repo, updates: list[RefUpdate]) -> list[Violation]:
    """A push must not put a branchml.toml on main that the next push could not be checked with."""
    found = []
    for update in updates:
        if update.ref == MAIN_REF and update.new:
            try:
                config.parse_toml(committed_config(repo, update.new) or "", config.FILE_NAME)
            except BranchmlError as exc:
                found.append(Violation(update.ref, "main", update.new, config.FILE_NAME, "config",
                                       f"{exc.message.splitlines()[0]}; fix the file and push again"))
    return found


def is_zero(sha: str) -> bool:
    return set(sha) == {"0"}


def branch_heads(repo: Repo, prefix: str = "refs/heads/") -> dict[str, str]:
    """refs under `prefix` -> commit, renamed to refs/heads/<branch>."""
    heads = {}
    for ref, sha in plumbing.ref_rows(repo.cwd, [prefix], ["refname", "objectname"]):
        heads["refs/heads/" + ref.removeprefix(prefix)] = sha
    return heads


def after(view: dict[str, str], updates: list[RefUpdate]) -> dict[str, str]:
    """The branches as they will be once `updates` land."""
    view = dict(view)
    for update in updates:
        if update.new is None:
            view.pop(update.ref, None)
        else:
            view[update.ref] = update.new
    return view


SHOWN = 10  # a commit of 50,000 files must not print 50,000 lines


def listing(violations: list[Violation]) -> list[str]:
    """The first violations, one line each, then how many more of each rule (`branchml verify` lists all)."""
    lines = [f"  {v.line()}\n" for v in violations[:SHOWN]]
    rest = violations[SHOWN:]
    if rest:
        counts: dict[str, int] = {}
        for v in rest:
            counts[v.rule] = counts.get(v.rule, 0) + 1
        by_rule = ", ".join(f"{n} [{rule}]" for rule, n in counts.items())
        lines.append(f"  ... and {len(rest)} more ({by_rule}); `branchml verify` lists them all\n")
    return lines


def refuse_if_any(violations: list[Violation]) -> None:
    if violations:
        raise RulesRefused(violations)


def report(policy: Policy, violations: list[Violation]) -> None:
    """Client hooks: refuse, or by default warn (a server with `branchml install --server` refuses)."""
    if not violations or policy.client_refuses:
        refuse_if_any(violations)
        return
    lines = "".join(listing(violations))
    sys.stderr.write(f"branchml: warning: {len(violations)} branch role rule violation(s):\n{lines}"
                     "  a server with `branchml install --server` refuses these; set [roles] client_hooks = "
                     "\"refuse\" in branchml.toml to refuse them here\n")


def pre_receive(repo: Repo, args: list[str], stdin: bytes) -> None:
    updates = []
    for line in stdin.decode().splitlines():
        old, new, ref = line.split()
        updates.append(RefUpdate(ref, None if is_zero(old) else old, None if is_zero(new) else new))
    view = after(branch_heads(repo), updates)
    refuse_if_any(broken_config(repo, updates) + check(repo, updates, server_policy(repo), view))


def pre_push(repo: Repo, args: list[str], stdin: bytes) -> None:
    """Same check as the server, against this clone's remote-tracking view of the remote."""
    remote = args[0] if args else ""
    policy = client_policy(repo)
    updates, found = [], []
    for line in stdin.decode().splitlines():
        _local_ref, local_sha, remote_ref, remote_sha = line.split()
        old = None if is_zero(remote_sha) else remote_sha
        if old and not plumbing.commit_id(repo.cwd, old):
            found += _unknown_remote_tip(policy, remote_ref, old)
            old = None
        updates.append(RefUpdate(remote_ref, old, None if is_zero(local_sha) else local_sha))
    known = branch_heads(repo, f"refs/remotes/{remote}/") if remote and "/" not in remote else {}
    report(policy, found + check(repo, updates, policy, after(known, updates)))


def _unknown_remote_tip(policy: Policy, ref: str, old: str) -> list[Violation]:
    role = policy.role(ref)
    if role is None or not policy.rules_for(role).keep_history:
        return []
    return [Violation(ref, role, old, "", "history", "the remote has commits this clone does not have; "
                      "`git fetch`, add your commits on top of its tip, and push without --force")]


def current_branch(repo: Repo) -> str | None:
    return plumbing.head_ref_at(repo.git_dir, repo.cwd)


def pre_commit(repo: Repo, args: list[str], stdin: bytes) -> None:
    ref = current_branch(repo)
    policy = client_policy(repo)
    role = policy.role(ref) if ref else None
    mark_message_free(repo.git_dir, ref if role is None or not policy.rules_for(role).trailers else None)
    if ref is None or policy.rules_for(policy.role(ref) or "").is_free:
        return
    tree = plumbing.write_tree(repo.cwd)  # the tree the commit will record (object only, no ref moves)
    heads = branch_heads(repo)
    snap = Snapshot("(staged)", tree, _next_parents(repo, heads.get(ref)))  # HEAD is `ref`: its tip is there
    report(policy, check_staged(repo, ref, snap, policy, heads))


def _next_parents(repo: Repo, head: str | None) -> list[str]:
    """The parents the commit will have: HEAD's commit (None on an unborn branch), then MERGE_HEAD's."""
    merge_head = repo.git_dir / "MERGE_HEAD"
    merged = merge_head.read_text().split() if merge_head.exists() else []
    return ([head] if head else []) + merged


def commit_msg(repo: Repo, args: list[str], stdin: bytes) -> None:
    ref = current_branch(repo)
    policy = client_policy(repo)
    role = policy.role(ref) if ref else None
    if ref is None or role is None or not args:
        return
    present = message_trailers(repo, args[0])
    missing = [k for k in policy.rules_for(role).trailers if k.lower() not in present]
    report(policy, [Violation(ref, role, "(message)", "", "trailer", trailer_message(k, ref)) for k in missing])


def message_trailers(repo: Repo, message_file: str) -> set[str]:
    """Lower-cased keys of the trailers Git itself finds in a commit message file."""
    with open(message_file, "rb") as f:
        text = f.read()
    return {key.lower() for key, _ in plumbing.trailers(repo.cwd, text)}
