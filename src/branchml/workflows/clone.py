"""`branchml clone`: a Git clone with branchml installed before the first checkout."""

from __future__ import annotations

import shlex
from pathlib import Path

from branchml import config
from branchml.checkout import materialize
from branchml.git import plumbing, porcelain
from branchml.remote import prefetch, source
from branchml.repo import Repo
from branchml.workflows import setup


def clone(url: str, directory: Path | None, git_options: list[str] | None = None, *,
          checkout: bool = True, submodules: bool = False) -> Path:
    """git clone (with the user's clone options) without checkout, install branchml, then check
    out with files fetched on demand: the filter must be in place before the first file is written."""
    target = directory or Path(url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git"))
    porcelain.clone(url, target, git_options or [], checkout=False)
    repo = Repo.find(target)
    setup.install(repo)
    if checkout and plumbing.rev_parse(target, "HEAD") is not None:
        if not config.skip_smudge():  # everything the checkout needs, in one batch, before Git writes
            prefetch.prefetch_tree(repo, "HEAD", f"the clone's {source.current_branch(repo) or 'HEAD'}",
                                   f"`git -C {shlex.quote(str(target))} checkout -f HEAD` (the clone is there, not checked out)")
        porcelain.checkout_head(target)
        if submodules:
            _clone_submodules(target)
    return target.resolve()


def _clone_submodules(top: Path) -> None:
    """`--recurse-submodules`: Git skips submodules in a --no-checkout clone, so fetch them now;
    those that are branchml projects get branchml installed and their files materialised."""
    for sub in porcelain.submodules_update(top):
        if (sub / config.FILE_NAME).is_file():
            repo = Repo.find(sub)
            setup.install(repo)
            if not config.skip_smudge():
                materialize(repo)
