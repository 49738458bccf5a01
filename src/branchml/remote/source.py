"""Where a repository's shared settings come from: one designated branch, never the checked-out one.

A blob remote is a setting of the repository, not of a branch: a branch forked before
`branchml remote add` must find the same remote as main, and so must a tag fetched alone. So the
committed settings that matter for remotes (and the push policy) are read from one place, in
this order (docs/remotes.md, "Which settings count"):

1. `<common dir>/branchml/local.toml`: the user's own, uncommitted (read by the callers);
2. `branchml.toml` committed on the *settings branch* (git config `branchml.settingsBranch`,
   recorded by `branchml install`/`clone` from the Git remote's default branch; default `main`):
   the local branch first, then `refs/remotes/origin/<branch>`, whichever names a blob remote
   (a local main older than the remote-tracking one still finds the remote), else the first
   that exists.

The work tree's branchml.toml is never read here: what you have not committed on the settings
branch does not change where anybody's blobs go.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from branchml import config
from branchml.errors import BranchmlError
from branchml.git import cmd, plumbing, porcelain

if TYPE_CHECKING:
    from branchml.repo import Repo

BRANCH_KEY = "branchml.settingsBranch"
REMOTE_KEY = "branchml.settingsRemote"
DEFAULT_BRANCH = "main"


@dataclass(frozen=True)
class SharedSettings:
    """The committed branchml.toml that counts, and where it was read."""

    ref: str | None  # full ref name, None when no candidate exists
    text: str  # '' when that ref has no branchml.toml

    @property
    def table(self) -> dict[str, Any]:
        return config.parse_toml(self.text, f"{self.ref}:{config.FILE_NAME}") if self.text else {}

    @property
    def where(self) -> str:
        return f"{config.FILE_NAME} on {self.ref}" if self.ref else f"{config.FILE_NAME} (no {DEFAULT_BRANCH} branch)"


def settings_branch(repo: Repo) -> str:
    return cmd.config_get(BRANCH_KEY, repo.cwd) or DEFAULT_BRANCH


def settings_remote(repo: Repo) -> str:
    """The Git remote whose tracking branch backs the settings branch (`clone --origin` renames it)."""
    return cmd.config_get(REMOTE_KEY, repo.cwd) or "origin"


def candidates(repo: Repo) -> list[str]:
    branch = settings_branch(repo)
    return [f"refs/heads/{branch}", f"refs/remotes/{settings_remote(repo)}/{branch}"]


def shared_settings(repo: Repo) -> SharedSettings:
    """The committed settings of the settings branch (see the module docstring for the order)."""
    found: list[SharedSettings] = []
    for ref in candidates(repo):
        if not plumbing.commit_id(repo.cwd, ref):
            continue
        text = committed_at(repo, ref)
        current = SharedSettings(ref, text)
        try:
            if current.table.get("remotes"):
                return current
        except BranchmlError:
            return current  # broken TOML: let the reader report it, naming the ref
        found.append(current)
    return found[0] if found else SharedSettings(None, "")


def committed_at(repo: Repo, rev: str) -> str:
    """branchml.toml of a commit ('' when it has none)."""
    out = plumbing.read_blob(repo.cwd, f"{rev}:{config.FILE_NAME}")
    return (out or b"").decode("utf-8", "replace")


def record_settings_branch(repo: Repo) -> str:
    """Remember the Git remote's default branch as the settings branch (install, clone), and fetch
    it when this clone lacks it (`clone --single-branch -b dev/x`): every branch needs its settings."""
    remotes = porcelain.remote_names(repo.cwd)
    if not remotes:
        return settings_branch(repo)
    git_remote = "origin" if "origin" in remotes else remotes[0]
    if git_remote != "origin":
        cmd.config_set(REMOTE_KEY, git_remote, repo.cwd)
    head = plumbing.symbolic_ref(repo.cwd, f"refs/remotes/{git_remote}/HEAD") or ""
    branch = head.removeprefix(f"refs/remotes/{git_remote}/")
    if branch and cmd.config_get(BRANCH_KEY, repo.cwd) is None:
        cmd.config_set(BRANCH_KEY, branch, repo.cwd)
    _fetch_if_missing(repo, git_remote, settings_branch(repo))
    return settings_branch(repo)


def _fetch_if_missing(repo: Repo, git_remote: str, branch: str) -> None:
    if any(plumbing.rev_parse(repo.cwd, ref) for ref in candidates(repo)):
        return
    depth = 1 if porcelain.is_shallow(repo.cwd) else None
    refspec = f"+refs/heads/{branch}:refs/remotes/{git_remote}/{branch}"
    porcelain.fetch(repo.cwd, git_remote, [refspec], depth=depth, check=False)


def current_branch(repo: Repo) -> str | None:
    return plumbing.short_head(repo.cwd)
