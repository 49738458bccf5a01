"""Tag reservation and tracking writes under real concurrency (several processes at once)."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import git

RESERVE = """
import sys
from branchml.git import plumbing
from branchml.repo import Repo
from branchml.runs import tags
repo = Repo.find()
head = plumbing.commit_id(repo.cwd, "HEAD")
print(tags.reserve(repo, head, prefix="acme"))
"""

RECORD = """
import sys
from branchml.repo import Repo
from branchml.runs import tracking
tracking.write_record(Repo.find(), tracking.RunRecord(tag=sys.argv[1]))
"""


def _all_at_once(repo, script: str, count: int) -> list[str]:
    procs = [subprocess.Popen([sys.executable, "-c", script, f"acme-x{i}"], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(count)]
    outs = []
    for proc in procs:
        out, err = proc.communicate()
        assert proc.returncode == 0, err
        outs.append(out.decode().strip())
    return outs


def test_racing_reservations_get_distinct_numbers(repo):
    git(repo, "commit", "-q", "--allow-empty", "-m", "init")
    git(repo, "tag", "acme-2")  # numbering continues after existing tags
    reserved = _all_at_once(repo, RESERVE, 6)
    assert sorted(reserved, key=lambda t: int(t.split("-")[1])) == [f"acme-{n}" for n in range(3, 9)]
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/branchml/reserved/").split()
    assert len(refs) == 6


def test_racing_record_writers_all_land_on_main(repo):
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "init")
    _all_at_once(repo, RECORD, 6)
    names = git(repo, "ls-tree", "--name-only", "main", "tracking/runs/").split()
    assert sorted(names) == sorted(f"tracking/runs/acme-x{i}.json" for i in range(6))
    assert git(repo, "rev-list", "--count", "main").strip() == "7"  # one commit per record, none lost
    assert json.loads(git(repo, "show", "main:tracking/runs/acme-x3.json"))["tag"] == "acme-x3"
    assert git(repo, "status", "--porcelain") == ""  # main is checked out here: kept in step


def test_killed_run_leaves_no_tag_and_its_number_is_skipped(repo):
    """SIGKILL mid-training: nothing committed or tagged; the stale reservation keeps its number out of use."""
    import os
    import signal
    import time

    from runs_helpers import stable_repo, tags

    stable_repo(repo)
    head = git(repo, "rev-parse", "HEAD")
    cmd = [sys.executable, "-m", "branchml", "run", "--", sys.executable, "train.py", "{tag}"]
    proc = subprocess.Popen(cmd, cwd=repo, env={**os.environ, "PAUSE": "60"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    log = repo / ".git/branchml/runs/acme-1.log"
    while not (log.exists() and b"$ " in log.read_bytes()):  # training has started
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert tags(repo) == [] and git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "for-each-ref", "--format=%(refname)", "refs/branchml/reserved/").split() == ["refs/branchml/reserved/acme-1"]
    git(repo, "reset", "-q", "--hard")
    git(repo, "clean", "-qfdx")
    subprocess.run(cmd, cwd=repo, check=True, capture_output=True)
    assert tags(repo) == ["acme-2"]
