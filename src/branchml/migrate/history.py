"""The refs a migration rewrites and the files of their history, for the dry run and the checks."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from branchml.errors import BranchmlError
from branchml.git import plumbing
from branchml.repo import Repo

BACKUP = "refs/original/"
# Never rewritten: backups of an earlier run, notes (copied to the new commits instead), the stash,
# and branchml's own bookkeeping refs (tag reservations).
SKIPPED = ("refs/original/", "refs/notes/", "refs/stash", "refs/branchml/")


@dataclass(frozen=True)
class FileVersion:
    path: str
    blob: str
    size: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def resolve_refs(repo: Repo, names: list[str], everything: bool) -> list[str]:
    """Full ref names: every branch, tag and remote branch; the named ones; or the current branch."""
    if everything:
        refs = plumbing.for_each_ref(repo.cwd, "refs/")
        return [r for r in refs if not r.startswith(SKIPPED)]
    out = []
    for name in names or ["HEAD"]:
        full = repo.git_text(["rev-parse", "--symbolic-full-name", name], check=False)
        if not full.startswith("refs/") or full.startswith(SKIPPED):
            raise BranchmlError(f"{name!r} is not a branch or tag that can be rewritten",
                                hint="name branches or tags (e.g. main v1.0), or use --everything")
        out.append(full)
    return list(dict.fromkeys(out))


def history_files(repo: Repo, refs: list[str]) -> list[FileVersion]:
    """Every (path, blob) the history of `refs` holds, one path per blob, with its size."""
    pairs: dict[str, str] = {}
    listing = repo.git(["rev-list", "--objects", *refs, "--"])
    for line in listing.decode(errors="surrogateescape").splitlines():
        sha, _, path = line.partition(" ")
        if path:
            pairs.setdefault(sha, path)
    sizes = _blob_sizes(repo, list(pairs))
    return [FileVersion(path, sha, sizes[sha]) for sha, path in pairs.items() if sha in sizes]


def _blob_sizes(repo: Repo, shas: list[str]) -> dict[str, int]:
    if not shas:
        return {}
    out = repo.git(["cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)"],
                   input="".join(f"{s}\n" for s in shas).encode())
    sizes = {}
    for line in out.decode().splitlines():
        sha, kind, size = line.split()
        if kind == "blob":
            sizes[sha] = int(size)
    return sizes


def small_contents(repo: Repo, files: list[FileVersion], limit: int) -> dict[str, bytes]:
    """Contents of the blobs of at most `limit` bytes (pointers of every kind are small)."""
    wanted = [f.blob for f in files if f.size <= limit]
    out = {}
    with plumbing.CatFile(repo.cwd) as cat:
        for sha, found in cat.contents_many(wanted):
            if found is not None:
                out[sha] = found[1]
    return out
