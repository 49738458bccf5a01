"""Temporary files of killed processes in the store's tmp/: found by the PID in their names, reclaimed.

Pushes build packs as `push-<random>-<pid>.part`, remote gc as `gc-<random>-<pid>.pack`, merge drivers
work in `branchml-merge-<pid>-<random>/`, transfers through the Git remote in `gitref-<random>-<pid>/`. A process removes its own when it ends; a killed one
cannot, so the next push and every gc remove those whose process no longer runs. A process that
runs is never touched, however old its files (PIDs are those of this machine: the store is local).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

_OWNED = re.compile(r"^(?:push-[0-9a-f]+-(\d+)\.part|gc-[0-9a-f]+-(\d+)\.pack|branchml-merge-(\d+)-.+"
                    r"|gitref-[0-9a-f]+-(\d+))$")


@dataclass
class Reclaimed:
    entries: int = 0
    bytes: int = 0


def owner(name: str) -> int | None:
    """The PID that created a tmp/ entry, from its name (None: not one of ours)."""
    match = _OWNED.match(name)
    return int(next(g for g in match.groups() if g)) if match else None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def reclaim(tmp_dir: Path) -> Reclaimed:
    """Remove the tmp/ entries of processes that are gone; say how many and how large."""
    out = Reclaimed()
    try:
        entries = list(os.scandir(tmp_dir))
    except FileNotFoundError:
        return out
    for entry in entries:
        pid = owner(entry.name)
        if pid is None or pid == os.getpid() or alive(pid):
            continue
        out.bytes += _size(Path(entry.path))
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            Path(entry.path).unlink(missing_ok=True)
        out.entries += 1
    return out


def _size(path: Path) -> int:
    if path.is_dir() and not path.is_symlink():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    try:
        return path.lstat().st_size
    except FileNotFoundError:
        return 0
