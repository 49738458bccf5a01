"""Reading branches without a checkout: tree entries, blob bytes, and file contents behind pointers."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import blake3

from branchml import config
from branchml.errors import BranchmlError, MalformedPointer
from branchml.git import plumbing
from branchml.repo import Repo
from branchml.roles.names import role_globs, role_of
from branchml.store.pointer import Pointer, looks_like_pointer, parse_pointer

BATCH = 256  # blobs per cat-file call: bounds memory for many small inline files


@dataclass(frozen=True)
class Entry:
    """One file of a tree: its mode, blob id and path from the repository root."""

    mode: str
    sha: str
    path: str


def resolve_commit(repo: Repo, rev: str) -> str:
    """The full commit id `rev` names, or a clear error when it names nothing."""
    sha = plumbing.rev_parse(repo.cwd, f"{rev}^{{commit}}")
    if sha is None:
        raise BranchmlError(
            f"no branch, tag or commit named {rev!r}",
            hint="list them with `git branch -a` and `git tag`; fetch first if it lives on a remote",
        )
    return sha


def head_commit(repo: Repo) -> str | None:
    """HEAD's commit, or None on a branch with no commit yet."""
    return plumbing.rev_parse(repo.cwd, "HEAD^{commit}")


def current_branch(repo: Repo) -> str:
    name = plumbing.short_head(repo.cwd)
    if not name:
        raise BranchmlError("HEAD is detached: data commands commit on a branch", hint="`git switch <branch>` first")
    return name


def require_role(repo: Repo, allowed: tuple[str, ...], action: str) -> str:
    """The current branch, if its role is one of `allowed`; otherwise a clear error."""

    branch = current_branch(repo)
    role = role_of(branch, role_globs(config.load(repo.root, repo.store_dir)))
    if role not in allowed:
        wanted = ", ".join(r if r in ("main",) or "/" in r else f"{r}/*" for r in allowed)
        raise BranchmlError(
            f"`{action}` runs on a {wanted} branch; {branch!r} has role {role or 'none'}",
            hint=f"switch to the right branch first, e.g. `git switch {_example_branch(allowed[0])}`",
        )
    return branch


def _example_branch(role: str) -> str:
    return role if "/" in role else f"{role}/<name>"


def ls_tree(repo: Repo, rev: str | None, path: str = "") -> list[Entry]:
    """Files (blobs and symlinks) of `rev` under `path`, recursively; submodules are left out."""
    if rev is None:
        return []
    found = plumbing.ls_tree(repo.cwd, rev, [path] if path else [])
    return [Entry(e.mode, e.oid, e.path) for e in found if e.type == "blob"]


def read_blobs(repo: Repo, shas: Iterable[str]) -> dict[str, bytes]:
    """Raw bytes of blobs as Git stores them (a pointer for a tracked file), one cat-file process."""
    wanted = list(dict.fromkeys(shas))
    if not wanted:
        return {}
    with plumbing.CatFile(repo.cwd) as cat:
        return {sha: found[1] for sha, found in cat.contents_many(wanted) if found is not None}


def pointer_of(blob: bytes, where: str) -> Pointer | None:
    """The pointer a blob holds, or None for a file stored inline in Git."""
    if not looks_like_pointer(blob):
        return None
    try:
        return parse_pointer(blob, where)
    except MalformedPointer:
        return None  # a small file that merely starts like a pointer


def content_hash(blob: bytes, where: str) -> str:
    """BLAKE3 of the file's content: free for pointers (their oid), hashed for inline files."""
    pointer = pointer_of(blob, where)
    if pointer is not None:
        return pointer.oid

    return blake3.blake3(blob).hexdigest()


def iter_contents(repo: Repo, entries: list[Entry]) -> Iterator[tuple[Entry, bytes]]:
    """Each entry with its file content (verified from the store for pointers), in batches."""
    for start in range(0, len(entries), BATCH):
        batch = entries[start : start + BATCH]
        blobs = read_blobs(repo, (e.sha for e in batch))
        for entry in batch:
            yield entry, file_content(repo, blobs[entry.sha], entry.path)


def file_content(repo: Repo, blob: bytes, where: str) -> bytes:
    pointer = pointer_of(blob, where)
    return blob if pointer is None else b"".join(repo.store.iter_file(pointer, where))
