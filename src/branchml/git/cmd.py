"""The one wrapper around the ``git`` binary.

branchml talks to Git only through the command line (not libgit2, not dulwich): one behaviour,
the user's own Git, and errors that say which git command failed and why.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from branchml.errors import GitCommandError, NotARepository

Where = str | os.PathLike[str] | None  # the folder a git command runs in (None: this process's)


def git(
    args: Sequence[str],
    cwd: str | os.PathLike[str] | None = None,
    *,
    input: bytes | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> bytes:
    """Run ``git args`` and return its stdout; raise GitCommandError when it fails and check is set."""
    full_env = None
    if env:
        full_env = {**os.environ, **env}
    proc = subprocess.run(
        ["git", *args], cwd=cwd, input=input, capture_output=True, env=full_env
    )
    if check and proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip()
        raise GitCommandError(f"git {' '.join(args)} failed (exit {proc.returncode}): {err}")
    return proc.stdout


def git_text(args: Sequence[str], cwd: str | os.PathLike[str] | None = None, *, input: bytes | None = None,
             check: bool = True, env: dict[str, str] | None = None) -> str:
    """Like :func:`git`, decoded, with the trailing newline removed."""
    return git(args, cwd, input=input, check=check, env=env).decode().rstrip("\n")


def git_ok(args: Sequence[str], cwd: str | os.PathLike[str] | None = None) -> bool:
    """True when ``git args`` exits 0; for yes/no questions such as ``rev-parse --verify``."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True)
    return proc.returncode == 0


def _rev_parse(cwd: str | os.PathLike[str] | None, flag: str) -> Path:
    proc = subprocess.run(
        ["git", "rev-parse", "--path-format=absolute", flag], cwd=cwd, capture_output=True
    )
    if proc.returncode != 0:
        where = os.path.abspath(cwd or ".")
        raise NotARepository(
            f"not a git repository: {where}", hint="run `git init` (or `branchml init`) first"
        )
    return Path(proc.stdout.decode().strip())


def toplevel(cwd: str | os.PathLike[str] | None = None) -> Path:
    """The root of the work tree that contains cwd."""
    return _rev_parse(cwd, "--show-toplevel")


def git_dir(cwd: str | os.PathLike[str] | None = None) -> Path:
    """This worktree's own git dir (``.git`` or ``.git/worktrees/<name>``)."""
    return _rev_parse(cwd, "--git-dir")


def common_dir(cwd: str | os.PathLike[str] | None = None) -> Path:
    """The git dir shared by all worktrees: where the store lives, so they share it."""
    return _rev_parse(cwd, "--git-common-dir")


def is_bare(cwd: str | os.PathLike[str] | None = None) -> bool:
    return git_text(["rev-parse", "--is-bare-repository"], cwd) == "true"


def config_set(key: str, value: str, cwd: str | os.PathLike[str] | None = None, *, scope: str = "--local") -> None:
    git(["config", scope, key, value], cwd)


def config_get(key: str, cwd: str | os.PathLike[str] | None = None) -> str | None:
    proc = subprocess.run(["git", "config", "--get", key], cwd=cwd, capture_output=True)
    return proc.stdout.decode().strip() if proc.returncode == 0 else None


def config_scope(key: str, cwd: str | os.PathLike[str] | None = None) -> str | None:
    """Where the value of `key` comes from: "local", "global", "system", "worktree"... or None."""
    proc = subprocess.run(["git", "config", "--show-scope", "--get", key], cwd=cwd, capture_output=True)
    return proc.stdout.decode().split("\t", 1)[0] if proc.returncode == 0 and proc.stdout else None


def config_unset(key: str, cwd: str | os.PathLike[str] | None = None, *, scope: str = "--local") -> None:
    git(["config", scope, "--unset-all", key], cwd, check=False)
