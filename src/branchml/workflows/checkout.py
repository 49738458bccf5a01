"""Materialise tracked files that sit in the work tree as pointers (e.g. after a plain `git clone`)."""

from __future__ import annotations

import os
from pathlib import Path

from branchml.errors import BranchmlError
from branchml.store.pointer import MAX_POINTER_SIZE, looks_like_pointer


def materialize(repo, paths: list[str] | None = None) -> list[str]:
    """Replace pointer files in the work tree by their content; returns the paths written."""
    from branchml.workflows.pointers import index_pointers

    written = []
    wanted = set(paths) if paths else None
    for entry in index_pointers(repo):
        if wanted is not None and entry.path not in wanted:
            continue
        target = repo.root / entry.path
        if not _holds_pointer(target):
            continue
        _write_content(repo, entry, target)
        written.append(entry.path)
    if written:
        # The files now differ in stat data only; let Git re-clean them (same pointer) and forget them.
        repo.git(["update-index", "-q", "--refresh"], check=False)
    return written


def _holds_pointer(path: Path) -> bool:
    try:
        if path.is_symlink() or path.stat().st_size > MAX_POINTER_SIZE:
            return False
        return looks_like_pointer(path.read_bytes())
    except FileNotFoundError:
        return False


def _write_content(repo, entry, target: Path) -> None:
    """Stream the verified content to a temp file beside the target, then rename over it."""
    mode = target.stat().st_mode & 0o777
    tmp = target.with_name(f".{target.name}.branchml-{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as out:
            for data in repo.store.iter_file(entry.pointer, entry.path):
                out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
