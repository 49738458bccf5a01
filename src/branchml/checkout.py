"""Materialise tracked files that sit in the work tree as pointers (e.g. after a plain `git clone`)."""

from __future__ import annotations

import fnmatch
import os
import sys
from pathlib import Path

from branchml import config
from branchml.errors import BranchmlError
from branchml.pointers import index_pointers
from branchml.store.filecache import FileCache, link_mode
from branchml.store.pointer import MAX_POINTER_SIZE, looks_like_pointer


def materialize(repo, paths: list[str] | None = None, *, keep_going: bool = False) -> list[str]:
    """Replace pointer files in the work tree by their content; returns the paths written.

    With keep_going, a file that cannot be had is reported on stderr and the others still written.
    """
    written = []
    wanted = set(paths) if paths else None
    cache = _file_cache(repo)
    for entry in index_pointers(repo):
        if wanted is not None and entry.path not in wanted:
            continue
        target = repo.root / entry.path
        if not _holds_pointer(target):
            continue
        try:
            _write_content(repo, entry, target, cache)
        except BranchmlError as exc:
            if not keep_going:
                raise

            sys.stderr.write(f"branchml: {exc}\n")
            continue
        written.append(entry)
    if written:
        _forget_stat_data(repo, written)
    return [entry.path for entry in written]


def materialize_matching(repo, include: list[str]) -> list[str]:
    """Materialise the index's tracked files whose path matches an include glob (all without globs)."""
    paths = [e.path for e in index_pointers(repo) if not include or any(fnmatch.fnmatchcase(e.path, g) for g in include)]
    return materialize(repo, paths) if paths else []


def _forget_stat_data(repo, entries) -> None:
    """Make Git re-check these files by content: their size no longer matches what Git recorded
    (the pointer's), and Git trusts a size change without looking. Re-entering the index entries
    clears their stat data; the refresh then re-cleans them, finds the same pointer, and records
    the new stat data."""
    lines = "".join(f"{e.mode} {e.blob}\t{e.path}\n" for e in entries)
    repo.git(["update-index", "--index-info"], input=lines.encode())
    repo.git(["update-index", "-q", "--refresh"], check=False)


def _holds_pointer(path: Path) -> bool:
    try:
        if path.is_symlink() or path.stat().st_size > MAX_POINTER_SIZE:
            return False
        return looks_like_pointer(path.read_bytes())
    except FileNotFoundError:
        return False


def _file_cache(repo):
    """The store's whole-file cache when `[checkout] link = "reflink"`, else None (plain copies)."""

    settings = config.load(repo.root, repo.store_dir).get("checkout", {})
    return FileCache(repo.store) if link_mode(settings) == "reflink" else None


def _write_content(repo, entry, target: Path, cache=None) -> None:
    """Clone (reflink) or stream the verified content to a temp file beside the target, then rename
    over it: the target holds the pointer or the whole content, never a mix."""
    mode = target.stat().st_mode & 0o777
    tmp = target.with_name(f".{target.name}.branchml-{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        if cache is None or not cache.clone_into(entry.pointer, tmp, entry.path):
            with open(tmp, "wb") as out:
                out.writelines(repo.store.iter_file(entry.pointer, entry.path))
                out.flush()
                os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
        if cache is not None:
            cache.renamed(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def after_checkout(repo, args: list[str], stdin: bytes) -> None:
    """post-checkout / post-merge: write the very large files the filter left as pointers."""
    if repo.root is None or config.skip_smudge():
        return
    written = materialize(repo, keep_going=True)
    if written:
        sys.stderr.write(f"branchml: wrote {len(written)} large file(s) after checkout\n")
