"""Releases: the `<customer>-<n>` tags, and the files of the latest one extracted into a folder.

`get` writes the files of a tag that `[release] include` names (runs/contents.py: by default the
model folder, the model card, the metrics and the inference code, never training data) into a
new folder built beside the destination and renamed into place, so a deploy folder is never half
written. Tracked large files are rebuilt from the store and verified; what the store lacks is
fetched in one batch from the blob remote before anything is written. With `remote`, only the
wanted tag is fetched (`--depth 1`): no full history needed; outside a repository (a customer's
empty folder) the fetch goes to a cache repository (runs/release_cache.py).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from branchml.errors import BranchmlError, NotARepository
from branchml.git import plumbing, porcelain
from branchml.pointers import PointerBlob, read_pointers
from branchml.remote import prefetch, source
from branchml.repo import Repo
from branchml.runs.contents import contents_of
from branchml.runs.release_cache import release_repo
from branchml.runs.show import tree_entries
from branchml.runs.tags import check_name, tag_number
from branchml.store.pointer import Pointer


@dataclass(frozen=True)
class Release:
    """A numbered tag `<customer>-<n>`: what `release list` shows."""

    tag: str
    customer: str
    number: int
    commit: str  # the tagged commit (an annotated tag peeled)
    date: str  # the tag's creation date, ISO 8601

    def as_dict(self) -> dict[str, Any]:
        """`release list --json`'s row."""
        return asdict(self)


@dataclass(frozen=True)
class ReleaseWritten:
    """What `release get` wrote: the tag, its commit, the folder and the files (relative paths)."""

    tag: str
    commit: str | None
    to: str
    files: list[str]

    def as_dict(self) -> dict[str, Any]:
        """`release get --json`."""
        return asdict(self)


def list_releases(repo: Repo, customer: str | None = None) -> list[Release]:
    """Numbered tags (`<customer>-<n>`), by customer then number."""
    pattern = f"refs/tags/{customer}-*" if customer else "refs/tags/"
    fields = ["refname:strip=2", "*objectname", "objectname", "creatordate:iso-strict"]
    out = []
    for name, peeled, obj, date in plumbing.ref_rows(repo.cwd, [pattern], fields):
        prefix = name.rpartition("-")[0]
        number = tag_number(name, prefix)
        if number is None or (customer and prefix != customer):
            continue
        out.append(Release(name, prefix, number, peeled or obj, date))
    return sorted(out, key=lambda r: (r.customer, r.number))


def latest(repo: Repo, customer: str) -> str:
    found = list_releases(repo, check_name(customer, "customer"))
    if not found:
        raise BranchmlError(f"no release tags {customer}-<n> here", hint=f"train one with `branchml run --customer {customer}`, or fetch tags (`git fetch --tags`)")
    return found[-1].tag


def latest_remote(repo: Repo, remote: str, customer: str) -> str:
    """Fetch only the newest `<customer>-<n>` tag of `remote` (shallow) and return its name."""
    check_name(customer, "customer")
    refs = [ref for _, ref in porcelain.ls_remote(repo.cwd, remote, [f"refs/tags/{customer}-*"], tags=True)]
    numbered = [(tag_number(r.split("refs/tags/")[1], customer), r.split("refs/tags/")[1]) for r in refs]
    numbered = sorted((n, t) for n, t in numbered if n is not None)
    if not numbered:
        raise BranchmlError(f"{remote} has no release tags {customer}-<n>", hint="check the remote and customer name")
    return fetch_tag(repo, remote, numbered[-1][1])


def fetch_tag(repo: Repo, remote: str, tag: str) -> str:
    porcelain.fetch(repo.cwd, remote, [f"+refs/tags/{tag}:refs/tags/{tag}"], depth=1)
    return tag


def repo_for(remote: str | None) -> tuple[Repo, str | None]:
    """Where `release get` works: this repository, or with a `remote` that is not one of its Git
    remotes (a URL, e.g. in a customer's empty folder), the cache repository of that URL."""
    try:
        here = Repo.find()
    except NotARepository:
        if remote is None:
            raise
        return release_repo(remote), "origin"
    if remote is None or remote in porcelain.remote_names(here.cwd):
        return here, remote
    return release_repo(remote), "origin"


def get(repo: Repo, customer: str, dest: Path, *, tag: str | None = None, remote: str | None = None, force: bool = False) -> ReleaseWritten:
    """Extract the release files of `tag` (default: the latest of `customer`) into `dest`."""
    if tag is None:
        tag = latest_remote(repo, remote, customer) if remote else latest(repo, customer)
    elif remote:
        fetch_tag(repo, remote, check_name(tag))
    dest = dest.resolve()
    if dest.exists() and any(dest.iterdir()) and not force:
        raise BranchmlError(f"{dest} is not empty", hint="choose an empty folder, or add --force to replace it")
    written = extract(repo, f"refs/tags/{tag}^{{commit}}", dest)
    return ReleaseWritten(tag, plumbing.rev_parse(repo.cwd, f"refs/tags/{tag}^{{commit}}"), str(dest), written)


def extract(repo: Repo, rev: str, dest: Path) -> list[str]:
    """Write the release files of `rev` into `dest` (replaced as a whole only once all are written)."""
    contents = contents_of(source.committed_at(repo, rev))
    entries = [e for e in tree_entries(repo, rev) if contents.includes(e[3])]
    if not entries:
        raise BranchmlError(f"{rev}: no file matches the release's include patterns ({', '.join(contents.patterns)})",
                            hint="set `[release] include = [...]` in branchml.toml on the stable branch")
    pointers = {p.blob: p.pointer for p in read_pointers(repo, {sha: path for _, sha, _, path in entries})}
    wanted = [PointerBlob(sha, path, pointers[sha]) for _, sha, _, path in entries if sha in pointers]
    prefetch.prefetch(repo, wanted, what=f"release {rev.split('/')[-1].split('^')[0]}", retry="run the same command again")
    dest.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        for mode, sha, _size, path in entries:
            _write_entry(repo, build, path, mode, sha, pointers.get(sha))
        _swap_into_place(build, dest)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return [path for _, _, _, path in entries]


def _write_entry(repo: Repo, build: Path, path: str, mode: str, sha: str, pointer: Pointer | None) -> None:
    target = build / path
    target.parent.mkdir(parents=True, exist_ok=True)
    if mode == "120000":
        link = os.fsdecode(_blob(repo, sha))
        if os.path.isabs(link) or not (target.parent / link).resolve().is_relative_to(build.resolve()):
            raise BranchmlError(f"{path}: symlink to {link!r} points outside the release", hint="fix it on the stable branch")
        os.symlink(link, target)
        return
    with open(target, "wb") as out:
        if pointer is not None:
            out.writelines(repo.store.iter_file(pointer, path))
        else:
            out.write(_blob(repo, sha))
    if mode == "100755":
        target.chmod(0o755)


def _blob(repo: Repo, sha: str) -> bytes:
    with plumbing.CatFile(repo.cwd) as cat:
        return cat.blob(sha)


def _swap_into_place(build: Path, dest: Path) -> None:
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        dest.rename(old)
        build.rename(dest)
        shutil.rmtree(old)
    else:
        build.rename(dest)
    dest.chmod(0o755)
