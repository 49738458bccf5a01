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

Concurrent callers combine their writes (see Journal.append_lines): no lock is held while a write
is in the kernel, so a write held up behind the flush, or a thread waiting for the GIL after it,
does not line up every other request behind it.

A write that fails (disk full, read-only, I/O error) is cut back off the file, so the journal stays
a run of complete lines with contiguous sequence numbers, and raised as a BranchmlError: the
server answers 500 and acknowledges nothing (nor the lines queued behind that write).
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
        self._cond = threading.Condition()  # guards what follows; never held during a write or a flush
        self._sync_lock = threading.Lock()
        self.closed = False
        self.seq = 0  # last seq handed out: written, or queued for the next write
        self.written = 0  # last seq in the file
        self._queued: list[bytes] = []  # numbered lines handed out, not yet taken by a write
        self._writing = False  # one caller is writing the queued lines of every caller
        self._epoch = 0  # failed writes so far; the lines queued in an epoch are written in order or lost together
        self._lost: dict[int, tuple[int, BranchmlError]] = {}  # epoch -> (seq written before its failed write, the error)
        self._size = 0  # bytes written: where a failed write is cut back to
        self._synced = 0  # last seq known to be on disk

    def append(self, record: LogRecord) -> int:
        """Write `record` (and with `fsync`, wait until it is on disk); its seq."""
        return self.append_lines([record.to_json()])[-1]

    def append_lines(self, lines: list[str]) -> list[int]:
        """Write records serialised by the caller (`LogRecord.to_json`, the rows of one request), and
        with `fsync` wait for one shared flush; their seqs, in order. The caller keeps the text for
        the batch commit, so a record is serialised once.

        Callers combine their writes: a caller queues its numbered lines, and if no write is under
        way it writes everything queued in one `write`; else it waits for the write under way and
        the next one, which whoever comes first makes. A write that waits (the kernel's journal
        behind a flush, a thread waiting for the GIL) thus holds up no queue of callers each taking
        a lock in turn: the lines that came meanwhile go out together right after it."""
        with self._cond:
            if self.closed:
                raise JournalClosed(self.name)
            first, epoch = self.seq + 1, self._epoch
            self._queued.append("".join(f"{first + n}\t{line}\n" for n, line in enumerate(lines)).encode())
            self.seq = last = first + len(lines) - 1
            while not self._written_through(epoch, last):
                if self._writing:
                    self._cond.wait()
                else:
                    self._write_queued()
        if self.fsync:
            self._sync_through(last)
        return list(range(first, last + 1))

    def _written_through(self, epoch: int, last: int) -> bool:
        """Whether the lines through `last`, queued in `epoch`, are in the file; raises if a failed write lost them."""
        if epoch != self._epoch:
            through, error = self._lost[epoch]
            if last > through:
                raise error
            return True
        return self.written >= last

    def _write_queued(self) -> None:
        """Write every queued line in one write (called with the condition held, released meanwhile).
        If it fails, every line not yet written is lost together and its callers get the error: the
        seqs of the next lines follow the last written one, so the file never has a gap."""
        data, through = b"".join(self._queued), self.seq
        self._queued.clear()
        self._writing = True
        error = None
        self._cond.release()
        try:
            self._write(data)
        except BranchmlError as exc:
            error = exc
        finally:
            self._cond.acquire()
            self._writing = False
            self._cond.notify_all()
        if error is None:
            self.written = through
        else:
            self._lost[self._epoch] = (self.written, error)
            self._epoch += 1
            self.seq = self.written
            self._queued.clear()

    def _write(self, data: bytes) -> None:
        """Append `data` whole, or leave the file as it was and raise (one caller writes at a time)."""
        done = 0
        try:
            while done < len(data):
                done += os.write(self._fd, data[done:])
        except OSError as exc:
            if done:
                os.ftruncate(self._fd, self._size)  # no torn line between complete ones
            raise _write_error(self.path, exc) from exc
        self._size += done

    def retire(self, committed: int) -> bool:
        """Refuse further writes if every line handed out is committed (seq `committed`); whether it did."""
        with self._cond:
            if self.seq != committed:
                return False  # a write slipped in
            self.closed = True
            return True

    def sync(self) -> None:
        """Flush every line written so far to the disk (the background flush)."""
        self._sync_through(self.written)

    def _sync_through(self, seq: int) -> None:
        with self._sync_lock:
            if self._synced >= seq:
                return  # an fsync that started after our write already covered it
            target = self.written
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


def read_lines(path: Path, offset: int, first: int, count: int) -> list[str]:
    """The JSON texts of lines `first` .. `first + count - 1` of a live journal whose line `first`
    starts at byte `offset` (a Logger reads back the lines it did not keep in memory)."""
    texts = []
    with path.open("rb") as f:
        f.seek(offset)
        for seq in range(first, first + count):
            number, sep, body = f.readline().partition(b"\t")
            if not sep or number != str(seq).encode() or not body.endswith(b"\n"):
                raise BranchmlError(f"{path}: line {seq} is not at byte {offset} and after",
                                    hint="the records stay journaled; restart the writer to commit them from the journal")
            texts.append(body[:-1].decode())
    return texts


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
