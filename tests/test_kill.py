"""SIGKILL during `git add` at random points: the store stays consistent, nothing needs repair."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time

import pytest

from conftest import bml, git

ROUNDS = int(os.environ.get("BRANCHML_TEST_KILL_ROUNDS", "10"))


@pytest.mark.slow  # tens of MiB through the filter
def test_sigkill_during_add_leaves_store_consistent(repo):
    bml(repo, "track", "data/**")
    (repo / "data").mkdir()
    rng = random.Random(11)
    for round_no in range(ROUNDS):
        data = rng.randbytes(24 << 20)
        target = repo / "data" / f"f{round_no}.bin"
        target.write_bytes(data)
        proc = subprocess.Popen(["git", "add", "data"], cwd=repo, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.0, 0.6))
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # git and its filter process together
        except ProcessLookupError:
            pass
        proc.wait()
        (repo / ".git" / "index.lock").unlink(missing_ok=True)  # Git's own leftover, not ours
        bml(repo, "fsck", "--read-data")
        git(repo, "add", "data")
        target.unlink()
        git(repo, "checkout", "--", str(target.relative_to(repo)))
        assert target.read_bytes() == data, f"round {round_no}"
    bml(repo, "fsck", "--read-data")
