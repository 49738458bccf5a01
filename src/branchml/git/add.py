"""`branchml add`: stage files as `git add -A` would, reading tracked files directly instead of
through Git's filter pipe (docs/add.md, "branchml add").

Git streams every byte of a file it cleans through a pipe in 64 KiB packets, and draining that pipe
alone costs 0.7-1 s per GiB here: more than chunking the file ourselves. So for each new or
modified file whose `filter` attribute is ours, this module does what Git and the clean filter do
together: it reads the file, stores it with the filter's own code (`filter.store_stream`: the
previous version followed, every chunk hashed), writes the pointers as blobs with one
`git hash-object`, stages them with one `git update-index --index-info` and records the stat data
Git's refresh would have recorded (git/indexstat.py), so `git status` and `git commit` do not clean
them again. Everything else (files without our filter, deletions, symlinks, submodules, conflicts,
small files the filter keeps as they are, files with a working-tree-encoding) goes to `git add`.

A file is recorded with the stat taken before it was read, and only when the stat after the read is
the same: a file written meanwhile is handed to `git add` instead, so no pointer of bytes that never
existed together is staged. Racily clean entries stay Git's to check (racy-git.txt); the filter's
stat cache answers those when the rules of git/statcache.py allow a record.
"""

from __future__ import annotations

import os
import stat
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from branchml.errors import GitCommandError
from branchml.git import cmd, indexstat, plumbing
from branchml.git.filter import IN_MEMORY, answered_as_is, store_stream
from branchml.git.statcache import FileStat, now_ns
from branchml.store.pointer import Pointer
from branchml.store.store import Store, StoreWriter

FILTER = "branchml"  # the `filter=` value branchml's tracked patterns set (git/attributes.py)
ATTRS = ("filter", "working-tree-encoding")
MODIFIED = ("M",)  # diff-files statuses of a file whose content may have changed (T, D, U: to Git)
# Git re-cleans a racily clean entry (its file's mtime second is not older than the index file's).
# Waiting for the next second before writing the index costs less than that re-read when the racy
# files are large: Git's pipe drains about this fast here (docs/add.md).
PIPE_BYTES_PER_S = 1 << 30
NS = 1_000_000_000


class PathspecUnmatched(GitCommandError):
    """A pathspec given to `branchml add` matches nothing it could stage (`git add` refuses it too)."""


@dataclass(frozen=True)
class Staged:
    """A file branchml cleaned: its pointer, the mode to stage and the stat it was read with."""

    path: str
    pointer: Pointer
    mode: str
    stat: os.stat_result


@dataclass
class AddResult:
    """What `branchml add` did: files cleaned by branchml, paths handed to `git add`, and the files
    that changed while they were read (handed to `git add` too, which reads them again)."""

    cleaned: list[str] = field(default_factory=list)
    by_git: list[str] = field(default_factory=list)
    changed_while_read: list[str] = field(default_factory=list)
    waited_s: float = 0.0  # for the index to be stamped after the files' mtime second (not racy)


def add(root: Path, store: Store, pathspecs: Sequence[str], cwd: Path, inline_below: int) -> AddResult:
    """Stage `pathspecs` (relative to `cwd`, like Git's) as `git add -A -- pathspecs` would."""
    if missing := plumbing.unmatched_pathspecs(cwd, pathspecs):
        raise PathspecUnmatched(f"pathspec {', '.join(repr(m) for m in missing)} matches no file to add "
                                "(none in the index or the work tree, or only ignored ones)",
                                hint="check the path; `git add -f PATH` adds an ignored file")
    result = AddResult()
    ours, result.by_git = _split(root, pathspecs or ["."], cwd)
    staged = _clean_all(root, store, ours, inline_below, result) if ours else []
    plumbing.add_paths(root, result.by_git)
    if staged:
        _stage(root, store, staged, result)
    return result


def _split(root: Path, pathspecs: Sequence[str], cwd: Path) -> tuple[dict[str, str | None], list[str]]:
    """Paths to clean here (with their index mode, None when new) and paths for `git add`."""
    changes = plumbing.worktree_changes(cwd, pathspecs)
    others = {c.path for c in changes if c.status not in MODIFIED}  # a conflict may list M and U
    candidates: dict[str, str | None] = {c.path: c.old_mode for c in changes if c.path not in others}
    candidates.update((p, None) for p in plumbing.untracked_files(cwd, pathspecs))
    by_git = sorted(others)
    attrs = plumbing.check_attrs(root, list(candidates), ATTRS) if _filter_configured(root) else {}
    ours: dict[str, str | None] = {}
    for path, mode in candidates.items():
        values = attrs.get(path, {})
        regular = mode in (None, "100644", "100755") and _is_regular(root / path)
        if regular and values.get("filter") == FILTER and values.get("working-tree-encoding") == "unspecified":
            ours[path] = mode
        else:
            by_git.append(path)
    return ours, by_git


def _filter_configured(root: Path) -> bool:
    """Git cleans with our filter only when it is configured here (`branchml install`)."""
    return bool(cmd.config_get(f"filter.{FILTER}.process", root))


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _clean_all(root: Path, store: Store, ours: dict[str, str | None], inline_below: int,
               result: AddResult) -> list[Staged]:
    file_mode = cmd.config_get("core.fileMode", root) != "false"
    writer = store.writer()
    staged: list[Staged] = []
    try:
        for path, index_mode in ours.items():
            done = _clean_one(root, store, writer, path, inline_below)
            if done is None:
                result.by_git.append(path)
                continue
            pointer, st, stable = done
            if not stable:
                result.changed_while_read.append(path)
                result.by_git.append(path)
                continue
            staged.append(Staged(path, pointer, _mode(st, index_mode, file_mode), st))
    finally:
        writer.close()  # records, path hints and stat-cache records are committed before staging
    return staged


def _clean_one(root: Path, store: Store, writer: StoreWriter, path: str,
               inline_below: int) -> tuple[Pointer, os.stat_result, bool] | None:
    """Store one file as the clean filter would: its pointer, the stat it was read with, and whether
    the file stayed the same while read. None: the filter would answer it as it is (Git's to add)."""
    here = root / path
    since = now_ns()
    try:  # never through a symlink that replaced the file since it was listed (Git stages the link)
        file = open(os.open(here, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK), "rb")  # a FIFO must not block
    except OSError:
        return None  # gone, unreadable or a symlink since it was listed: `git add` says what is wrong
    with file:
        st = os.fstat(file.fileno())
        before = FileStat.from_stat(st)
        if not stat.S_ISREG(st.st_mode):
            return None
        if st.st_size <= max(inline_below, IN_MEMORY):
            whole = file.read()
            if answered_as_is(whole, path, inline_below):
                return None
            pointer = writer.add_bytes(whole)
            writer.remember_path(path, pointer)
        else:
            pointer = store_stream(store, writer, path, file)
    stable = FileStat.of(here) == before
    if stable and before.may_turn_racy(since) and before.settled_before(since):
        writer.remember_clean_stat(str(here), before.key(), pointer)  # the filter's key: the full path
    return pointer, st, stable


def _mode(st: os.stat_result, index_mode: str | None, file_mode: bool) -> str:
    """The mode `git add` stages: the executable bit as the file has it (core.fileMode), else the
    index's, else 100644."""
    if not file_mode:
        return index_mode or "100644"
    return "100755" if st.st_mode & 0o100 else "100644"


def _stage(root: Path, store: Store, staged: list[Staged], result: AddResult) -> None:
    blobs = _write_pointers(root, store, staged)
    plumbing.restage(root, [plumbing.TreeEntry(s.mode, "blob", b, s.path) for s, b in zip(staged, blobs)])
    result.waited_s = _wait_out_racy_second(staged, store.root / "tmp" / f"add-clock-{os.getpid()}")
    files = {s.path: indexstat.NewStat(b, s.stat) for s, b in zip(staged, blobs) if _unchanged(root, s)}
    indexstat.record_stat_data(plumbing.index_file(root), files)  # paths left out: Git checks them
    result.cleaned = [s.path for s in staged]


def _write_pointers(root: Path, store: Store, staged: list[Staged]) -> list[str]:
    """The pointers as blobs, one `git hash-object` for all (they pass through files in the store's tmp/)."""
    tmp = store.root / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="add-", dir=tmp) as folder:
        files = []
        for i, s in enumerate(staged):
            files.append(Path(folder) / str(i))
            files[-1].write_bytes(s.pointer.encode())
        return plumbing.hash_object_paths(root, files)


def _wait_out_racy_second(staged: list[Staged], probe: Path) -> float:
    """Wait into the second after the newest mtime when that is cheaper than Git re-reading the
    racy files; the index written next is then stamped later than every file, so none is racy.
    Files are stamped from the kernel's coarse clock, a tick behind `time.time()`: a probe file in
    the store's tmp/ shows when the file system's stamps have passed the second."""
    newest = max(s.stat.st_mtime_ns for s in staged)
    boundary = (newest // NS + 1) * NS
    racy_bytes = sum(s.stat.st_size for s in staged if s.stat.st_mtime_ns // NS == newest // NS)
    if (boundary - now_ns()) / NS > racy_bytes / PIPE_BYTES_PER_S:
        return 0.0
    start = time.monotonic()
    time.sleep(max(0, boundary - now_ns()) / NS)
    try:
        for _ in range(500):
            probe.write_bytes(b"")
            if probe.stat().st_mtime_ns >= boundary:
                break
            time.sleep(0.001)
    finally:
        probe.unlink(missing_ok=True)
    return time.monotonic() - start


def _unchanged(root: Path, s: Staged) -> bool:
    """Still the file that was read: otherwise its entry keeps no stat data and Git compares content."""
    return FileStat.of(root / s.path) == FileStat.from_stat(s.stat)
