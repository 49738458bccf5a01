"""`branchml status`: the set-up of this clone at a glance (like `git lfs env` or `dvc doctor`)."""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass, field

from branchml import config
from branchml.git import cmd, plumbing
from branchml.remote import api
from branchml.remote.api import ListedRemote
from branchml.repo import Repo
from branchml.roles.names import role_globs, role_of
from branchml.version import __version__
from branchml.workflows.doctor import Problem, diagnose, filter_command


@dataclass
class Status:
    version: str
    git_version: str
    python: str
    root: str | None
    store_dir: str
    branch: str | None
    role: str | None
    filter: str | None  # the command Git runs, or None when not registered
    filter_scope: str | None  # local / global / system
    skip_smudge: bool
    store: dict[str, int]
    remotes: list[ListedRemote]
    settings_from: str  # where committed settings (remotes, roles) are read from
    problems: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def status(repo: Repo) -> Status:
    branch = plumbing.short_head(repo.cwd)
    return Status(
        version=__version__,
        git_version=".".join(map(str, plumbing.git_version())),
        python=platform.python_version(),
        root=str(repo.root) if repo.root else None,
        store_dir=str(repo.store_dir),
        branch=branch,
        role=_role(repo, branch),
        filter=filter_command(repo),
        filter_scope=_scope(repo),
        skip_smudge=config.skip_smudge(),
        store=_store_totals(repo),
        remotes=_remotes(repo),
        settings_from=_settings_source(repo, branch),
        problems=diagnose(repo),
    )


def _role(repo: Repo, branch: str | None) -> str | None:
    if branch is None:
        return None
    return role_of(branch, role_globs(config.load(repo.root)) if repo.root else None)


def _scope(repo: Repo) -> str | None:
    return cmd.config_scope("filter.branchml.process", repo.cwd)


def _store_totals(repo: Repo) -> dict[str, int]:
    if not repo.store_dir.exists():
        return {}
    totals: dict[str, int] = repo.store.stats()
    return totals


def _remotes(repo: Repo) -> list[ListedRemote]:
    return api.list_remotes(repo)


def _settings_source(repo: Repo, branch: str | None) -> str:
    if repo.root is not None and (repo.root / config.FILE_NAME).exists():
        return f"{config.FILE_NAME} in the work tree ({branch or 'detached HEAD'})"
    return f"{config.FILE_NAME} at HEAD"
