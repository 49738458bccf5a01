"""The journal's combined writes: callers that come while a write is under way go out together in the
next write, in seq order, and a write that fails loses exactly the lines not yet written; a Logger
written by many threads at once, its journal replaced as it goes, commits every record once, and
one whose committer falls behind keeps a bounded number of lines in memory.

Real threads on a real file; the failure is a real full disk (a small tmpfs mounted in a private
mount namespace by `unshare`). The only instrument is a Journal whose writes wait for the test's
signal before they start, so callers surely queue behind one.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from branchml.monitor import Logger
from branchml.monitor import logger as logger_module
from branchml.monitor.journal import Journal, read_entries
from branchml.monitor.query import tag_logs
from branchml.monitor.records import LogRecord
from branchml.repo import Repo
from conftest import SRC, git, unshare_prefix
from serve_helpers import committers


class HeldJournal(Journal):
    """A journal whose writes start only once the test lets them; each write's first seq is kept."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder, fsync=False)
        self.go = threading.Event()
        self.writes: list[int] = []  # first seq of each write, in order

    def _write(self, data: bytes) -> None:
        self.writes.append(int(data.split(b"\t", 1)[0]))
        self.go.wait()
        super()._write(data)


def _line(name: str) -> str:
    return LogRecord(tag="t-1", features={"x": 1}, prediction=0, request_id=name).to_json()


def _wait_until(check, what: str) -> None:
    for _ in range(2000):
        if check():
            return
        time.sleep(0.005)
    raise AssertionError(f"never happened: {what}")


def test_callers_queued_behind_a_write_go_out_together_in_seq_order(tmp_path):
    journal = HeldJournal(tmp_path)
    got: dict[str, list[int]] = {}

    def caller(name: str, rows: int) -> None:
        got[name] = journal.append_lines([_line(f"{name}-{r}") for r in range(rows)])

    first = threading.Thread(target=caller, args=("a", 1))
    first.start()
    _wait_until(lambda: journal.writes == [1], "the first write starts")
    others = [threading.Thread(target=caller, args=(name, rows)) for name, rows in [("b", 2), ("c", 1), ("d", 3)]]
    for thread in others:
        thread.start()
    _wait_until(lambda: len(journal._queued) == 3, "three callers queue behind the write under way")
    journal.go.set()
    for thread in [first, *others]:
        thread.join()
    assert len(journal.writes) == 2  # the three queued callers: one write, not three
    entries = read_entries(journal.path)
    assert [e.seq for e in entries] == list(range(1, 8))
    by_name = {e.record.request_id: e.seq for e in entries}
    for name, seqs in got.items():
        assert [by_name[f"{name}-{r}"] for r in range(len(seqs))] == seqs  # each caller got its own lines' seqs
    journal.close(remove=True)


def test_many_threads_appending_get_every_seq_once_in_file_order(tmp_path):
    journal = Journal(tmp_path, fsync=True)
    got: dict[str, int] = {}

    def caller(k: int) -> None:
        for i in range(60):
            names = [f"{k}-{i}-{r}" for r in range(1 + i % 3)]
            got.update(zip(names, journal.append_lines([_line(n) for n in names])))

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entries = read_entries(journal.path)
    assert [e.seq for e in entries] == list(range(1, len(got) + 1))
    assert {e.record.request_id: e.seq for e in entries} == got
    assert journal.written == journal.seq == len(got)
    journal.close(remove=True)


FULL_DISK = """\
import json, os, sys, threading, time
sys.path.insert(0, sys.argv[2])
from branchml.errors import NoSpace
from branchml.monitor.journal import Journal, read_entries
from branchml.monitor.records import LogRecord
sys.path.insert(0, sys.argv[3])
from test_monitor_journal import HeldJournal, _wait_until

folder = sys.argv[1]
journal = HeldJournal(__import__("pathlib").Path(folder))
journal.go.set()
wide = lambda name: LogRecord(tag="t-1", features={"pad": "x" * 6000}, prediction=0, request_id=name).to_json()
outcome = {"a": journal.append_lines([wide("a")])}
filler = os.open(os.path.join(folder, "filler"), os.O_WRONLY | os.O_CREAT)
try:
    while True:  # until the disk is full
        os.write(filler, b"\\0" * 512)
except OSError:
    os.close(filler)
journal.go.clear()

def caller(name):
    try:
        outcome[name] = journal.append_lines([wide(name)])
    except NoSpace as exc:
        outcome[name] = str(exc)

threads = [threading.Thread(target=caller, args=(n,)) for n in "bcd"]
threads[0].start()
_wait_until(lambda: len(journal.writes) == 2, "b's write starts")
for thread in threads[1:]:
    thread.start()
_wait_until(lambda: len(journal._queued) == 2, "c and d queue behind it")
journal.go.set()
for thread in threads:
    thread.join()
os.unlink(os.path.join(folder, "filler"))  # room again: the next line follows the last one written
outcome["e"] = journal.append_lines([wide("e")])
outcome["file"] = [[e.record.request_id, e.seq] for e in read_entries(journal.path)]
print(json.dumps(outcome))
"""


def test_a_full_disk_loses_the_lines_of_the_failed_write_and_those_queued_behind_it_and_no_other(tmp_path):
    prefix = unshare_prefix()
    if prefix is None:
        pytest.skip("needs `unshare -m` (util-linux) with mount namespaces allowed, to mount a small tmpfs")
    folder = tmp_path / "journal"
    folder.mkdir()
    mount = f'mount -t tmpfs -o size=64k tmpfs "{folder}" && exec "$@"'
    tests = Path(__file__).resolve().parent
    run = subprocess.run([*prefix, "sh", "-c", mount, "sh", sys.executable, "-c", FULL_DISK, str(folder), str(SRC), str(tests)],
                         capture_output=True, text=True, check=False, timeout=120)
    assert run.returncode == 0, run.stderr
    outcome = json.loads(run.stdout)
    assert outcome["a"] == [1] and outcome["e"] == [2]  # no gap where the lost lines were
    assert outcome["file"] == [["a", 1], ["e", 2]]  # b's part-written line was cut back off the file
    for name in "bcd":  # b's write failed; c and d were queued behind it: lost with it, each told so
        assert "no space left" in outcome[name] and str(folder) in outcome[name], outcome


def test_a_logger_written_by_many_threads_rotates_its_journal_and_commits_every_record_once(repo, monkeypatch):
    monkeypatch.setattr(logger_module, "ROTATE_AFTER", 50)  # lines; 100,000 in a server
    names: list[str] = []

    def writer(k: int, phase: str) -> None:
        for i in range(40):
            rows = [LogRecord(tag="t-1", features={"x": i}, prediction=0, request_id=f"{phase}-{k}-{i}-{r}") for r in range(1 + i % 2)]
            log.write_all(rows)
            names.extend(r.request_id for r in rows)

    with Logger(env="rot", repo=repo, batch_records=20, batch_seconds=0.05, fsync=False) as log:
        for phase in ("a", "b", "c"):
            threads = [threading.Thread(target=writer, args=(k, phase)) for k in range(4)]
            for thread in threads:
                thread.start()
            log.flush(timeout=60)  # commits while the writers go on: a rotation may come between their writes
            for thread in threads:
                thread.join()
            log.flush(timeout=60)  # nothing written meanwhile: the journal, past 50 lines, is replaced here
            # (a flush that read the old journal's seq waited forever for the new one to reach it)
    [found] = tag_logs(repo, "t-1", ["rot"])
    assert Counter(r.request_id for r in found.records) == Counter(names)  # every record, once
    journals = set(re.findall(r"Monitor-Journal: (\w+) ", git(repo, "log", "--format=%B", "monitor/rot")))
    assert len(journals) >= 3  # one journal per phase at least: rotated, and nothing lost across it
    assert not list((Repo.find(repo).store_dir / "monitor" / "rot").glob("*.journal"))


def test_records_past_the_held_lines_are_read_back_from_the_journal_when_the_committer_catches_up(repo):
    """A committer starved of CPU (a stopped one stands in) lets records pile up: past `hold_lines`
    their lines stay only in the journal, and the batches read them back from there."""
    log = Logger(env="held", tag="t-1", repo=repo, batch_records=20, batch_seconds=0.05, commit_in="process", hold_lines=30)
    child = None
    try:
        deadline = time.monotonic() + 30
        while not committers(os.getpid()) and time.monotonic() < deadline:
            time.sleep(0.01)
        [child] = committers(os.getpid())
        os.kill(child, signal.SIGSTOP)
        sent = {}
        for i in range(100):
            rows = [LogRecord(tag="t-1", features={"x": i, "r": r, "name": "é"}, prediction=i % 3, request_id=f"h{i}-{r}")
                    for r in range(1 + i % 2)]
            log.write_all(rows)
            sent.update({row.request_id: row.features for row in rows})
        held = [line for _, _, line in log._ready.values() if line is not None]
        assert len(log._ready) >= len(sent) - 20 and len(held) <= 31  # the rest is in the journal only
        os.kill(child, signal.SIGCONT)
        log.flush(timeout=60)
    finally:
        if child is not None:
            os.kill(child, signal.SIGCONT)
        log.close()
    [found] = tag_logs(repo, "t-1", ["held"])
    assert {r.request_id: r.features for r in found.records} == sent and len(found.records) == len(sent)
