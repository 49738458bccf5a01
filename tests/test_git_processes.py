"""Listings start a bounded number of Git processes, whatever the number of files they list.

Counted for real: a `git` script first on PATH logs every call before running the real Git, and the
operation runs in its own process (fsspec's `ls`, the dashboard's folder view, `branchml get`).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import git
from remote_support import commit_all, project, write_random

FEW, MANY = 2, 20


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A project whose data/few and data/many hold tracked files (pointers in Git) and plain ones."""
    tmp = tmp_path_factory.mktemp("procs")
    src = project(tmp, str(tmp / "blobs"))
    for folder, n in (("few", FEW), ("many", MANY)):
        (src / "data" / folder).mkdir(parents=True)
        (src / "data" / folder / ".gitattributes").write_text("*.txt !filter !diff !merge\n")
        for i in range(n):
            write_random(src / "data" / folder / f"{i}.bin", 3000 + i, i)
            (src / "data" / folder / f"{i}.txt").write_text(f"plain {i}\n")
    commit_all(src, "two folders")
    git(src, "push", "-q", "origin", "main")
    return src


def counted(tmp: Path, args: list[str], cwd: Path) -> tuple[str, list[str]]:
    """Run `args` with a logging `git` first on PATH: its output and every git command line it ran."""
    bin_dir, log = tmp / "bin", tmp / "git-calls.log"
    if not bin_dir.exists():
        bin_dir.mkdir()
        wrapper = bin_dir / "git"
        wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "$GIT_CALL_LOG"\nexec {shutil.which("git")} "$@"\n')
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    log.write_text("")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "GIT_CALL_LOG": str(log)}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout, log.read_text().splitlines()


def each_folder(tmp: Path, cwd: Path, args_for) -> dict[str, tuple[str, list[str]]]:
    return {folder: counted(tmp, args_for(folder), cwd) for folder in ("few", "many")}


LS = """import json, sys, fsspec
fs = fsspec.filesystem("branchml", repo=sys.argv[1], skip_instance_cache=True)
print(json.dumps({f["name"]: f["size"] for f in fs.ls(sys.argv[2])}))"""

BROWSE = """import json, sys
from branchml.fs.locate import split_ref_path
from branchml.repo import Repo
from branchml.ui.files import browse
repo = Repo.find(sys.argv[1])
print(json.dumps({e["name"]: [e["size"], e["store"]] for e in browse(repo, split_ref_path(repo, sys.argv[2]))["entries"]}))"""


def test_fsspec_ls_starts_as_many_git_processes_for_20_files_as_for_2(source, tmp_path):
    runs = each_folder(tmp_path, source, lambda f: [sys.executable, "-c", LS, str(source), f"main/data/{f}"])
    for folder, n in (("few", FEW), ("many", MANY)):
        sizes = json.loads(runs[folder][0])
        assert sizes[f"main/data/{folder}/1.bin"] == 3001  # the content's size, read from the pointer
        assert sizes[f"main/data/{folder}/1.txt"] == len("plain 1\n") and len(sizes) == 2 * n + 1
    # finding the repository and the ref, then one ls-tree and one cat-file, whatever the count
    assert len(runs["many"][1]) == len(runs["few"][1]) <= 12, runs["many"][1]


def test_the_dashboard_folder_view_starts_as_many_git_processes_for_20_files_as_for_2(source, tmp_path):
    runs = each_folder(tmp_path, source, lambda f: [sys.executable, "-c", BROWSE, str(source), f"main/data/{f}"])
    for folder in ("few", "many"):
        entries = json.loads(runs[folder][0])
        assert entries["0.bin"] == [3000, True] and entries["0.txt"] == [len("plain 0\n"), False]
    # finding the repository and the ref, then one ls-tree and one cat-file, whatever the count
    assert len(runs["many"][1]) == len(runs["few"][1]) <= 12, runs["many"][1]


def test_get_starts_as_many_git_processes_for_20_files_as_for_2(source, tmp_path):
    server = source.parent / "proj-server.git"
    runs = each_folder(tmp_path, tmp_path, lambda f: [sys.executable, "-m", "branchml", "get", str(server),
                                                      f"data/{f}", "--to", str(tmp_path / f)])
    for folder, n in (("few", FEW), ("many", MANY)):
        written = sorted(p.name for p in (tmp_path / folder).iterdir())
        assert len(written) == 2 * n + 1
        for name in written:
            assert (tmp_path / folder / name).read_bytes() == (source / "data" / folder / name).read_bytes()
    assert len(runs["many"][1]) == len(runs["few"][1]), runs["many"][1]
