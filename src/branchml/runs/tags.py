"""Tag names `<prefix>-<n>`, numbered per prefix, reserved race-safely before training starts.

A reservation is a ref `refs/branchml/reserved/<tag>` created with `update-ref <ref> <obj> 0{40}`
(`plumbing.update_ref(..., old=None)`):
Git creates it only if it does not exist yet (compare-and-swap), so of two racing runs exactly one
gets a number and the other moves on to the next. The real tag is created at the end of a
successful run, create-only too; then the reservation is dropped. A failed run drops its reservation
(the number is reused: a number belongs to a model only once it is tagged).
"""

from __future__ import annotations

import re

from branchml.errors import BranchmlError, RefChanged
from branchml.git import plumbing
from branchml.repo import Repo

RESERVED = "refs/branchml/reserved/"
MAX_ATTEMPTS = 100
_NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_name(name: str, what: str = "tag") -> str:
    if not _NAME_OK.match(name) or ".." in name or name.endswith((".lock", ".")):
        raise BranchmlError(
            f"{what} {name!r} is not a valid name",
            hint="use letters, digits, '.', '_' and '-' (e.g. --customer acme)",
        )
    return name


def tag_number(tag: str, prefix: str) -> int | None:
    """n for `<prefix>-<n>`, else None."""
    head, sep, tail = tag.rpartition("-")
    if sep and head == prefix and tail.isdigit():
        return int(tail)
    return None


def numbered_tags(repo: Repo, prefix: str) -> list[tuple[int, str]]:
    """(n, name) of the tags `<prefix>-<n>`, oldest number first."""
    names = plumbing.for_each_ref(repo.cwd, f"refs/tags/{prefix}-*", "refname:strip=2")
    found = [(tag_number(n, prefix), n) for n in names]
    return sorted((n, name) for n, name in found if n is not None)


def _reserved_numbers(repo: Repo, prefix: str) -> list[int]:
    names = plumbing.for_each_ref(repo.cwd, f"{RESERVED}{prefix}-*", "refname:strip=3")
    return [n for n in (tag_number(name, prefix) for name in names) if n is not None]


def next_number(repo: Repo, prefix: str) -> int:
    used = [n for n, _ in numbered_tags(repo, prefix)] + _reserved_numbers(repo, prefix)
    return max(used, default=0) + 1


def tag_exists(repo: Repo, tag: str) -> bool:
    return bool(plumbing.for_each_ref(repo.cwd, f"refs/tags/{tag}"))


def _create_only(repo: Repo, ref: str, obj: str) -> bool:
    """Create `ref` at `obj` unless it exists; True when this process created it."""
    try:
        plumbing.update_ref(repo.cwd, ref, obj, old=None)
        return True
    except RefChanged:
        return False


def reserve(repo: Repo, obj: str, *, prefix: str | None = None, tag: str | None = None) -> str:
    """Reserve `tag` exactly, or the next free `<prefix>-<n>`; returns the reserved name."""
    if tag is not None:
        check_name(tag)
        if tag_exists(repo, tag) or not _create_only(repo, RESERVED + tag, obj):
            raise BranchmlError(f"tag {tag} already exists (or a run holds it)", hint="choose another --tag")
        return tag
    prefix = check_name(prefix or "", "customer")
    for _ in range(MAX_ATTEMPTS):
        name = f"{prefix}-{next_number(repo, prefix)}"
        if not tag_exists(repo, name) and _create_only(repo, RESERVED + name, obj):
            return name
    raise BranchmlError(f"could not reserve a tag {prefix}-<n> after {MAX_ATTEMPTS} attempts", hint="retry the run")


def release(repo: Repo, tag: str) -> None:
    """Drop a reservation (after tagging, or when the run failed)."""
    plumbing.delete_ref(repo.cwd, RESERVED + tag)


def create_tag(repo: Repo, tag: str, commit: str, message: str) -> str:
    """The annotated tag `tag` on `commit`, created only if no tag of that name exists."""
    tag_obj = plumbing.mktag(repo.cwd, _tag_object(repo, tag, commit, message).encode())
    if not _create_only(repo, f"refs/tags/{tag}", tag_obj):
        raise BranchmlError(f"tag {tag} appeared while the run was going on", hint="inspect it with `git show {tag}`")
    return tag_obj


def _tag_object(repo: Repo, tag: str, commit: str, message: str) -> str:
    tagger = plumbing.git_var(repo.cwd, "GIT_COMMITTER_IDENT")
    return f"object {commit}\ntype commit\ntag {tag}\ntagger {tagger}\n\n{message.rstrip()}\n"
