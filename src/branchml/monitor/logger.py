"""`Logger`: journal each record, commit them in batches onto monitor/<env> from a background thread.

    from branchml.monitor import Logger
    with Logger(env="prod", tag="acme-4") as log:
        log.log(features, prediction, request_id=rid)

`log()` returns once the record is written to the journal (that is what "acknowledged" means: it
survives a killed process; with `fsync=True`, the default here, it is also flushed to the disk
first, and survives a power loss; without, the thread flushes it within a second); a
thread commits records every `batch_records` records or `batch_seconds` seconds, whichever comes
first, in contiguous journal order (so `Monitor-Journal` ranges say exactly what is on the branch).
With `commit_in="process"` (what `branchml serve` uses) that thread hands each batch to a child
process at a lower CPU priority (committer.py), so the commits share neither the GIL nor the
cores' time with the answers. A new Logger first commits what dead writers left in their journals, skipping what they had
already committed: nothing acknowledged is lost, nothing is committed twice.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from branchml.errors import BranchmlError
from branchml.monitor import branch, journal
from branchml.monitor.committer import Committer, CommitterEnded
from branchml.monitor.records import LogRecord, check_env
from branchml.repo import Repo

ROTATE_AFTER = 100_000  # journal lines; a fully committed journal this long is replaced by a new one
HOLD_LINES = 50_000  # records awaiting their batch whose JSON line is kept in memory; the rest is read back from the journal


class Logger:
    """Log records to monitor/<env> of the repository around `repo` (a path; default: cwd)."""

    def __init__(self, env: str = "dev", tag: str | None = None, *, repo: str | os.PathLike[str] | None = None,
                 batch_records: int = 1000, batch_seconds: float = 5.0, fsync: bool = True,
                 commit_in: Literal["thread", "process"] = "thread", hold_lines: int = HOLD_LINES) -> None:
        found = Repo.find(repo)
        self.cwd = found.cwd
        self.env = check_env(env)
        self.tag = tag
        self.folder = found.store_dir / "monitor" / env
        self.batch_records = batch_records
        self.batch_seconds = batch_seconds
        self.hold_lines = hold_lines
        self.recovered = recover(self.cwd, env, self.folder, batch_records)
        self._journal = journal.Journal(self.folder, fsync)
        # seq -> (tag, UTC date, JSON line): strings only, which the cyclic collector never scans. A
        # committer that falls behind (a saturated machine starves it) would make this grow without
        # bound: past `hold_lines` records the line is not kept (None), and its batch reads it back
        # from the journal, where it is already.
        self._ready: dict[int, tuple[str, str, str | None]] = {}
        self._committed = 0  # seq of the current journal committed so far
        self._read_at = 0  # byte offset of line `_committed + 1` in the current journal
        self._cond = threading.Condition()
        self._flush_asked = False
        self._stopping = False
        self._closing = False  # close() began: the last batches are committed here (see _send)
        self.error: BaseException | None = None
        self.commits = 0
        self._committer = Committer(self.cwd) if commit_in == "process" else None
        self._thread = threading.Thread(target=self._run, name=f"branchml-monitor-{env}", daemon=True)
        self._thread.start()

    def log(self, features: Any, prediction: Any, *, request_id: str | None = None, tag: str | None = None,
            variant: str = "primary", latency_ms: float | None = None) -> LogRecord:
        """Journal one record (on disk when this returns); it reaches the branch with the next batch."""
        use_tag = tag or self.tag
        if not use_tag:
            raise BranchmlError("a log record needs the model tag that answered", hint="Logger(env, tag=...) or log(..., tag=...)")
        record = LogRecord(tag=use_tag, features=features, prediction=prediction, variant=variant, latency_ms=latency_ms)
        if request_id:
            record.request_id = request_id
        self.write(record)
        return record

    def write(self, record: LogRecord) -> None:
        self.write_all([record])

    def write_all(self, records: list[LogRecord]) -> None:
        """Journal several records with one write and one flush (the rows of one request).

        The answer path takes the condition only to wake the batch thread when a batch is full: a
        lock every request takes lines requests up behind whichever holder waits for the GIL. A
        plain read of `_stopping` does what the lock did (a write racing close() is journaled; its
        journal is then kept for the next Logger), and `dict.update` with int keys is one step
        under the GIL, while the batch thread only reads and removes seqs it has seen."""
        if self._stopping:
            raise BranchmlError("this Logger is closed", hint="create a new Logger")
        lines = [record.to_json() for record in records]  # once: the journal and the batch commit share it
        while True:
            current = self._journal
            try:
                seqs = current.append_lines(lines)
                break
            except journal.JournalClosed:
                continue  # rotated under us: the new journal is in place already
        keep = len(self._ready) < self.hold_lines
        self._ready.update(zip(seqs, [(r.tag, r.date, line if keep else None) for r, line in zip(records, lines)]))
        if len(self._ready) >= self.batch_records:
            with self._cond:
                self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> None:
        """Commit every record written so far; raises if committing fails."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            current = self._journal
            target = current.written  # lines still being written may yet fail: they are not waited for
            self._flush_asked = True
            self._cond.notify_all()
            # a journal is replaced only once all of it is committed, and `_committed` then counts the
            # new one from 0: comparing it with the old journal's seq would wait forever
            while self._journal is current and self._committed < target and self.error is None:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise BranchmlError(f"log records not committed onto monitor/{self.env} within {timeout} s",
                                        hint="they stay journaled and are committed on the next start")
                self._cond.wait(left)
            if self.error is not None:
                raise BranchmlError(f"could not commit log records onto monitor/{self.env}: {self.error}",
                                    hint="they stay journaled and are committed on the next start") from self.error

    def close(self) -> None:
        """Commit what is pending, stop the thread and remove the (fully committed) journal."""
        self._closing = True
        try:
            self.flush()
        finally:
            with self._cond:
                self._stopping = True
                self._cond.notify_all()
            self._thread.join()
            self._journal.close(remove=self.error is None and self._committed == self._journal.written)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _run(self) -> None:
        try:
            if self._committer is not None:
                self._committer.start()  # from this thread, which it must not outlive (committer.py)
            self._batches()
        finally:
            if self._committer is not None:
                self._committer.close()

    def _batches(self) -> None:
        last_batch = time.monotonic()
        while True:
            with self._cond:
                self._cond.wait_for(self._due, timeout=min(self.batch_seconds, journal.SYNC_EVERY))
                if self._stopping and (not self._ready or self.error is not None):
                    return
                batch = None
                if self._due() or time.monotonic() - last_batch >= self.batch_seconds:
                    self._flush_asked = False
                    batch = self._take()
                    last_batch = time.monotonic()
                current = self._journal
            self._sync_in_background(current)
            if batch is not None:
                self._commit(batch)

    def _sync_in_background(self, current: journal.Journal) -> None:
        """With `fsync=False` writers do not wait for the disk: flush their lines here, every second."""
        if current.fsync:
            return
        try:
            current.sync()
        except BranchmlError as exc:  # the records are still in the page cache; the next write reports the disk
            print(f"branchml monitor: {exc}", file=sys.stderr)

    def _due(self) -> bool:
        return self._stopping or self._flush_asked or len(self._ready) >= self.batch_records

    def _take(self) -> branch.Batch | None:
        """The contiguous run of ready records after the last committed one (at most batch_records)."""
        seqs: list[int] = []
        nxt = self._committed + 1
        while nxt in self._ready and len(seqs) < self.batch_records:
            seqs.append(nxt)
            nxt += 1
        if not seqs:
            return None
        ready = [self._ready[s] for s in seqs]
        lines = [line for _, _, line in ready]
        texts = [t for t in lines if t is not None]
        if len(texts) < len(lines):  # some were not kept: the whole batch comes from the journal
            texts = journal.read_lines(self._journal.path, self._read_at, seqs[0], len(seqs))
        return branch.Batch(self._journal.name, seqs[0], seqs[-1], [branch.Row(tag, date) for tag, date, _ in ready], texts)

    def _commit(self, batch: branch.Batch) -> None:
        try:
            self._commit_once(batch)
        except Exception as exc:  # noqa: BLE001 (kept for flush(); the records stay journaled)
            print(f"branchml monitor: {exc}", file=sys.stderr)
            with self._cond:
                self.error = exc
                self._cond.notify_all()
            time.sleep(1.0)
            return
        with self._cond:
            for seq in range(batch.first, batch.last + 1):
                del self._ready[seq]
            self._committed = batch.last
            self._read_at += sum(len(f"{seq}\t{line}\n".encode()) for seq, line in enumerate(batch.lines, batch.first))
            self.error = None
            self.commits += 1
            self._maybe_rotate()
            self._cond.notify_all()

    def _commit_once(self, batch: branch.Batch) -> None:
        """Commit `batch`, whose start may be on the branch already after a failed attempt; a committer
        process that ended without answering (killed, out of memory) is replaced at once, once."""
        unsure = self.error is not None
        while True:
            landed = self._landed(batch) if unsure else batch.first - 1
            if landed >= batch.last:
                return
            try:
                self._send(_after(batch, landed))
                return
            except CommitterEnded as exc:
                if unsure:
                    raise
                print(f"branchml monitor: {exc.message}; starting another", file=sys.stderr)
                unsure = True

    def _landed(self, batch: branch.Batch) -> int:
        """After a failed attempt: the last seq of `batch` already on the branch. A committer process
        killed between its update-ref and its answer did commit; committing again would log twice."""
        return branch.committed_through(self.cwd, self.env, batch.journal)

    def _send(self, batch: branch.Batch) -> None:
        """Commit through the niced child, except while closing: a child starved of CPU by a busy
        machine would hold a stopping server for minutes, so the last batches go at our priority."""
        if self._committer is None or self._closing:
            branch.commit_batch(self.cwd, self.env, batch)
        else:
            self._committer.commit(self.env, branch.batch_files(batch), branch.batch_message(self.env, batch))

    def _maybe_rotate(self) -> None:
        """Replace a long, fully committed journal by a new one (called with the condition held)."""
        old = self._journal
        if old.seq < ROTATE_AFTER or self._ready:
            return
        if not old.retire(self._committed):
            return  # a write slipped in: rotate after the next batch
        self._journal = journal.Journal(self.folder, old.fsync)
        self._committed = 0
        self._read_at = 0
        old.close(remove=True)


def _after(batch: branch.Batch, landed: int) -> branch.Batch:
    """The records of `batch` after seq `landed` (all of it when `landed` is before its first)."""
    skip = max(0, landed - batch.first + 1)
    if not skip:
        return batch
    return branch.Batch(batch.journal, batch.first + skip, batch.last, batch.records[skip:], batch.lines[skip:])


def recover(cwd: Path, env: str, folder: Path, batch_records: int = 1000) -> int:
    """Commit the records of dead writers' journals that their branch does not hold yet; returns how many."""
    count = 0
    for path, fd in journal.orphans(folder):
        try:
            name = path.name.removesuffix(journal.SUFFIX)
            done = branch.committed_through(cwd, env, name)
            todo = [e for e in journal.read_entries(path) if e.seq > done]
            for start in range(0, len(todo), batch_records):
                chunk = todo[start:start + batch_records]
                branch.commit_batch(cwd, env, branch.records_batch(name, chunk[0].seq, [e.record for e in chunk]))
            count += len(todo)
            path.unlink()
        finally:
            os.close(fd)
    return count
