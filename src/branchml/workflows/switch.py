"""`branchml switch`: `git switch` with everything the target needs in the store before Git writes.

Git has no hook before a checkout writes files, and it writes them one by one: when the content
of the fourth file cannot be had, the first three are already switched, deletions are done, and
HEAD has not moved (a "half switch"; Git then refuses to switch again, seeing local changes).
So this command fetches the target tree's missing content in one batch first and refuses, naming
every file that cannot be had, before Git starts (docs/remotes.md, "Checkouts that cannot be
completed"). It also finishes a half switch that a plain `git switch` left: a path whose work
tree content is exactly the target's is put back as HEAD has it (nothing is lost: that content
is in the target commit), so Git can switch again. Anything else in the work tree is left alone.
"""

from __future__ import annotations

import shlex

from branchml import config
from branchml.git import plumbing, porcelain
from branchml.remote import api, prefetch
from branchml.repo import Repo

CREATE_OPTIONS = {"-c", "-C", "--create", "--force-create", "--orphan"}


def target_of(args: list[str]) -> str | None:
    """The commit `git switch ARGS` would check out (None for --orphan: an empty tree)."""
    positional: list[str] = []
    creating = False
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg == "--orphan":
            return None
        if arg in CREATE_OPTIONS:
            creating, skip = True, True
        elif arg == "-":
            positional.append("@{-1}")
        elif not arg.startswith("-"):
            positional.append(arg)
    if positional:
        return positional[0]
    return "HEAD" if creating else None


def switch(repo: Repo, args: list[str]) -> int:
    """Prefetch the target, repair a half switch toward it, then run `git switch ARGS`."""
    target = target_of(args)
    if target is not None and not config.skip_smudge():  # BRANCHML_SKIP_SMUDGE: pointers wanted
        rev = api.resolve_ref(repo, target)
        retry = "`branchml switch " + shlex.join(args) + "`"
        prefetch.prefetch_tree(repo, rev, target, retry)
        undo_half_switch(repo, rev)
    return porcelain.switch_passthrough(repo.cwd, args)


def undo_half_switch(repo: Repo, rev: str) -> list[str]:
    """Put back, as HEAD has them, the paths a failed switch to `rev` already wrote; returns them."""
    if not plumbing.commit_id(repo.cwd, "HEAD") or repo.root is None:
        return []
    changed = [d for d in plumbing.diff_tree(repo.cwd, "HEAD", rev) if d.status in "AMT" and d.new_mode != "120000"]
    present = [d for d in changed if (repo.root / d.path).is_file() and not (repo.root / d.path).is_symlink()]
    if not present:
        return []
    hashes = _work_tree_ids(repo, [d.path for d in present])
    written = [d for d, oid in zip(present, hashes) if oid == d.new_oid]
    indexed = {e.path for e in plumbing.ls_files_staged(repo.cwd)}
    restore = [d.path for d in written if d.path in indexed]
    for d in written:
        if d.path not in indexed:
            (repo.root / d.path).unlink()  # new in the target: its content is in the target commit
    if restore:
        porcelain.checkout_index(repo.cwd, restore)
    return [d.path for d in written]


def _work_tree_ids(repo: Repo, paths: list[str]) -> list[str]:
    """Blob ids of work tree files as Git would store them (clean filter applied: pointers)."""
    return porcelain.hash_files(repo.cwd, paths)
