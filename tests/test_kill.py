"""SIGKILL during `git add` at random points: the store stays consistent, nothing needs repair."""

from __future__ import annotations

import os
import random

import pytest

from conftest import bml, git
from kill_helpers import add_killed_midway

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
        add_killed_midway(repo, rng.uniform(0.0, 0.6))
        git(repo, "add", "data")
        target.unlink()
        git(repo, "checkout", "--", str(target.relative_to(repo)))
        assert target.read_bytes() == data, f"round {round_no}"
    bml(repo, "fsck", "--read-data")
