"""`branchml fsck` as a library call: check the store and name the files each problem breaks.

The report is assembled here (the CLI only renders it), so Python callers and `--json` get the same
records: missing or corrupt chunks and packs from the store, missing chunks of the files Git points
at (this checkout's index, or with all_refs every ref and reflog), and tracked files Git holds as
raw bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from branchml import config
from branchml.pointers import index_pointers, reachable_pointers
from branchml.repo import Repo
from branchml.store.maintenance import check_store, missing_chunks_of_files
from branchml.store.store import discard_index
from branchml.workflows.rawbytes import STAGED, fix_hint, raw_at_refs, staged_raw


@dataclass(frozen=True)
class FsckProblem:
    kind: str  # missing-pack | truncated-pack | bad-pack | missing-chunk | corrupt-chunk | raw-bytes
    id: str  # chunk id, pack name, file oid or blob id
    detail: str
    files: list[str] = field(default_factory=list)  # oids of the files it breaks
    paths: list[str] = field(default_factory=list)  # where those files are tracked

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class FsckReport:
    problems: list[FsckProblem]
    checked_files: int  # tracked files whose chunks were looked up
    read_data: bool

    @property
    def ok(self) -> bool:
        return not self.problems


def fsck(
    repo: Repo, *, read_data: bool = False, all_refs: bool = False, rebuild_index: bool = False,
    advance: Callable[[int], None] = lambda n: None,
) -> FsckReport:
    """Check the store (and, with read_data, every chunk's bytes); see the module docstring."""
    if rebuild_index:
        discard_index(repo.store_dir)
    store = repo.store
    found = check_store(store, read_data=read_data, advance=advance)
    entries = reachable_pointers(repo) if all_refs else index_pointers(repo)
    paths: dict[str, list[str]] = {}
    for entry in entries:
        paths.setdefault(entry.pointer.oid, []).append(entry.path)
    found += missing_chunks_of_files(store, paths)
    problems = [
        FsckProblem(p.kind, p.object_id, p.detail, list(p.files), sorted({x for oid in p.files for x in paths.get(oid, [])}))
        for p in found
    ]
    return FsckReport(problems + raw_bytes(repo, all_refs), len(paths), read_data)


def chunk_bytes(repo: Repo) -> int:
    """What a full fsck reads (for a progress bar)."""
    return int(repo.store.stats()["chunk_bytes"])


def raw_bytes(repo: Repo, all_refs: bool) -> list[FsckProblem]:
    """Tracked files Git holds as raw bytes (committed without the filter): in the index, or every ref tip."""
    inline_below = int(config.load(repo.root, repo.store_dir)["store"]["inline_below"])
    found = raw_at_refs(repo, inline_below) if all_refs else staged_raw(repo, inline_below)
    return [
        FsckProblem("raw-bytes", r.blob, f"{r.path} ({_where(r.commit)}) {r.message()}; fix: "
                    f"{fix_hint([r.path], committed=r.commit != STAGED)}", [], [r.path])
        for r in found
    ]


def _where(commit: str) -> str:
    return "in the index" if commit == STAGED else f"in commit {commit[:12]}"
