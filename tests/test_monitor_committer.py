"""Batch commits in a child process (`Logger(commit_in="process")`, what `branchml serve` uses):
its priority, its replacement when killed, and no record twice when it dies after committing."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

from branchml.monitor import Logger
from branchml.monitor.committer import NICENESS
from branchml.monitor.query import tag_logs
from conftest import git
from serve_helpers import committers, state

# Run by `git update-ref` once monitor/prod has moved: while the marker file exists, it kills the
# committer process (update-ref's parent) with SIGKILL, after its commit landed and before it could
# answer the Logger. Real Git, a real kill: the window a crash would have to hit.
KILL_AFTER_UPDATE = """\
#!/bin/sh
[ "$1" = committed ] || exit 0
marker="$(git rev-parse --git-dir)/kill-committer"
[ -f "$marker" ] || exit 0
grep -q ' refs/heads/monitor/prod$' || exit 0
rm "$marker"
kill -9 "$(cut -d' ' -f4 /proc/$PPID/stat)"
"""


def _commit_readme(repo: Path) -> None:
    (repo / "README.md").write_text("x\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")


def test_batches_are_committed_by_a_child_at_a_lower_priority_that_ends_with_the_logger(repo):
    _commit_readme(repo)
    log = Logger(env="prod", tag="acme-4", repo=repo, batch_records=5, commit_in="process")
    for i in range(12):
        log.log({"x": i}, i, request_id=f"q{i}")
    log.flush(timeout=60)
    [child] = committers(os.getpid())
    assert os.getpriority(os.PRIO_PROCESS, child) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + NICENESS)  # 19: the floor
    log.close()
    assert committers(os.getpid()) == []
    [logs] = tag_logs(repo, "acme-4")
    assert [r.request_id for r in logs.records] == [f"q{i}" for i in range(12)]
    assert int(git(repo, "rev-list", "--count", "monitor/prod")) == 3  # 5 + 5 + 2


def test_a_committer_killed_after_its_commit_landed_is_replaced_and_logs_nothing_twice(repo):
    _commit_readme(repo)
    hook = Path(git(repo, "rev-parse", "--path-format=absolute", "--git-path", "hooks").strip()) / "reference-transaction"
    hook.write_text(KILL_AFTER_UPDATE)
    hook.chmod(0o755)
    marker = Path(git(repo, "rev-parse", "--absolute-git-dir").strip()) / "kill-committer"
    log = Logger(env="prod", tag="acme-4", repo=repo, batch_records=5, batch_seconds=60, commit_in="process")
    for i in range(5):
        log.log({"x": i}, i, request_id=f"q{i}")
    log.flush(timeout=60)  # the first batch: a committer is running
    [first] = committers(os.getpid())
    marker.touch()
    for i in range(5, 10):
        log.log({"x": i}, i, request_id=f"q{i}")  # the second batch: committed, then its committer is killed
    log.flush(timeout=60)  # q5-q9 are found on the branch, not committed again
    assert not marker.exists()  # the hook did kill it
    for i in range(10, 13):
        log.log({"x": i}, i, request_id=f"q{i}")
    log.close()  # a new committer commits q10-q12
    counts = Counter(r.request_id for r in tag_logs(repo, "acme-4")[0].records)
    assert counts == Counter(f"q{i}" for i in range(13))
    assert first not in committers(os.getpid())
    # one commit per batch: q5-q9 were not committed a second time (an empty commit of the same part)
    assert int(git(repo, "rev-list", "--count", "monitor/prod")) == 3


def test_a_committer_killed_between_batches_is_replaced(repo):
    _commit_readme(repo)
    log = Logger(env="prod", tag="acme-4", repo=repo, batch_records=3, batch_seconds=60, commit_in="process")
    for i in range(3):
        log.log({"x": i}, i, request_id=f"q{i}")
    log.flush(timeout=60)
    [first] = committers(os.getpid())
    os.kill(first, signal.SIGKILL)
    while state(first) not in ("Z", ""):  # dead (not yet collected by the Logger)
        time.sleep(0.01)
    for i in range(3, 7):
        log.log({"x": i}, i, request_id=f"q{i}")
    log.close()
    counts = Counter(r.request_id for r in tag_logs(repo, "acme-4")[0].records)
    assert counts == Counter(f"q{i}" for i in range(7))
