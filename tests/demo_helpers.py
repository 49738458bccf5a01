"""The demo repository for tests: built once per test run (it trains four models and serves real
traffic, a minute of CPU), then copied for every test module that needs one."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path
from typing import Any

from conftest import bml


def demo_repo(tmp_path_factory: Any, name: str) -> tuple[Path, dict[str, Any], bytes]:
    """(a private copy of the demo repository, `branchml demo --json`'s summary, its narration)."""
    dest = tmp_path_factory.mktemp(name) / "demo"
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    # xdist workers of one run share the parent of their base temp folders; without xdist, build here
    cache = tmp_path_factory.getbasetemp().parent / f"demo-{run}" if run else dest.parent / "build"
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (cache / "summary.json").exists():
            proc = bml(cache, "demo", "--json", str(cache / "demo"))
            (cache / "narration.txt").write_bytes(proc.stderr)
            (cache / "summary.json").write_bytes(proc.stdout)
    shutil.copytree(cache / "demo", dest, symlinks=True)
    return dest, json.loads((cache / "summary.json").read_text()), (cache / "narration.txt").read_bytes()
