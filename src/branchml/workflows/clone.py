"""`branchml clone`: a Git clone with branchml installed before the first checkout."""

from __future__ import annotations

from pathlib import Path

from branchml.git import cmd, plumbing
from branchml.repo import Repo
from branchml.workflows import setup


def clone(url: str, directory: Path | None) -> Path:
    """git clone without checkout, install branchml, then check out (files fetched on demand)."""
    target = directory or Path(url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git"))
    cmd.git(["clone", "-q", "--no-checkout", url, str(target)])
    repo = Repo.find(target)
    setup.install(repo)
    if plumbing.rev_parse(target, "HEAD") is not None:
        cmd.git(["checkout", "-q", "-f", "HEAD"], target)
    return target.resolve()
