"""Materialise tracked files that sit in the work tree as pointers, outside Git's filter pipe.

Files larger than `[store] checkout_in_git_max` are not handed to Git: the filter answers their
pointer, and the post-checkout / post-merge hooks write them here (also after a plain `git clone`,
or `branchml install`). Compared with Git's pipe this reads and verifies chunks on several threads,
holds no file in memory, and fetches every missing chunk of the checkout in one batched plan.

Safety (docs/materialise.md): only a file that holds exactly its index entry's pointer is written,
so a file the user modified is never overwritten; bytes go to a temp file and are renamed into
place after the whole-file check, so a crash leaves either the pointer or the full, verified
content; a file that cannot be produced fails alone, and is reported.
"""

from __future__ import annotations

import fnmatch
import os
import sys
import time
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from branchml import config
from branchml.errors import BranchmlError, NoSpace, is_disk_full
from branchml.git import indexstat, plumbing, written
from branchml.pointers import PointerBlob, index_pointers, read_pointers
from branchml.repo import Repo
from branchml.settings import CheckoutSettings
from branchml.store import handoff
from branchml.store.filecache import FileCache
from branchml.store.handoff import TEMP_PREFIX, WRITERS
from branchml.store.pack import is_locked
from branchml.store.pointer import MAX_POINTER_SIZE, Pointer
from branchml.store.restore import write_file
from branchml.store.store import FileRecord, Store

DIRECT_INDEX_ENV = "BRANCHML_DIRECT_INDEX"  # "0": leave every refresh to Git (bench/ compares both roads)


@dataclass(frozen=True)
class PointerFile:
    """A work-tree file holding exactly the pointer its index entry stages."""

    entry: PointerBlob
    target: Path

    @property
    def text(self) -> bytes:
        return self.entry.pointer.encode()


def materialize(repo: Repo, paths: list[str] | None = None, *, keep_going: bool = False,
                claimed: list[str] | None = None) -> list[str]:
    """Replace pointer files in the work tree by their content; returns the paths written.

    With keep_going, a file that cannot be had is reported on stderr, the others are still written,
    and then one error names every file that was not (a checkout must not end in success then).
    `claimed` receives the paths whose content the filter process had written ahead (handoff.py).
    """
    _clear_stale_temps(repo)
    cache = _file_cache(repo)  # first: a refused [checkout] link setting is reported even with nothing to write
    pending = pointer_files(repo, paths)
    if not pending:
        return []
    _prefetch(repo, [p.entry.pointer for p in pending], keep_going)
    done: list[written.Written] = []
    failed: list[tuple[str, BranchmlError]] = []
    try:
        with handoff.writer_lock(repo.store_dir / "tmp"):
            _write_all(repo, pending, cache, done, failed if keep_going else None, claimed)
    finally:
        if done:
            refresh_stat_data(repo, {p.entry.path: p.entry for p in pending}, done)
    if failed:
        raise _summary(failed)
    return [w.path for w in done]


def materialize_matching(repo: Repo, include: list[str]) -> list[str]:
    """Materialise the index's tracked files whose path matches an include glob (all without globs)."""
    paths = [e.path for e in index_pointers(repo) if not include or any(fnmatch.fnmatchcase(e.path, g) for g in include)]
    return materialize(repo, paths) if paths else []


def _summary(failed: list[tuple[str, BranchmlError]]) -> BranchmlError:
    """One error for every file left as its pointer, of the first failure's kind (its exit code)."""
    paths = ", ".join(path for path, _ in failed[:5]) + (", ..." if len(failed) > 5 else "")
    first = failed[0][1]
    error = type(first)(
        f"{len(failed)} file(s) could not be written and still hold their pointer: {paths}",
        hint=first.hint or "run `branchml fsck`, then `git checkout -f` to try again",
    )
    return error


def pointer_files(repo: Repo, paths: list[str] | None = None) -> list[PointerFile]:
    """Index entries whose work-tree file holds their pointer (only files of pointer size are read)."""
    wanted = set(paths) if paths else None
    root = _work_tree(repo)
    maybe = {
        e.path: e for e in plumbing.ls_files_staged(root)
        if e.mode.startswith("100") and (wanted is None or e.path in wanted) and _small_file(root / e.path)
    }
    if not maybe:
        return []
    pointers = {p.blob: p.pointer for p in read_pointers(repo, {e.oid: path for path, e in maybe.items()})}
    out = []
    for path, e in maybe.items():
        pointer = pointers.get(e.oid)
        if pointer is not None and pointer.size > 0 and handoff.holds(root / path, pointer.encode()):
            out.append(PointerFile(PointerBlob(e.oid, path, pointer, e.mode), root / path))
    return out


def _work_tree(repo: Repo) -> Path:
    if repo.root is None:
        raise BranchmlError("this is a bare repository: it has no work tree to write files into",
                            hint="run this in a clone that has a work tree")
    return repo.root


def _small_file(path: Path) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return (st.st_mode & 0o170000) == 0o100000 and st.st_size <= MAX_POINTER_SIZE


def _prefetch(repo: Repo, pointers: list[Pointer], keep_going: bool) -> None:
    """One batched download of every file record and chunk the checkout lacks (no per-file trips)."""
    store = repo.store
    if store.fetcher is None:
        return
    try:
        missing_files = [p.oid_bytes for p in pointers if not store.has_file(p.oid)]
        if missing_files:
            store.fetcher(missing_files, [])
        chunks: dict[bytes, None] = {}
        for p in pointers:
            record = store.file_record(p.oid)
            if record is not None:
                chunks.update(dict.fromkeys(store.missing_chunks(record)))
        if chunks:
            store.fetcher([], list(chunks))
    except BranchmlError:
        if not keep_going:
            raise
        # each file then asks for what it lacks, and the ones that cannot be had fail alone


def _write_all(repo: Repo, pending: list[PointerFile], cache: FileCache | None, done: list[written.Written],
               failed: list[tuple[str, BranchmlError]] | None, claimed: list[str] | None = None) -> None:
    """Write the files, WRITERS at a time: each file front to back on one thread (store/restore.py).

    Without `failed`, the first failure cancels the files not started yet and is raised. Either
    way, every file started is finished first, so that each file renamed into place is in `done`
    (its stat data gets recorded) and no temp file outlives the writer's lock.
    """
    temp_dir = handoff.temp_dir(repo.store_dir, _work_tree(repo))
    writers = 1 if cache is not None else WRITERS  # the reflink cache keeps one process-wide list
    first: BranchmlError | None = None
    with ThreadPoolExecutor(max_workers=writers, thread_name_prefix="branchml-write") as pool:
        places = _Places(temp_dir, cache, claimed)
        futures = [_start(pool, repo.store, item, n, places) for n, item in enumerate(pending)]
        for item, future in zip(pending, futures, strict=True):
            try:
                done.append(future.result())
            except CancelledError:
                continue
            except BranchmlError as exc:
                if failed is not None:
                    sys.stderr.write(f"branchml: {exc}\n")
                    failed.append((item.entry.path, exc))
                elif first is None:
                    first = exc
                    _cancel(futures)
            except BaseException:
                _cancel(futures)  # an unexpected error (a full disk...): no more files started
                raise
    if first is not None:
        raise first


def _cancel(futures: list[Future[written.Written]]) -> None:
    for future in futures:
        future.cancel()  # the files not started yet; those running finish


@dataclass(frozen=True)
class _Places:
    """Where a writer's bytes may come from and go: the temp folder (None: beside the target), the
    reflink cache, and the list of paths taken from the filter's hand-off (None: not counted)."""

    temp_dir: Path | None
    cache: FileCache | None
    claimed: list[str] | None


def _start(pool: ThreadPoolExecutor, store: Store, item: PointerFile, n: int, places: _Places) -> Future[written.Written]:
    """The file's record looked up (and fetched if missing) here, on one thread: the writers
    share no index transactions or downloads; then its writing handed to the pool."""
    try:
        record = store.require(item.entry.pointer, item.entry.path)
    except BranchmlError as exc:
        failure: Future[written.Written] = Future()
        failure.set_exception(exc)
        return failure
    return pool.submit(_write_one, store, record, item, _temp_path(item, n, places.temp_dir), places)


def _temp_path(item: PointerFile, n: int, temp_dir: Path | None) -> Path:
    """Unique among this process's writers (two files of one name in two folders are written at once)."""
    return (temp_dir or item.target.parent) / f"{TEMP_PREFIX}{os.getpid()}-{n}-{item.target.name[:80]}.tmp"


def _file_cache(repo: Repo) -> FileCache | None:
    """The store's whole-file cache when `[checkout] link = "reflink"`, else None (plain copies)."""

    settings = CheckoutSettings.from_config(config.load(repo.root, repo.store_dir))
    return FileCache(repo.store) if settings.link == "reflink" else None


def _write_one(store: Store, record: FileRecord, item: PointerFile, tmp: Path, places: _Places) -> written.Written:
    """Verified content into the temp file `tmp` (a reflink clone of the store's whole-file copy
    where configured and possible, or the copy the filter process wrote and verified while Git was
    busy: store/handoff.py), then renamed over the pointer if it is still there."""
    target, pointer = item.target, item.entry.pointer
    mode = os.lstat(target).st_mode & 0o777
    tmp.unlink(missing_ok=True)
    try:
        if not _ready_copy(item, tmp, places):
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            try:
                write_file(store, record, pointer, fd, item.entry.path)
            finally:
                os.close(fd)
        os.chmod(tmp, mode)
        _backdate(tmp)
        if not handoff.holds(target, item.text):
            raise BranchmlError(
                f"{item.entry.path}: changed while branchml was writing it; left as it is",
                hint=f"run `git checkout -- {item.entry.path}` to get the committed content",
            )
        os.replace(tmp, target)
        if places.cache is not None:
            places.cache.renamed(tmp, target)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if is_disk_full(exc):  # one line naming the file, like every full disk; its pointer stays
            raise NoSpace(item.entry.path, hint=f"free some space, then run `git checkout -- {item.entry.path}`") from exc
        raise
    return written.Written(item.entry.path, pointer.oid, pointer.size, written.stat_key(os.lstat(target)))


def _ready_copy(item: PointerFile, tmp: Path, places: _Places) -> bool:
    """Put a verified copy at `tmp` without writing it, where there is one: a reflink clone of the
    store's whole-file copy, or the copy the filter process wrote while Git was busy."""
    if places.cache is not None:
        return places.cache.clone_into(item.entry.pointer, tmp, item.entry.path)
    if places.temp_dir is None or not handoff.claim(places.temp_dir, item.entry.pointer.oid, tmp):
        return False
    if places.claimed is not None:
        places.claimed.append(item.entry.path)  # list.append is atomic: the writers share it
    return True


def _backdate(path: Path) -> None:
    """Set the file's mtime into the previous second.

    Git built without USE_NSEC (Debian's, among others) calls an entry "racily clean" when its file's
    mtime is in the same second as the index file, and then re-reads the file on every `git status`
    until the index is written in a later second: a full pass over a large file. A mtime a second in
    the past costs nothing and means the index written just after is always later.
    """
    st = os.stat(path)
    second = time.time_ns() // 1_000_000_000 - 1
    os.utime(path, ns=(st.st_atime_ns, second * 1_000_000_000 + st.st_mtime_ns % 1_000_000_000))


def _clear_stale_temps(repo: Repo) -> None:
    """Remove temp files that a killed checkout left: those whose writer no longer holds its lock
    (a process id alone is not enough: ids are reused, quickly on a busy machine)."""
    tmp_dir = repo.store_dir / "tmp"
    for path in tmp_dir.glob(f"{TEMP_PREFIX}*.tmp"):
        pid = path.name[len(TEMP_PREFIX) :].split("-", 1)[0]
        lock = tmp_dir / f"{TEMP_PREFIX}{pid}.lock"
        if pid.isdigit() and not is_locked(lock):
            path.unlink(missing_ok=True)
    for lock in tmp_dir.glob(f"{TEMP_PREFIX}*.lock"):  # unheld: its writer died (maybe before any temp)
        if not is_locked(lock):
            lock.unlink(missing_ok=True)


def refresh_stat_data(repo: Repo, entries: dict[str, PointerBlob], done: list[written.Written]) -> None:
    """Record the new files' stat data in Git's index, so `git status` is clean and never re-reads them.

    Written straight into the index file (git/indexstat.py) where it can be: the content was just
    verified, so Git need not read it again. Entries that cannot be patched there are re-staged
    (Git trusts a size change without looking, and re-staging clears their stat data) and refreshed
    by Git, whose clean filter recognises the files it just wrote (git/written.py) and answers their
    pointers without hashing them again; Git still pipes every byte of them once.
    """
    listing = repo.store_dir / "tmp" / f"written-{os.getpid()}.list"
    try:
        _wait_for_clock_past(max(w.stat_key[1] for w in done), listing)  # before Git stamps the index
    finally:
        listing.unlink(missing_ok=True)  # the probe (the list, if needed, is written below)
    left = _record_in_index(repo, entries, done)
    if not left:
        return
    staged = [entries[w.path] for w in left]
    plumbing.restage(repo.root, [plumbing.TreeEntry(e.mode, "blob", e.blob, e.path) for e in staged])
    written.save(listing, left)
    try:
        plumbing.refresh_index(repo.root, env={written.ENV: str(listing)})
    finally:
        listing.unlink(missing_ok=True)


def _record_in_index(repo: Repo, entries: dict[str, PointerBlob], done: list[written.Written]) -> list[written.Written]:
    """Patch the stat data of the files still exactly as written into the index; the others."""
    root = _work_tree(repo)
    files: dict[str, indexstat.NewStat] = {}
    for w in done:
        try:
            st = os.lstat(root / w.path)
        except OSError:
            continue
        if written.stat_key(st) == w.stat_key:  # changed since: Git must look at it
            files[w.path] = indexstat.NewStat(entries[w.path].blob, st)
    if os.environ.get(DIRECT_INDEX_ENV) == "0":
        left = set(files)
    else:
        left = indexstat.record_stat_data(plumbing.index_file(root), files)
    return [w for w in done if w.path in left or w.path not in files]


def _wait_for_clock_past(mtime_ns: int, probe: Path) -> None:
    """Wait until the file system stamps times later than `mtime_ns` (a few ms at most).

    Git marks an entry "racily clean" when its file is not older than the index, and then stores
    it with size 0, so the next `git status` would hash the file again. File times come from a
    coarse clock, so a file written just before the refresh can get the index's very timestamp.
    """
    for _ in range(1000):
        probe.write_bytes(b"")
        if probe.stat().st_mtime_ns > mtime_ns:
            return
        time.sleep(0.001)


def after_checkout(repo: Repo, args: list[str], stdin: bytes) -> None:
    """post-checkout / post-merge: write the large files the filter left as pointers."""
    if repo.root is None or config.skip_smudge():
        return
    claimed: list[str] = []
    written_paths = materialize(repo, keep_going=True, claimed=claimed)
    if written_paths:
        ahead = f", {len(claimed)} of them written ahead while Git was busy" if claimed else ""
        sys.stderr.write(f"branchml: wrote {len(written_paths)} large file(s) after checkout{ahead}\n")
