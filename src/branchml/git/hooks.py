"""Client and server hooks, installed so that they chain with the user's own.

Each hook file is a short shell script that calls `branchml hook <name>` (passing its own path). A hook the user already
had is moved aside to `<name>.pre-branchml` and run first by the dispatcher, with the same arguments
and stdin, so installing branchml never disables a user's hook. Handlers per hook live in the topic
modules (roles, remotes...) and are listed in HANDLERS, imported only when that hook runs.
"""

from __future__ import annotations

import importlib
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path
from typing import Protocol

from branchml.errors import BranchmlError
from branchml.git import cmd

MARKER = "# branchml hook v1"
LEGACY_SUFFIX = ".pre-branchml"
HOOK_FILE_ENV = "BRANCHML_HOOK_FILE"  # the hook script's $0, set by the script for the dispatcher
CLIENT_HOOKS = ("pre-commit", "prepare-commit-msg", "commit-msg", "pre-push", "post-checkout", "post-merge")
SERVER_HOOKS = ("pre-receive", "post-receive")

# hook name -> handlers "module:function"; a handler gets (repo, args, stdin) and raises
# BranchmlError to refuse. Topic modules register here.
HANDLERS: dict[str, list[str]] = {
    "pre-commit": ["branchml.roles.hooks:pre_commit"],
    "prepare-commit-msg": ["branchml.merge.hooks:prepare_commit_msg"],
    "commit-msg": ["branchml.roles.hooks:commit_msg"],
    "pre-push": ["branchml.roles.hooks:pre_push", "branchml.remote.hooks:pre_push"],
    "pre-receive": ["branchml.roles.hooks:pre_receive", "branchml.workflows.commitchecks:pre_receive",
                    "branchml.remote.hooks:pre_receive"],
    "post-receive": ["branchml.monitor.hooks:post_receive"],  # alert checks after pushes to monitor/*
    "post-checkout": ["branchml.checkout:after_checkout"],
    "post-merge": ["branchml.checkout:after_checkout"],
}


class GitDirs(Protocol):
    """What hooks need of a repository (a `branchml.repo.Repo`, a layer above this one)."""

    @property
    def cwd(self) -> Path: ...

    @property
    def common_dir(self) -> Path: ...


def hooks_dir(repo: GitDirs) -> Path:
    """Where Git looks for hooks (honours core.hooksPath, relative to the work tree like Git)."""
    configured = cmd.config_get("core.hooksPath", repo.cwd)
    if configured:
        path = Path(os.path.expanduser(configured))
        return path if path.is_absolute() else (repo.cwd / path)
    return repo.common_dir / "hooks"


# Files Git keeps while a merge, cherry-pick or revert waits for the user: only then can a commit carry
# conflicts the user marked resolved with `git add`. A rebase writes CHERRY_PICK_HEAD for every pick it
# commits by itself, so while one runs only REBASE_HEAD (written when it stops) counts.
STOPPED = ("MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD")
REBASING, REBASE_STOPPED = ("rebase-merge", "rebase-apply"), "REBASE_HEAD"


def stopped_for_user(git_dir: Path) -> bool:
    if any((git_dir / name).exists() for name in REBASING):
        return (git_dir / REBASE_STOPPED).exists()
    return any((git_dir / name).exists() for name in STOPPED)


# pre-commit leaves this note for the commit-msg hook of the same `git commit` when the branch's
# rules ask nothing of the message: "<Git's pid> <branch ref>". commit-msg reads it once, removes it,
# and ends in the shell when the pid is its own Git's and HEAD is still that branch: one Python start
# per commit instead of two. Any other Git process (a merge runs commit-msg without pre-commit), a
# changed branch or no note at all runs the check as before.
MESSAGE_FREE = "branchml-message-free"


def mark_message_free(git_dir: Path, ref: str | None) -> None:
    """pre-commit: note that `ref`'s rules check no message (None: they do, or HEAD is detached)."""
    note = git_dir / MESSAGE_FREE
    if ref is None:
        note.unlink(missing_ok=True)
    else:  # our parent is Git: the hook script exec'd this interpreter
        note.write_text(f"{os.getppid()} {ref}\n")


# Where the guards below find the git dir. Git runs a commit's hooks at the top of the work tree
# without exporting GIT_DIR: a `.git` folder there is the git dir, so the common case costs no `git`
# process. A linked worktree or a submodule (`.git` is a file) and an exported GIT_DIR ask Git.
GIT_DIR_TEST = 'if [ -z "${GIT_DIR-}" ] && [ -d .git ]; then g=.git; else g=$(git rev-parse --git-dir) || exit 1; fi\n'

# Shell tests that end a hook before Python starts when branchml has nothing to do: Git runs
# prepare-commit-msg for every commit it makes (each pick of a rebase: a Python start each would
# make a long rebase crawl). The same test as stopped_for_user; a legacy hook (`$0.pre-branchml`)
# always goes through the dispatcher.
GUARDS = {
    "commit-msg": (
        GIT_DIR_TEST +
        f'if [ -f "$g/{MESSAGE_FREE}" ]; then read -r pid ref < "$g/{MESSAGE_FREE}"; rm -f "$g/{MESSAGE_FREE}"\n'
        '  read -r head < "$g/HEAD"\n'
        f'  [ "$pid" = "$PPID" ] && [ "$head" = "ref: $ref" ] && [ ! -e "$0{LEGACY_SUFFIX}" ] && exit 0; fi\n'
    ),
    "prepare-commit-msg": (
        GIT_DIR_TEST +
        f'if [ -e "$g/{REBASING[0]}" ] || [ -e "$g/{REBASING[1]}" ]; then wait_files="{REBASE_STOPPED}"; '
        f'else wait_files="{" ".join(STOPPED)}"; fi\n'
        'stopped=; for f in $wait_files; do [ -e "$g/$f" ] && stopped=1; done\n'
        f'[ -n "$stopped" ] || [ -e "$0{LEGACY_SUFFIX}" ] || exit 0\n'
    ),
}


def hook_script(name: str) -> str:
    python = shlex.quote(sys.executable)
    return f'#!/bin/sh\n{MARKER}\n{GUARDS.get(name, "")}{HOOK_FILE_ENV}="$0" exec {python} -m branchml hook {name} "$@"\n'


def install_hooks(repo: GitDirs, names: tuple[str, ...]) -> list[str]:
    """Write our hooks; keep any existing foreign hook as `<name>.pre-branchml`. Idempotent."""
    directory = hooks_dir(repo)
    directory.mkdir(parents=True, exist_ok=True)
    changed = []
    for name in names:
        path = directory / name
        wanted = hook_script(name)
        if path.exists():
            current = path.read_text(errors="replace")
            if current == wanted:
                continue
            if MARKER not in current:
                legacy = directory / (name + LEGACY_SUFFIX)
                if legacy.exists():
                    raise BranchmlError(
                        f"{path} is not branchml's hook and {legacy} already exists",
                        hint="merge the two by hand, then run `branchml install` again",
                    )
                path.rename(legacy)
        path.write_text(wanted)
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        changed.append(name)
    return changed


def legacy_hook(repo: GitDirs, name: str) -> Path:
    """Where install put the user's own hook: next to the script Git ran, whose path the script
    passes (which saves every hook a `git config` for core.hooksPath), else in hooks_dir()."""
    ran = os.environ.get(HOOK_FILE_ENV, "")
    if os.path.basename(ran) == name:  # relative paths hold: Python runs in the script's directory
        return Path(ran + LEGACY_SUFFIX)
    return hooks_dir(repo) / (name + LEGACY_SUFFIX)


def run_hook(repo: GitDirs, name: str, args: list[str]) -> int:
    """Run the user's legacy hook, then every branchml handler. Returns the exit code for Git."""
    stdin = b"" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.buffer.read()
    legacy = legacy_hook(repo, name)
    if legacy.exists() and os.access(legacy, os.X_OK):
        code = subprocess.run([str(legacy), *args], input=stdin).returncode
        if code != 0:
            return code
    for spec in HANDLERS.get(name, []):
        module_name, func = spec.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue  # topic not built in this version
            raise
        getattr(module, func)(repo, args, stdin)
    return 0
