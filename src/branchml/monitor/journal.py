"""The journal: records reach the disk (fsync) before a server answers, so a crash loses none.

One journal file per writer segment, `<common dir>/branchml/monitor/<env>/<name>.journal`, held
with an exclusive `flock` while its writer lives. Lines are `<seq>\\t<record JSON>\\n`, seq counting
from 1 within the file. A journal whose lock can be taken belongs to a writer that died: its
records are committed by the next writer that starts (see logger.recover), skipping the sequence
numbers the branch already holds, then the file is removed.

A record is acknowledged once its line is written (in the kernel's page cache: it survives a
killed process). Then either (`fsync=True`) the writer also waits until it is on the disk, sharing
flushes with concurrent writers (group commit: a caller waits only until some fsync that started
after its write has finished), or (`fsync=False`, the server's default) the Logger's thread flushes
the file in the background every `SYNC_EVERY` seconds, so no request ever waits for a disk flush and
a power loss can cost at most the last second of acknowledged records (docs/monitor.md).

A write that fails (disk full, read-only, I/O error) is cut back off the file, so the journal stays
a run of complete lines with contiguous sequence numbers, and raised as a BranchmlError: the
server answers 500 and acknowledges nothing.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from branchml.errors import BranchmlError, NoSpace, is_disk_full
from branchml.monitor.records import LogRecord

SUFFIX = ".journal"
SYNC_EVERY = 1.0  # seconds between background flushes when writers do not wait for them


@dataclass(frozen=True)
class Entry:
    seq: int
    record: LogRecord


class JournalClosed(Exception):
    """The journal was retired (rotated) before this write: write to the current one."""


class Journal:
    """An append-only, fsynced file of records owned by one writer."""

    def __init__(self, folder: Path, fsync: bool = True) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.name = uuid.uuid4().hex[:12]
        self.path = folder / f"{self.name}{SUFFIX}"
        self.fsync = fsync
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        _fsync_dir(folder)  # the file's name survives a crash too
        self.lock = threading.Lock()  # held while writing; rotation takes it to retire the file
        self._sync_lock = threading.Lock()
        self.closed = False
        self.seq = 0  # last seq written
        self._size = 0  # bytes written: where a failed write is cut back to
        self._synced = 0  # last seq known to be on disk

    def append(self, record: LogRecord) -> int:
        """Write `record` (and with `fsync`, wait until it is on disk); its seq."""
        return self.append_lines([record.to_json()])[-1]

    def append_lines(self, lines: list[str]) -> list[int]:
        """Write records serialised by the caller (`LogRecord.to_json`, the rows of one request) in one
        write (and with `fsync`, one shared flush); their seqs, in order. The caller keeps the text
        for the batch commit, so a record is serialised once."""
        with self.lock:
            if self.closed:
                raise JournalClosed(self.name)
            first = self.seq + 1
            self._write("".join(f"{first + n}\t{line}\n" for n, line in enumerate(lines)).encode())
            self.seq = last = first + len(lines) - 1
        if self.fsync:
            self._sync_through(last)
        return list(range(first, last + 1))

    def _write(self, data: bytes) -> None:
        """Append `data` whole, or leave the file as it was and raise (called with the lock held)."""
        done = 0
        try:
            while done < len(data):
                done += os.write(self._fd, data[done:])
        except OSError as exc:
            if done:
                os.ftruncate(self._fd, self._size)  # no torn line between complete ones
            raise _write_error(self.path, exc) from exc
        self._size += done

    def sync(self) -> None:
        """Flush every line written so far to the disk (the background flush)."""
        self._sync_through(self.seq)

    def _sync_through(self, seq: int) -> None:
        with self._sync_lock:
            if self._synced >= seq:
                return  # an fsync that started after our write already covered it
            target = self.seq
            try:
                os.fdatasync(self._fd)
            except OSError as exc:
                raise _write_error(self.path, exc) from exc
            self._synced = target

    def close(self, remove: bool) -> None:
        self.closed = True
        try:
            if remove:
                self.path.unlink(missing_ok=True)
            else:
                self.sync()  # what stays for the next writer to recover is on the disk
        finally:
            os.close(self._fd)


def _write_error(path: Path, exc: OSError) -> BranchmlError:
    if is_disk_full(exc):
        return NoSpace(path)
    return BranchmlError(f"{path}: the monitoring journal could not be written ({exc.strerror or exc})",
                         hint="check that the folder is writable and its disk is healthy; nothing was acknowledged")


def read_entries(path: Path) -> list[Entry]:
    """Every complete entry of a journal; a torn last line (a write cut by a crash) is ignored:
    it was never fsynced, so it was never acknowledged."""
    data = path.read_bytes()
    lines = data.split(b"\n")
    entries = []
    for number, line in enumerate(lines[:-1], 1):  # the part after the last newline is torn or empty
        seq, sep, body = line.partition(b"\t")
        if not sep or not seq.isdigit():
            raise BranchmlError(f"{path}:{number}: not a journal line", hint="inspect it; move it away to skip it")
        entries.append(Entry(int(seq), LogRecord.from_dict(json.loads(body), f"{path}:{number}")))
    return entries


def orphans(folder: Path) -> list[tuple[Path, int]]:
    """Journals no live writer holds, each with an fd that holds its lock for the caller."""
    found = []
    for path in sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue  # another recoverer finished it
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        if not path.exists():  # removed between our open and our lock
            os.close(fd)
            continue
        found.append((path, fd))
    return found


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
