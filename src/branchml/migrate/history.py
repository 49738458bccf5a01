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
        full = plumbing.full_ref_name(repo.cwd, name) or ""
        if not full.startswith("refs/") or full.startswith(SKIPPED):
            raise BranchmlError(f"{name!r} is not a branch or tag that can be rewritten",
                                hint="name branches or tags (e.g. main v1.0), or use --everything")
        out.append(full)
    return list(dict.fromkeys(out))


def history_files(repo: Repo, refs: list[str]) -> list[FileVersion]:
    """Every (path, blob) the history of `refs` holds, one path per blob, with its size."""
    pairs: dict[str, str] = {}
    for sha, path in plumbing.rev_list_objects(repo.cwd, [*refs, "--"]):
        if path:
            pairs.setdefault(sha, path)
    sizes = _blob_sizes(repo, list(pairs))
    return [FileVersion(path, sha, sizes[sha]) for sha, path in pairs.items() if sha in sizes]


def _blob_sizes(repo: Repo, shas: list[str]) -> dict[str, int]:
    if not shas:
        return {}
    with plumbing.CatFile(repo.cwd) as cat:
        return {sha: info.size for sha, info in cat.info_many(shas) if info is not None and info.type == "blob"}


def small_contents(repo: Repo, files: list[FileVersion], limit: int) -> dict[str, bytes]:
    """Contents of the blobs of at most `limit` bytes (pointers of every kind are small)."""
    wanted = [f.blob for f in files if f.size <= limit]
    out = {}
    with plumbing.CatFile(repo.cwd) as cat:
        for sha, found in cat.contents_many(wanted):
            if found is not None:
                out[sha] = found[1]
    return out
