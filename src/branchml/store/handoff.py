"""Large files written by the filter process while Git goes on, then renamed into place by the hook.

A switch used to run its two halves one after the other: Git (with the filter answering pointers
and unlinking the old files, mostly waiting for the disk) and then the post-checkout hook (a Python
start-up, then every byte read, verified and written). The filter process already runs during the
first half, so it starts writing each large file as soon as Git has written that file's pointer:
into the store's tmp/, verified exactly as the hook would (`restore.write_file`), while Git goes on
and the hook starts. The hook then claims each finished file and does what only it may do: check
that the work-tree file still holds the very pointer its index entry stages, rename, record the
stat data in the index (checkout.py).

Names in tmp/ (a temp name always starts with `checkout-<pid>-`, so `checkout._clear_stale_temps`
removes those of a writer that is gone):
- `checkout-<pid>.lock`: held (flock) by the writing process as long as it lives;
- `checkout-<pid>-h-<oid>.tmp`: being written; flock-ed by its writer until it is done;
- `checkout-<pid>-r-<oid>.tmp`: written and verified (every chunk's BLAKE3 and the whole file's oid).

A finished file is trusted only while its writer still holds its lock: the writer is alive, so the
file was verified in this boot (a power loss can leave a named but empty file; it is never used
after one). A claim is one rename, so two hooks never take the same file. A writer killed mid-file
leaves only an `-h-` file, which nobody uses; the hook then writes that file itself, and reports
it if it cannot. Nothing here touches the work tree.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from branchml.store.pack import is_locked
from branchml.store.pointer import MAX_POINTER_SIZE, Pointer
from branchml.store.restore import Stopped, write_file
from branchml.store.store import FileRecord, Store

TEMP_PREFIX = "checkout-"
WRITERS = max(2, min(4, os.cpu_count() or 2))  # files written at once (reading, BLAKE3, writes drop the GIL)
FILTER_WRITES_ENV = "BRANCHML_FILTER_WRITES"  # "0": the filter leaves all writing to the hook (bench/ compares)
POLL_S = 0.002  # how often the filter looks whether Git has written the pointers it answered
WAIT_FOR_GIT_S = 5.0  # a pointer Git has not written by then is not a checkout's (`git archive`...)


def lock_path(tmp_dir: Path, pid: int) -> Path:
    return tmp_dir / f"{TEMP_PREFIX}{pid}.lock"


def busy_path(tmp_dir: Path, pid: int, oid: str) -> Path:
    return tmp_dir / f"{TEMP_PREFIX}{pid}-h-{oid}.tmp"


def ready_path(tmp_dir: Path, pid: int, oid: str) -> Path:
    return tmp_dir / f"{TEMP_PREFIX}{pid}-r-{oid}.tmp"


def temp_dir(store_dir: Path, work_tree: Path) -> Path | None:
    """The store's tmp/ when it is on the work tree's file system (a rename can then move a file
    into place; otherwise the hook writes beside the target and the filter writes nothing)."""
    tmp = store_dir / "tmp"
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        return tmp if os.stat(tmp).st_dev == os.stat(work_tree).st_dev else None
    except OSError:
        return None


@contextmanager
def writer_lock(tmp_dir: Path) -> Iterator[None]:
    """Held while this process has temp files in tmp_dir: tells cleaners (and claimers) it lives."""
    lock = lock_path(tmp_dir, os.getpid())
    tmp_dir.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        if _same_file(fd, lock):
            break
        os.close(fd)  # a cleaner removed it between our open and flock: lock a fresh one
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def claim(tmp_dir: Path, oid: str, into: Path) -> bool:
    """Move a live writer's verified copy of `oid` to `into` (waiting for one being written);
    False when there is none to take: the caller writes the file itself."""
    for _pid, busy in _named(tmp_dir, busy_path, oid):
        _wait_until_written(busy)
    for pid, ready in _named(tmp_dir, ready_path, oid):
        if not is_locked(lock_path(tmp_dir, pid)):
            continue  # its writer is gone: nothing says it was verified in this boot
        try:
            os.rename(ready, into)
        except FileNotFoundError:
            continue  # another claimer took it
        return True
    return False


def _named(tmp_dir: Path, name: Callable[[Path, int, str], Path], oid: str) -> Iterator[tuple[int, Path]]:
    """The files in tmp_dir named exactly `name(tmp_dir, pid, oid)` for some process id, with it."""
    pattern = name(tmp_dir, 0, oid).name.replace(f"{TEMP_PREFIX}0-", f"{TEMP_PREFIX}*-", 1)
    for path in tmp_dir.glob(pattern):
        pid = path.name[len(TEMP_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and path == name(tmp_dir, int(pid), oid):
            yield int(pid), path


def _wait_until_written(busy: Path) -> None:
    """Block until the writer of `busy` is done with it (finished, failed or killed)."""
    try:
        fd = os.open(busy, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Offer:
    """A file the filter answered with its pointer: written once Git has put that pointer in place."""

    target: Path
    pointer: Pointer
    record: FileRecord
    path: str
    deadline: float


class FilterWriter:
    """In the filter process: writes the offered files into tmp/ on `writers` threads.

    A file is started only once its work-tree path holds exactly the pointer the filter answered
    (Git writes it right after the answer), so smudges that are not checkouts (`git archive`,
    `git cat-file --filters`) start nothing. `close` (when Git closes the pipe, after the hook ran)
    stops what is left and removes every file nobody claimed.
    """

    def __init__(self, store: Store, tmp_dir: Path, writers: int) -> None:
        self.store, self.tmp_dir, self.writers = store, tmp_dir, writers
        self._offers: list[Offer] = []
        self._seen: set[str] = set()
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._pool: ThreadPoolExecutor | None = None
        self._watcher: threading.Thread | None = None
        self._held = ExitStack()  # the writer lock, from the first offer to close()

    def offer(self, target: Path, pointer: Pointer, record: FileRecord, path: str) -> None:
        if pointer.oid in self._seen:
            return  # one copy per content: a second path of it is written by the hook
        self._seen.add(pointer.oid)
        if self._pool is None:
            self._start()
        with self._changed:
            self._offers.append(Offer(target, pointer, record, path, time.monotonic() + WAIT_FOR_GIT_S))
            self._changed.notify()

    def _start(self) -> None:
        self._held.enter_context(writer_lock(self.tmp_dir))
        self._pool = ThreadPoolExecutor(max_workers=self.writers, thread_name_prefix="branchml-filter-write")
        self._watcher = threading.Thread(target=self._watch, name="branchml-filter-watch", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        """Start each offered file once Git has written its pointer; drop it if Git never does."""
        while not self._stop.is_set():
            with self._changed:
                if not self._offers:
                    self._changed.wait()
                    continue
                offers, self._offers = self._offers, []
            waiting = []
            for offer in offers:
                if holds(offer.target, offer.pointer.encode()):
                    self._submit(offer)
                elif time.monotonic() < offer.deadline:
                    waiting.append(offer)
            with self._changed:
                self._offers[:0] = waiting
            if waiting:
                self._stop.wait(POLL_S)

    def _submit(self, offer: Offer) -> None:
        """Create and lock the file here, so that a claimer from now on waits for it."""
        busy = busy_path(self.tmp_dir, os.getpid(), offer.pointer.oid)
        try:
            fd = os.open(busy, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError:
            return  # tmp/ unwritable or gone: the hook writes this file itself
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert self._pool is not None
        try:
            self._pool.submit(self._write, offer, busy, fd)
        except RuntimeError:  # shut down meanwhile
            busy.unlink(missing_ok=True)
            os.close(fd)

    def _write(self, offer: Offer, busy: Path, fd: int) -> None:
        try:
            if self._stop.is_set():
                raise Stopped
            write_file(self.store, offer.record, offer.pointer, fd, offer.path, stop=self._stop, quarantine=False)
            os.rename(busy, ready_path(self.tmp_dir, os.getpid(), offer.pointer.oid))
        except Exception:  # BranchmlError, Stopped, OSError...: the hook writes this file itself, reports what fails
            busy.unlink(missing_ok=True)
        finally:
            os.close(fd)  # releases the flock: a claimer waiting for this file goes on

    def close(self) -> None:
        """Stop, wait for the writers, remove what nobody claimed, release the lock."""
        if self._pool is None:
            return
        self._stop.set()
        with self._changed:
            self._changed.notify()
        if self._watcher is not None:
            self._watcher.join()
        self._pool.shutdown(wait=True)  # files not started yet see the stop and are removed
        for left in self.tmp_dir.glob(f"{TEMP_PREFIX}{os.getpid()}-*.tmp"):
            left.unlink(missing_ok=True)
        self._held.close()


def holds(path: Path, text: bytes) -> bool:
    """Whether the file at `path` holds exactly `text` (a pointer: only small files are read)."""
    try:
        with open(path, "rb") as f:
            return f.read(MAX_POINTER_SIZE + 1) == text
    except OSError:
        return False
