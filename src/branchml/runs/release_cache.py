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

from branchml.git import cmd
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
        cmd.git(["init", "-q", "--bare", str(path)])
        cmd.git(["remote", "add", "origin", "--", url], path)
    repo = Repo.find(path)
    branch = default_branch(url)
    cmd.config_set(source.BRANCH_KEY, branch, path)
    cmd.git(["fetch", "-q", "--depth", "1", "--no-tags", "origin",
             f"+refs/heads/{branch}:refs/remotes/origin/{branch}"], path)
    return repo


def default_branch(url: str) -> str:
    """The branch the remote's HEAD names (main when it names none)."""
    out = cmd.git_text(["ls-remote", "--symref", url, "HEAD"])
    for line in out.splitlines():
        if line.startswith("ref: refs/heads/") and line.endswith("\tHEAD"):
            return line.removeprefix("ref: refs/heads/").removesuffix("\tHEAD")
    return source.DEFAULT_BRANCH
