"""Named Git commands that change a work tree, an index or talk to other repositories.

The companion of :mod:`branchml.git.plumbing` (which reads and writes objects and refs): these are
the commands a user could type (switch, add, commit, reset, fetch, clone...), spelled once here so
that no module above git/ builds a `git` argument list (tests/test_architecture.py checks that).
Paths travel as arguments after `--` or NUL-separated on stdin; the decoding policy is plumbing's.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from branchml.git.cmd import Where, git, git_ok


def _nul_paths(paths: Sequence[str]) -> bytes:
    return b"".join(os.fsencode(p) + b"\0" for p in paths)


# -- branches and the work tree ------------------------------------------------------------------


def switch(cwd: Where, branch: str, *, create: bool = False, start: str | None = None, quiet: bool = True) -> None:
    """`git switch [-c] branch [start]` (raises GitCommandError naming Git's reason when refused)."""
    git(["switch", *(["-q"] * quiet), *(["-c"] * create), branch, *([start] if start else [])], cwd)


def switch_passthrough(cwd: Where, args: Sequence[str]) -> int:
    """`git switch ARGS` with Git's own output on this terminal; returns its exit code."""
    return subprocess.run(["git", "switch", *args], check=False, cwd=cwd).returncode


def merge(cwd: Where, rev: str, message: str, *, no_ff: bool = True) -> None:
    git(["merge", "-q", *(["--no-ff"] * no_ff), "-m", message, "--end-of-options", rev], cwd)


def add_all(cwd: Where) -> None:
    """`git add -A`: stage every change of the work tree (through the filters)."""
    git(["add", "-A"], cwd)


def renormalize(cwd: Where, paths: Sequence[str]) -> None:
    """`git add --renormalize -- paths`: stage the files again through their (now installed) filters."""
    git(["add", "--renormalize", "--", *paths], cwd)


def commit(cwd: Where, message: str, *, trailers: Sequence[tuple[str, str]] = (), env: dict[str, str] | None = None) -> None:
    """Commit the index with `message` and `trailers` added as Git adds them (hooks run, as for a user's commit)."""
    extra = [a for key, value in trailers for a in ("--trailer", f"{key}: {value}")]
    git(["commit", "-q", "-F", "-", *extra], cwd, input=message.encode(), env=env)


def reset(cwd: Where, commit: str | None = None, *, soft: bool = False, check: bool = True) -> None:
    """`git reset -q [--soft] [commit]` (no commit: unstage everything)."""
    git(["reset", "-q", *(["--soft"] * soft), *([commit] if commit else [])], cwd, check=check)


def checkout_head(cwd: Where) -> None:
    """`git checkout -f HEAD`: write the whole work tree as HEAD has it (a clone made with --no-checkout)."""
    git(["checkout", "-q", "-f", "HEAD"], cwd)


def checkout_paths(cwd: Where, rev: str, paths: Sequence[str], *, check: bool = True) -> None:
    """Put `paths` back as `rev` has them, in the index and the work tree."""
    git(["checkout", rev, "--", *paths], cwd, check=check)


def checkout_index(cwd: Where, paths: Sequence[str], *, force: bool = True, update_stat: bool = False) -> None:
    """Write `paths` from the index into the work tree (through the smudge filter)."""
    args = ["checkout-index", *(["-f"] * force), *(["-u"] * update_stat), "-z", "--stdin"]
    git(args, cwd, input=_nul_paths(paths))


def status_porcelain(cwd: Where, *, untracked: str = "all") -> str:
    """`git status --porcelain` (empty when the work tree is clean); for "is it clean" questions."""
    return git(["status", "--porcelain", f"--untracked-files={untracked}"], cwd).decode(errors="surrogateescape")


def changed_paths(cwd: Where, *, others: bool = True) -> list[str]:
    """Work-tree files that differ from the index (modified, and untracked unless ignored)."""
    args = ["ls-files", "-z", "--modified", "--exclude-standard", *(["--others"] * others)]
    return [os.fsdecode(p) for p in git(args, cwd).split(b"\0") if p]


def unstaged_paths(cwd: Where) -> list[str]:
    """Tracked files whose work-tree copy differs from the index (`git diff --name-only`)."""
    return [os.fsdecode(p) for p in git(["diff", "--name-only", "-z", "--no-renames"], cwd).split(b"\0") if p]


def hash_files(cwd: Where, paths: Sequence[str]) -> list[str]:
    """The blob id each work-tree file would get through its clean filter (`hash-object --stdin-paths`)."""
    if not paths:
        return []
    return git(["hash-object", "--stdin-paths"], cwd, input=b"".join(os.fsencode(p) + b"\n" for p in paths)).decode().split()


def hash_file_raw(cwd: Where, path: str) -> str:
    """The blob id of a file's bytes as they are (no filters)."""
    return git(["hash-object", "--no-filters", "--", path], cwd).decode().strip()


# -- linked worktrees ----------------------------------------------------------------------------


def worktree_add(cwd: Where, where: Path, commit: str) -> None:
    """A detached linked worktree of `commit` at `where`."""
    git(["worktree", "add", "--detach", "--quiet", str(where), commit], cwd)


def worktree_remove(cwd: Where, where: Path) -> None:
    git(["worktree", "remove", "--force", str(where)], cwd, check=False)


def worktree_branches(cwd: Where) -> list[tuple[Path, str | None]]:
    """(work tree, full branch ref or None when detached) of every worktree, the main one first."""
    found: list[tuple[Path, str | None]] = []
    for field in git(["worktree", "list", "--porcelain", "-z"], cwd).split(b"\0"):
        if field.startswith(b"worktree "):
            found.append((Path(os.fsdecode(field[len(b"worktree "):])), None))
        elif field.startswith(b"branch ") and found:
            found[-1] = (found[-1][0], field[len(b"branch "):].decode(errors="surrogateescape"))
    return found


# -- repositories and remotes --------------------------------------------------------------------


def init(path: Path, *, bare: bool = False, branch: str = "main") -> None:
    git(["init", "-q", *(["--bare"] * bare), "-b", branch, str(path)])


def is_repository(path: Where) -> bool:
    return git_ok(["rev-parse", "--git-dir"], path)


def clone(url: str, target: Path, options: Sequence[str] = (), *, checkout: bool = True) -> None:
    git(["clone", "-q", *(["--no-checkout"] * (not checkout)), *options, "--", url, str(target)])


def remote_names(cwd: Where) -> list[str]:
    return git(["remote"], cwd).decode().split()


def add_remote(cwd: Where, name: str, url: str) -> None:
    git(["remote", "add", name, "--", url], cwd)


def is_shallow(cwd: Where) -> bool:
    return git(["rev-parse", "--is-shallow-repository"], cwd).decode().strip() == "true"


def fetch(cwd: Where, remote: str, refspecs: Sequence[str], *, depth: int | None = None, tags: bool = False,
          check: bool = True) -> bool:
    """`git fetch -q remote refspecs`; without `tags`, only what the refspecs name. Returns success."""
    args = ["fetch", "-q", *([] if tags else ["--no-tags"]), *(["--depth", str(depth)] if depth else []), remote]
    args += ["--", *refspecs] if refspecs else []
    if not check:
        return git_ok(args, cwd)
    git(args, cwd)
    return True


def ls_remote(cwd: Where, url: str, patterns: Sequence[str] = (), *, heads: bool = False, tags: bool = False) -> list[tuple[str, str]]:
    """(object id, ref name) of the refs the repository at `url` advertises (peeled `^{}` lines left out)."""
    args = ["ls-remote", "--refs", *(["--heads"] * heads), *(["--tags"] * tags), "--", url, *patterns]
    rows = [line.split("\t", 1) for line in git(args, cwd).decode().splitlines()]
    return [(oid, ref) for oid, ref in rows]


def remote_head(cwd: Where, url: str) -> str | None:
    """The branch the repository at `url` has checked out (`refs/heads/...`), or None."""
    for line in git(["ls-remote", "--symref", "--", url, "HEAD"], cwd).decode().splitlines():
        if line.startswith("ref: ") and line.endswith("\tHEAD"):
            return line[len("ref: "):].split("\t")[0]
    return None


def submodules_update(cwd: Where) -> list[Path]:
    """Initialise and check out every submodule (recursively); returns their work trees."""
    git(["submodule", "update", "-q", "--init", "--recursive"], cwd)
    listing = git(["submodule", "foreach", "-q", "--recursive", "pwd"], cwd).decode()
    return [Path(line) for line in listing.splitlines() if line]


# -- notes and Git LFS (history migrations) ------------------------------------------------------


def notes_refs(cwd: Where) -> list[str]:
    return git(["for-each-ref", "--format=%(refname)", "refs/notes/"], cwd).decode().splitlines()


def notes_targets(cwd: Where, notes_ref: str) -> list[str]:
    """The objects that have a note in `notes_ref`."""
    return [line.split()[1] for line in git(["notes", "--ref", notes_ref, "list"], cwd).decode().splitlines()]


def copy_notes(cwd: Where, notes_ref: str, pairs: Sequence[tuple[str, str]]) -> None:
    """Copy the note of each `old` object to its `new` one (replacing a note `new` had)."""
    lines = "".join(f"{old} {new}\n" for old, new in pairs).encode()
    git(["notes", "--ref", notes_ref, "copy", "--force", "--stdin"], cwd, input=lines)


def lfs_fetch_all(cwd: Where) -> bool:
    """`git lfs fetch --all` from the LFS server; what it cannot get stays missing (returns success)."""
    return git_ok(["lfs", "fetch", "--all"], cwd)


# -- path-taking commands, paths on stdin (no argv limit, no glob magic) ------------------------


def _with_paths(cwd: Where, args: Sequence[str], paths: Sequence[str], *, check: bool = True) -> None:
    git(["--literal-pathspecs", *args, "--pathspec-from-file=-", "--pathspec-file-nul"], cwd,
        input=_nul_paths(paths), check=check)


def add_paths(cwd: Where, paths: Sequence[str], *, force: bool = True) -> None:
    """Stage `paths` (through their filters); `force` adds ignored ones too."""
    _with_paths(cwd, ["add", *(["-f"] * force)], paths)


def remove_from_index(cwd: Where, paths: Sequence[str]) -> None:
    """Unstage `paths` as deleted (`git rm --cached`); their work-tree files are left alone."""
    _with_paths(cwd, ["rm", "-q", "--cached"], paths)


def restore_from_head(cwd: Where, paths: Sequence[str], *, check: bool = True) -> None:
    """Put `paths` back as HEAD has them, in the index and the work tree."""
    _with_paths(cwd, ["checkout", "HEAD"], paths, check=check)


def index_matches_head(cwd: Where) -> bool:
    """Whether nothing is staged (`git diff --cached --quiet`)."""
    return git_ok(["diff", "--cached", "--quiet"], cwd)
