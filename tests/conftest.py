"""Shared test set-up: real git, real subprocesses, an isolated git config per test session.

Subprocesses (git -> filter -> `python -m branchml`) must run the code under test, so the
source folder is put on PYTHONPATH for everything the tests start.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
# In-process imports must see this checkout's code too, not the editable install of another one.
sys.path.insert(0, str(SRC))


@pytest.fixture(autouse=True, scope="session")
def _isolated_git(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    env = {
        "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "HOME": str(home),
        "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
        "NO_COLOR": "1",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n")
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def run(args: list[str], cwd: Path, *, check: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess:
    """Run a command; on unexpected failure show its output in the test report."""
    proc = subprocess.run(args, cwd=cwd, capture_output=True, input=input)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{args} exited {proc.returncode}\nstdout: {proc.stdout.decode(errors='replace')}\n"
            f"stderr: {proc.stderr.decode(errors='replace')}"
        )
    return proc


def git(cwd: Path, *args: str, check: bool = True) -> str:
    return run(["git", *args], cwd, check=check).stdout.decode()


def bml(cwd: Path, *args: str, check: bool = True, input: bytes | None = None) -> subprocess.CompletedProcess:
    """Run the branchml CLI as a user would, in a subprocess."""
    return run([sys.executable, "-m", "branchml", *args], cwd, check=check, input=input)


def unshare_prefix() -> list[str] | None:
    """A command prefix that runs its command in a private mount namespace (to mount a small tmpfs
    as a full disk), or None where not allowed."""
    if shutil.which("unshare") is None:
        return None
    for prefix in (["unshare", "-m"], ["unshare", "-rm"]):
        if subprocess.run([*prefix, "true"], capture_output=True, check=False).returncode == 0:
            return prefix
    return None


@pytest.fixture
def repo(tmp_path) -> Path:
    """A fresh `branchml init` repository."""
    path = tmp_path / "repo"
    bml(tmp_path, "init", str(path))
    return path


LOWERED_THRESHOLD = "[branchml]\nversion = 1\n\n[store]\ncheckout_in_git_max = 100000\n"


@pytest.fixture
def lowered(repo: Path) -> Path:
    """A repository tracking data/** whose large-file threshold is lowered to 100 kB, so small test
    files take the large-file path (written outside Git's pipe after a checkout)."""
    bml(repo, "track", "data/**")
    (repo / "branchml.toml").write_text(LOWERED_THRESHOLD)
    (repo / "data").mkdir()
    return repo
