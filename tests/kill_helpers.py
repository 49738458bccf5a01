"""SIGKILL in the middle of `git add` (test_kill.py, test_add_pipeline.py): the shape both share."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from conftest import bml


def add_killed_midway(repo: Path, pause: float) -> None:
    """Start `git add data`, SIGKILL it after `pause` seconds (Git and its filter process: one process
    group), then check the store needs no repair (`fsck --read-data` exits 0)."""
    proc = subprocess.Popen(["git", "add", "data"], cwd=repo, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(pause)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:  # it finished first: the round still checks the store
        pass
    proc.wait()
    (repo / ".git" / "index.lock").unlink(missing_ok=True)  # Git's own leftover, not ours
    bml(repo, "fsck", "--read-data")
