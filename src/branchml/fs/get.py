"""`branchml get URL PATH --rev REF --to DIR`: files of another repository's ref, without a clone kept.

Only the wanted ref is fetched (`--depth 1`) into a temporary bare repository, with the remote's
default branch for its committed settings (so the blob remote is learned from the repository, under
the usual trust rules). Tracked files are rebuilt from the store, fetching only their chunks, every
chunk verified; the folder is written beside DIR and renamed into place once complete.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from branchml.audit.content import blobs_of, iter_bytes
from branchml.errors import BranchmlError
from branchml.fs.locate import NotFound, clean_path
from branchml.git import plumbing, porcelain
from branchml.pointers import PointerBlob
from branchml.remote.ondemand import make_fetcher
from branchml.remote.prefetch import prefetch
from branchml.repo import Repo
from branchml.runs.release_cache import bare_repo


@dataclass
class GetResult:
    url: str
    rev: str
    commit: str
    to: str
    files: list[str] = field(default_factory=list)


def get(url: str, path: str, dest: Path, rev: str = "HEAD", *, force: bool = False) -> GetResult:
    path = clean_path(path)
    dest = dest.resolve()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())) and not force:
        raise BranchmlError(f"{dest} exists and is not empty", hint="choose a new folder, or add --force to replace it")
    with tempfile.TemporaryDirectory(prefix="branchml-get-") as tmp:
        repo = _shallow(url, rev, Path(tmp) / "repo.git")
        commit = plumbing.rev_parse(repo.cwd, "FETCH_HEAD^{commit}") or ""
        files = _extract(repo, commit, path, dest)
    return GetResult(url, rev, commit, str(dest), files)


def _shallow(url: str, rev: str, where: Path) -> Repo:
    """A throw-away bare repository with `rev` (shallow) and the remote's settings branch."""
    repo = bare_repo(url, where)
    porcelain.fetch(where, "origin", [rev], depth=1, check=False)
    if plumbing.rev_parse(where, "FETCH_HEAD^{commit}") is None:
        raise NotFound(f"{url} has no branch or tag {rev!r}",
                       hint="check the URL and the name (`git ls-remote URL`)")
    repo.store.fetcher = repo.store.fetcher or make_fetcher(repo)
    return repo


def _extract(repo: Repo, commit: str, path: str, dest: Path) -> list[str]:
    entries = [e for e in plumbing.ls_tree(repo.cwd, commit, [path] if path else [], long=True) if e.type == "blob"]
    if not entries:
        raise NotFound(f"no file or folder {path!r} at that revision")
    base = path if len(entries) > 1 or entries[0].path != path else os.path.dirname(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        with plumbing.CatFile(repo.cwd) as objects:  # one process for every file, not two per file
            _write_files(repo, entries, base, build, dest, objects, f"{path or 'the tree'} at {commit[:12]}")
        if dest.exists():
            shutil.rmtree(dest)
        build.rename(dest)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return [e.path for e in entries]


def _write_files(repo: Repo, entries: list[plumbing.TreeEntry], base: str, build: Path, dest: Path,
                 objects: plumbing.CatFile, what: str) -> None:
    blobs = blobs_of(repo, entries, objects)
    tracked = [PointerBlob(b.blob, b.path, b.pointer) for b in blobs.values() if b.pointer is not None]
    # one batch from the blob remote, refused before anything is written, not a fetch per file
    prefetch(repo, tracked, what=what, retry="run `branchml get` again")
    for entry in entries:
        if entry.mode == "120000":
            raise BranchmlError(f"{entry.path} is a symbolic link: not copied out of a foreign repository")
        target = (build / os.path.relpath(entry.path, base or ".")).resolve()
        if not target.is_relative_to(build.resolve()):
            raise BranchmlError(f"{entry.path!r} would be written outside {dest}")
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as out:
            out.writelines(iter_bytes(repo, blobs[entry.path], objects))
