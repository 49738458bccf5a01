"""`branchml add` (git/add.py) through real Git: the index and the commit are byte for byte those
`git add -A` gives for the same tree (a twin repository, copied before either add, uses git add),
`git status` and `git commit` then clean nothing, a file edited while branchml reads it is not
staged from torn bytes nor recorded with stale stat data, and a 1% change stores about 1%."""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from pathlib import Path

import pytest

from branchml.git import add as direct_add
from branchml.repo import Repo
from branchml.store import parse_pointer
from branchml.store.store import Store
from branchml.workflows.stage import add_files
from conftest import bml, git, run

MB = 1 << 20


@pytest.fixture
def tracked(repo: Path) -> Path:
    bml(repo, "track", "data/**")
    (repo / "data").mkdir()
    return repo


def write(path: Path, size: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(random.Random(seed).randbytes(size))


def age(repo: Path) -> None:
    """Every work-tree file 10 s old: no entry is racily clean, so a clean Git runs is not Git's
    racy-git re-check (which is Git's to do, and which the stat cache answers)."""
    past = time.time() - 10
    for p in repo.rglob("*"):
        if ".git" not in p.relative_to(repo).parts and not p.is_symlink():
            os.utime(p, (past, past))


def commit(repo: Path, message: str) -> None:
    git(repo, "commit", "-qm", message)


def traced(repo: Path, *args: str) -> tuple[str, str]:
    """Run git with GIT_TRACE on: stdout, and the trace (every process Git starts is named there)."""
    env = {**os.environ, "GIT_TRACE": "1"}
    import subprocess  # the conftest runner takes no env

    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, env=env, check=True)
    return proc.stdout.decode(), proc.stderr.decode()


def filter_started(trace: str) -> bool:
    return "filter-process" in trace


def twin_of(repo: Path) -> Path:
    twin = repo.with_name(repo.name + "-twin")
    shutil.copytree(repo, twin, symlinks=True)
    return twin


def a_mixed_change(repo: Path) -> None:
    """What a day's work leaves: every kind of path `git add -A` stages."""
    write(repo / "data" / "big.bin", 4 * MB, 1)
    write(repo / "data" / "gone.bin", 2 * MB, 2)
    (repo / "data" / "link").symlink_to("big.bin")
    (repo / "notes.txt").write_text("first\n")
    (repo / "old.txt").write_text("to delete\n")
    git(repo, "add", "-A")
    commit(repo, "base")
    with open(repo / "data" / "big.bin", "r+b") as f:  # 1% in the middle
        f.seek(2 * MB)
        f.write(random.Random(3).randbytes(40_000))
    (repo / "data" / "gone.bin").unlink()
    (repo / "old.txt").unlink()
    write(repo / "data" / "new.bin", 3 * MB, 4)
    write(repo / "data" / "run.sh", 300, 5)
    os.chmod(repo / "data" / "run.sh", 0o755)
    (repo / "data" / "empty").write_bytes(b"")
    (repo / "data" / "sub").mkdir()
    write(repo / "data" / "sub" / "small.bin", 10, 6)
    (repo / "data" / "second-link").symlink_to("new.bin")
    (repo / "notes.txt").write_text("second\n")
    (repo / "new.txt").write_text("plain\n")
    (repo / ".gitignore").write_text("*.tmp\n")
    write(repo / "data" / "scratch.tmp", 1000, 7)
    age(repo)


@pytest.mark.parametrize("pathspecs", [[], ["data"], ["data/big.bin", "notes.txt"]])
def test_branchml_add_stages_what_git_add_stages_and_commits_the_same_tree(tracked: Path, pathspecs: list[str]):
    a_mixed_change(tracked)
    twin = twin_of(tracked)
    git(twin, "add", "-A", "--", *pathspecs)
    bml(tracked, "add", *pathspecs)
    assert git(tracked, "ls-files", "-s") == git(twin, "ls-files", "-s")
    assert git(tracked, "status", "--porcelain") == git(twin, "status", "--porcelain")
    commit(tracked, "same")
    commit(twin, "same")
    assert git(tracked, "rev-parse", "HEAD^{tree}") == git(twin, "rev-parse", "HEAD^{tree}")


def test_after_branchml_add_status_and_commit_clean_nothing_and_pre_commit_still_runs(tracked: Path):
    a_mixed_change(tracked)
    result = add_files(Repo.find(tracked), [], tracked)
    assert sorted(result.cleaned) == ["data/big.bin", "data/new.bin", "data/run.sh", "data/sub/small.bin"]
    assert {"data/gone.bin", "data/second-link", "data/empty", "notes.txt"} <= set(result.by_git)
    status, trace = traced(tracked, "status", "--porcelain")
    assert not filter_started(trace), trace
    assert " M" not in status and "??" not in status.replace("?? data/scratch.tmp", "")
    proc = run(["git", "commit", "-m", "direct"], tracked)
    assert "role rule violation" in proc.stderr.decode()  # pre-commit ran (data files on main: a warning)
    _, trace = traced(tracked, "commit", "--allow-empty", "-qm", "again")
    assert not filter_started(trace), trace
    _, trace = traced(tracked, "status", "--porcelain")
    assert not filter_started(trace)
    mode = git(tracked, "ls-files", "-s", "data/run.sh").split()[0]
    assert mode == "100755"


def test_a_file_edited_while_branchml_reads_it_is_staged_as_edited_not_from_torn_bytes(
        tracked: Path, monkeypatch: pytest.MonkeyPatch):
    write(tracked / "data" / "f.bin", 3 * MB, 1)
    age(tracked)
    before = os.stat(tracked / "data" / "f.bin")
    real = direct_add.store_stream

    def edited_during_the_read(*args: object) -> object:
        pointer = real(*args)  # type: ignore[arg-type]
        with open(tracked / "data" / "f.bin", "r+b") as f:  # an edit in place: same size...
            f.seek(MB)
            f.write(b"edited while read")
        os.utime(tracked / "data" / "f.bin", ns=(before.st_atime_ns, before.st_mtime_ns))  # ...same mtime
        return pointer

    monkeypatch.setattr(direct_add, "store_stream", edited_during_the_read)
    result = add_files(Repo.find(tracked), [], tracked)
    assert result.changed_while_read == ["data/f.bin"] and result.cleaned == []
    staged = git(tracked, "cat-file", "blob", ":data/f.bin").encode()
    now = git(tracked, "hash-object", "--path=data/f.bin", "data/f.bin").strip()
    assert parse_pointer(staged, "f") == parse_pointer(git(tracked, "cat-file", "blob", now).encode(), "f")
    assert "A  data/f.bin" in git(tracked, "status", "--porcelain").splitlines()  # staged as it is now


def test_a_one_percent_change_stores_about_one_percent(tracked: Path):
    size = 24 * MB
    write(tracked / "data" / "big.bin", size, 1)
    bml(tracked, "add")
    commit(tracked, "big")
    store = Store(tracked / ".git" / "branchml")
    stored = store.stats()["pack_bytes"]
    with open(tracked / "data" / "big.bin", "r+b") as f:
        f.seek(size // 2)
        f.write(random.Random(2).randbytes(size // 100))
    age(tracked)
    result = add_files(Repo.find(tracked), [], tracked)
    assert result.cleaned == ["data/big.bin"]
    grown = Store(tracked / ".git" / "branchml").stats()["pack_bytes"] - stored
    assert size // 100 <= grown < size * 3 // 100
    _, trace = traced(tracked, "commit", "-qm", "1pct")
    assert not filter_started(trace)
    assert git(tracked, "status", "--porcelain") == ""
    twin = twin_of(tracked)  # the content committed is the file's: a fresh clean of it agrees
    git(twin, "rm", "-q", "--cached", "data/big.bin")
    git(twin, "add", "data/big.bin")
    assert git(twin, "ls-files", "-s") == git(tracked, "ls-files", "-s")


def test_an_add_within_the_files_second_leaves_no_racy_entry_when_waiting_pays(
        tracked: Path, monkeypatch: pytest.MonkeyPatch):
    """Git re-cleans an entry whose file is not older than the index (racy-git.txt). With any wait
    worth it (as for 1 GiB files), the index is stamped in the next second of the file system's
    clock, which lags time.time() by a tick: `git commit` then cleans nothing."""
    write(tracked / "data" / "f.bin", 2 * MB, 1)
    bml(tracked, "add")
    commit(tracked, "f")
    monkeypatch.setattr(direct_add, "PIPE_BYTES_PER_S", 1)
    with open(tracked / "data" / "f.bin", "r+b") as f:
        f.write(b"changed")
    result = add_files(Repo.find(tracked), [], tracked)
    assert result.cleaned == ["data/f.bin"]
    index_mtime = os.stat(tracked / ".git" / "index").st_mtime_ns
    assert index_mtime // 10**9 > os.stat(tracked / "data" / "f.bin").st_mtime_ns // 10**9
    _, trace = traced(tracked, "commit", "-qm", "changed")
    assert not filter_started(trace), trace
    assert not list((tracked / ".git" / "branchml" / "tmp").glob("add-*"))  # the probe and the pointers' files are gone


def test_pathspecs_are_relative_to_the_folder_branchml_add_runs_in(tracked: Path):
    a_mixed_change(tracked)
    twin = twin_of(tracked)
    git(twin / "data", "add", "-A", "--", ".")
    bml(tracked / "data", "add", ".")
    assert git(tracked, "ls-files", "-s") == git(twin, "ls-files", "-s")
    assert git(tracked, "status", "--porcelain") == git(twin, "status", "--porcelain")


@pytest.mark.parametrize("spec", ["data/nothere.bin", "ignored.bin"])
def test_a_pathspec_that_matches_nothing_to_add_fails_and_stages_nothing_as_git_add_does(tracked: Path, spec: str):
    """A mistyped path, or an ignored file named, is an error for `git add` (exit 1 or 128): `branchml
    add` must not exit 0 either. It refuses before staging anything (git add stages the rest of a list
    with an ignored name in it; stopping first is the stricter of the two)."""
    (tracked / ".gitignore").write_text("ignored.bin\n")
    (tracked / "ignored.bin").write_bytes(b"x")
    write(tracked / "data" / "new.bin", MB, 3)
    before = git(tracked, "ls-files", "-s")
    assert run(["git", "add", "-A", "--", "data/new.bin", spec], twin_of(tracked), check=False).returncode != 0
    failed = bml(tracked, "add", "data/new.bin", spec, check=False)
    assert failed.returncode != 0
    assert f"pathspec '{spec}' matches no file to add" in failed.stderr.decode()
    assert git(tracked, "ls-files", "-s") == before


def test_a_file_replaced_by_a_symlink_after_it_was_listed_is_not_followed(
        tracked: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Listed as a regular file, then swapped for a symlink before the read: branchml must not stage
    (nor store) the content the link points at, outside the work tree; Git stages the link itself."""
    secret = tmp_path / "secret.bin"
    write(secret, 2 * MB, 9)
    (tracked / "data" / "f.bin").symlink_to(secret)
    monkeypatch.setattr(direct_add, "_is_regular", lambda path: True)  # as it was when listed
    result = add_files(Repo.find(tracked), [], tracked)
    assert result.cleaned == [] and "data/f.bin" in result.by_git
    assert git(tracked, "ls-files", "-s", "data/f.bin").split()[0] == "120000"
    assert git(tracked, "cat-file", "blob", ":data/f.bin") == str(secret)
    assert json.loads(bml(tracked, "stats", "--json").stdout)["files"] == 0  # nothing of it was read into the store
