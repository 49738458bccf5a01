"""`branchml fsck`: the store's own checks, plus every pointer Git holds that the store must serve.

Pointers are read from this worktree's index and HEAD (with `all_refs`, from everything a ref,
reflog or worktree index reaches). Each must be exactly one valid encoding, agree in size with
the file the store knows under its oid, and have its record and chunks present.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from branchml import config
from branchml.errors import NotABranchmlRepository
from branchml.git import plumbing
from branchml.pointers import (
    BadPointer,
    PointerBlob,
    commit_pointers,
    index_pointers,
    reachable_pointers,
)
from branchml.settings import StoreSettings
from branchml.store.maintenance import Problem, check_store, missing_chunks_of_files
from branchml.store.store import discard_index
from branchml.workflows.rawbytes import STAGED, fix_hint, raw_at_refs, staged_raw

if TYPE_CHECKING:
    from branchml.repo import Repo
    from branchml.store.store import Store

FIX_POINTER = "put the original file back and `git add` it, or restore a good version (`git checkout <commit> -- <path>`)"


@dataclass(frozen=True)
class FsckProblem:
    """One problem fsck found (`fsck --json` prints a list of them)."""

    kind: str  # missing-chunk, corrupt-chunk, size-mismatch, malformed-pointer, raw-bytes, ... (store/maintenance.py)
    id: str  # the object: chunk, pack, file oid or Git blob
    detail: str
    files: list[str]  # oids of the files it breaks
    hint: str  # the command or step that repairs it ("" when the detail says it)
    paths: list[str]  # paths of the tracked files it breaks

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class FsckReport:
    problems: list[FsckProblem] = field(default_factory=list)
    files_checked: int = 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def require_store(repo: Repo) -> None:
    """Refuse (creating nothing) in a Git repository where branchml was never set up: no store, and
    no committed settings (a plain clone of a branchml project is checked: its store is created)."""
    project = repo.root is not None and (repo.root / config.FILE_NAME).is_file()
    if not project and not (repo.store_dir / "format").exists():
        raise NotABranchmlRepository(
            f"branchml is not set up in {repo.root or repo.git_dir} (no store at {repo.store_dir})",
            hint="`branchml init` sets it up",
        )


def run_fsck(
    repo: Repo, *, read_data: bool = False, all_refs: bool = False, rebuild_index: bool = False,
    progress: Callable[[int], None] = lambda n: None,
) -> FsckReport:
    require_store(repo)
    if rebuild_index:
        discard_index(repo.store_dir)
    store = repo.store
    problems = check_store(store, read_data=read_data, advance=progress)
    bad: list[BadPointer] = []
    entries = _pointers(repo, all_refs, bad)
    paths: dict[str, set[str]] = {}
    for entry in entries:
        paths.setdefault(entry.pointer.oid, set()).add(entry.path)
    named = {oid for p in problems for oid in p.files}
    problems += [p for p in missing_chunks_of_files(store, paths) if p.files[0] not in named]
    problems += _size_mismatches(store, entries)
    report = FsckReport(files_checked=len(paths))
    report.problems = [_with_paths(p, paths) for p in problems] + [_bad_pointer(b) for b in bad]
    report.problems += _raw_bytes(repo, all_refs)
    return report


def _raw_bytes(repo: Repo, all_refs: bool) -> list[FsckProblem]:
    """Tracked files Git holds as raw bytes (committed without the filter): in the index, or every ref tip."""

    inline_below = StoreSettings.from_config(config.load(repo.root, repo.store_dir)).inline_below
    found = raw_at_refs(repo, inline_below) if all_refs else staged_raw(repo, inline_below)
    out: list[FsckProblem] = []
    for r in found:
        where = "in the index" if r.commit == STAGED else f"in commit {r.commit[:12]}"
        detail = f"{r.path} ({where}) {r.message()}; fix: {fix_hint([r.path], committed=r.commit != STAGED)}"
        out.append(FsckProblem("raw-bytes", r.blob, detail, [], "", [r.path]))
    return out


def _pointers(repo: Repo, all_refs: bool, bad: list[BadPointer]) -> list[PointerBlob]:
    if all_refs:
        return reachable_pointers(repo, bad)
    entries = index_pointers(repo, bad)
    if plumbing.rev_parse(repo.cwd, "HEAD"):
        seen = {(b.blob, b.path) for b in bad}
        head_bad: list[BadPointer] = []
        entries += commit_pointers(repo, "HEAD", head_bad)
        bad += [b for b in head_bad if (b.blob, b.path) not in seen]
    return entries


def _size_mismatches(store: Store, entries: list[PointerBlob]) -> list[Problem]:
    out = []
    seen: set[tuple[str, int]] = set()
    for entry in entries:
        key = (entry.pointer.oid, entry.pointer.size)
        if key in seen:
            continue
        seen.add(key)
        record = store.file_record(entry.pointer.oid)
        if record is not None and record.size != entry.pointer.size:
            detail = f"pointer says {entry.pointer.size} bytes, the store's file with that oid has {record.size}"
            out.append(Problem("size-mismatch", entry.pointer.oid, detail, [entry.pointer.oid], FIX_POINTER))
    return out


def _with_paths(problem: Problem, paths: dict[str, set[str]]) -> FsckProblem:
    found = sorted({path for oid in problem.files for path in paths.get(oid, ())})
    return FsckProblem(problem.kind, problem.object_id, problem.detail, list(problem.files), problem.hint, found)


def _bad_pointer(bad: BadPointer) -> FsckProblem:
    return FsckProblem("malformed-pointer", bad.blob, bad.problem, [], FIX_POINTER, [bad.path])
