"""A customer's side of a release: a small bare repository per Git remote URL, kept in a cache folder.

`branchml release get acme --latest --remote URL --to ./deploy` runs anywhere, an empty folder
included: the tag is fetched (shallow) into `<cache>/releases/<hash of URL>.git`, together with
the remote's default branch (shallow), whose committed branchml.toml names the blob remote, as in
any clone (remote/source.py). The store in that repository keeps the chunks of earlier releases,
so tomorrow's release downloads only what changed. The cache is `$BRANCHML_CACHE`, else
`$XDG_CACHE_HOME/branchml`, else `~/.cache/branchml`; deleting it loses nothing but time.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from branchml.git import cmd, porcelain
from branchml.remote import source
from branchml.repo import Repo


def cache_root() -> Path:
    if os.environ.get("BRANCHML_CACHE"):
        return Path(os.environ["BRANCHML_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "branchml"


def release_repo(url: str) -> Repo:
    """The cache repository for Git remote `url`, created on first use, its settings branch fetched."""
    return bare_repo(url, cache_root() / "releases" / (hashlib.sha256(url.encode()).hexdigest()[:20] + ".git"))


def bare_repo(url: str, path: Path) -> Repo:
    """A bare repository at `path` (created if needed) whose `origin` is `url`, its settings branch fetched."""
    if not (path / "HEAD").exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        porcelain.init(path, bare=True)
        porcelain.add_remote(path, "origin", url)
    repo = Repo.find(path)
    branch = default_branch(url)
    cmd.config_set(source.BRANCH_KEY, branch, path)
    porcelain.fetch(path, "origin", [f"+refs/heads/{branch}:refs/remotes/origin/{branch}"], depth=1)
    return repo


def default_branch(url: str) -> str:
    """The branch the remote's HEAD names (main when it names none)."""
    head = porcelain.remote_head(None, url)
    return head.removeprefix("refs/heads/") if head and head.startswith("refs/heads/") else source.DEFAULT_BRANCH
