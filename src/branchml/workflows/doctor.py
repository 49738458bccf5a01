"""`branchml status` (the set-up at a glance) and `branchml doctor` (its problems, and their fixes).

What `git lfs env` and `dvc doctor` show, for branchml: versions, whether the filter and hooks are
in place, the store, the blob remotes and where they are defined, the branch's role. `doctor` runs
the checks; `doctor --fix` repairs what can be repaired without a decision by the user, in order
(stale locks first: Git refuses to work while they exist; then install; then renormalising
raw files, which needs the filter).
"""

from __future__ import annotations

import shlex
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from branchml import config
from branchml.checkout import materialize
from branchml.git import cmd, hooks, porcelain
from branchml.repo import Repo
from branchml.settings import StoreSettings
from branchml.workflows import setup
from branchml.workflows.rawbytes import SHOULD_BE_POINTER, staged_raw

STALE_LOCK_SECONDS = 600  # Git holds index.lock for the length of one command; ten minutes is no command


@dataclass(frozen=True)
class Problem:
    kind: str  # not-installed | hooks-missing | raw-bytes | stale-lock
    detail: str
    paths: list[str] = field(default_factory=list)
    fix: str = ""  # what `doctor --fix` does, or the command to run

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def filter_command(repo: Repo) -> str | None:
    return cmd.config_get("filter.branchml.process", repo.cwd)


def check_install(repo: Repo) -> list[Problem]:
    """The filter must be registered, and its interpreter must still exist (a removed venv)."""
    command = filter_command(repo)
    if command is None:
        return [Problem("not-installed", "the branchml filter is not registered in this clone: tracked files "
                        "are committed as raw bytes and checked out as pointers", fix="branchml install")]
    program = shlex.split(command)[0]
    if not Path(program).exists():
        return [Problem("not-installed", f"the filter runs {program}, which does not exist any more",
                        fix="branchml install")]
    return []


def check_hooks(repo: Repo) -> list[Problem]:
    if repo.root is None:
        return []
    missing = [name for name in hooks.CLIENT_HOOKS if not _is_our_hook(hooks.hooks_dir(repo) / name)]
    if not missing:
        return []
    return [Problem("hooks-missing", f"hooks not installed: {', '.join(missing)} (no pushes of blobs, "
                    "no role checks, large files not written after checkout)", missing, fix="branchml install")]


def _is_our_hook(path: Path) -> bool:
    try:
        return hooks.MARKER in path.read_text(errors="replace")
    except OSError:
        return False


def check_raw_bytes(repo: Repo) -> list[Problem]:
    """Files the index holds as raw bytes although `.gitattributes` routes them through the filter
    (committed from a clone without `branchml install`): Git LFS's "should have been pointers"."""
    if repo.root is None:
        return []
    inline_below = StoreSettings.from_config(config.load(repo.root)).inline_below
    paths = sorted({r.path for r in staged_raw(repo, inline_below)})
    if not paths:
        return []
    return [Problem("raw-bytes", f"{len(paths)} tracked file(s) {SHOULD_BE_POINTER}: {', '.join(paths[:5])}",
                    paths, fix="git add --renormalize, then commit")]


def check_locks(repo: Repo, now: float | None = None) -> list[Problem]:
    """Lock files a killed Git command left behind: every later Git command refuses while they exist."""
    now = time.time() if now is None else now
    stale = [str(p) for p in _lock_files(repo) if now - _mtime(p) > STALE_LOCK_SECONDS]
    if not stale:
        return []
    return [Problem("stale-lock", f"{len(stale)} lock file(s) older than {STALE_LOCK_SECONDS // 60} minutes "
                    f"(a killed git command): {', '.join(stale[:5])}", stale, fix="remove them")]


def _lock_files(repo: Repo) -> list[Path]:
    found = {repo.git_dir / "index.lock", repo.common_dir / "index.lock", repo.common_dir / "HEAD.lock",
             repo.common_dir / "config.lock", repo.common_dir / "packed-refs.lock"}
    refs = repo.common_dir / "refs"
    return sorted(p for p in found | set(refs.rglob("*.lock")) if p.is_file())


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return time.time()


CHECKS = (check_install, check_hooks, check_raw_bytes, check_locks)


def diagnose(repo: Repo) -> list[Problem]:
    problems: list[Problem] = []
    for check in CHECKS:
        problems += check(repo)
    return problems


def fix(repo: Repo, problems: list[Problem]) -> list[str]:
    """Repair what `diagnose` found: stale locks, install, renormalise; one line per action taken."""
    done = []
    for problem in problems:  # first: every later Git command refuses while a lock exists
        if problem.kind == "stale-lock":
            for lock in problem.paths:
                Path(lock).unlink(missing_ok=True)
            done.append(f"removed {len(problem.paths)} stale lock file(s)")
    if {p.kind for p in problems} & {"not-installed", "hooks-missing"}:
        setup.install(repo)
        done.append("ran branchml install (filter, merge drivers, hooks)")
        done += _materialize(repo)
    for problem in problems:  # after install: renormalising goes through the filter
        if problem.kind == "raw-bytes":
            porcelain.renormalize(repo.cwd, problem.paths)
            done.append(f"re-added {len(problem.paths)} file(s) through the filter as pointers; commit them (`git commit`)")
    return done


def _materialize(repo: Repo) -> list[str]:
    """After a late install, the files a plain clone checked out as pointers get their content."""
    if repo.root is None or config.skip_smudge():
        return []
    written = materialize(repo)
    return [f"wrote {len(written)} file(s) that were checked out as pointers"] if written else []


@dataclass(frozen=True)
class DoctorReport:
    """What `doctor` found, what `--fix` did, and what is still wrong afterwards."""

    problems: list[Problem]
    fixed: list[str]
    remaining: list[Problem]

    def as_dict(self) -> dict[str, object]:
        return {"problems": [p.as_dict() for p in self.problems], "fixed": self.fixed,
                "remaining": [p.as_dict() for p in self.remaining]}


def run_doctor(repo: Repo, *, apply_fix: bool = False) -> DoctorReport:
    """Diagnose; with `apply_fix`, repair and diagnose again (what remains is what the fix could not do)."""
    problems = diagnose(repo)
    actions = fix(repo, problems) if apply_fix and problems else []
    return DoctorReport(problems, actions, diagnose(repo) if actions else problems)
