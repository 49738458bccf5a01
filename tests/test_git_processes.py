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


# -- one `git cat-file` per operation: `branchml diff`, the dashboard's monitoring page ----------------


@pytest.fixture(scope="module")
def changed(tmp_path_factory) -> Path:
    """A project whose last two commits change FEW and then MANY table files (inline CSV and tracked)."""
    tmp = tmp_path_factory.mktemp("diffed")
    src = project(tmp, str(tmp / "blobs"))
    (src / "data").mkdir()
    (src / "data" / ".gitattributes").write_text("*.csv !filter !diff !merge\n")
    for version in range(3):
        for folder, n in (("few", FEW), ("many", MANY)):
            for i in range(n):
                if version == 0 or (version, folder) in ((1, "few"), (2, "many")):
                    (src / "data" / folder).mkdir(exist_ok=True)
                    (src / "data" / folder / f"{i}.csv").write_text(f"id,x\n1,{version}\n2,{i}\n")
                    write_random(src / "data" / folder / f"{i}.bin", 3000 + i, 10 * version + i)
        commit_all(src, f"version {version}")
    return src


def test_diff_starts_as_many_git_processes_for_20_changed_files_as_for_2(changed, tmp_path):
    runs = {folder: counted(tmp_path, [sys.executable, "-m", "branchml", "diff", rev_a, rev_b, f"data/{folder}", "--key", "id", "--json"],
                            changed)
            for folder, rev_a, rev_b in (("few", "HEAD~2", "HEAD~1"), ("many", "HEAD~1", "HEAD"))}
    for folder, n in (("few", FEW), ("many", MANY)):
        files = json.loads(runs[folder][0])["files"]
        assert len(files) == 2 * n, files
        csv = next(f for f in files if f["path"] == f"data/{folder}/1.csv")
        assert csv["rows"][0]["rows_a"] == csv["rows"][0]["rows_b"] == 2 and csv["rows"][0]["changed"] == 1, csv
        assert next(f for f in files if f["path"] == f"data/{folder}/1.bin")["tracked"] is True
    assert [c for c in runs["many"][1] if "cat-file" in c] == [c for c in runs["few"][1] if "cat-file" in c]
    assert len(runs["many"][1]) == len(runs["few"][1]), runs["many"][1]


MONITORING = """import json, sys
from branchml.repo import Repo
from branchml.ui.monitoring import environment
page = environment(Repo.find(sys.argv[1]), sys.argv[2])
print(json.dumps({"tags": page["tags"], "reports": [r["report"] for r in page["reports"]]}))"""


def test_the_monitoring_page_starts_as_many_git_processes_for_20_reports_as_for_2(source, tmp_path):
    for env, n in (("few", FEW), ("many", MANY)):
        git(source, "switch", "-q", "--orphan", f"monitor/{env}")
        for i in range(n):
            (source / "logs" / "acme-1" / "2026-01-01").mkdir(parents=True, exist_ok=True)
            (source / "logs" / "acme-1" / "2026-01-01" / f"{i}.jsonl").write_text('{"a": 1}\n{"a": 2}\n')
            (source / "reports").mkdir(exist_ok=True)
            (source / "reports" / f"{i:02}.json").write_text(json.dumps({"format": 1, "alerts": [], "n": i}))
        commit_all(source, f"monitoring {env}")
        git(source, "switch", "-q", "main")
    runs = each_folder(tmp_path, source, lambda env: [sys.executable, "-c", MONITORING, str(source), env])
    for env, n in (("few", FEW), ("many", MANY)):
        page = json.loads(runs[env][0])
        assert page["tags"][0]["requests"] == 2 * n and [r["n"] for r in page["reports"]] == list(reversed(range(n)))
    assert len(runs["many"][1]) == len(runs["few"][1]), runs["many"][1]


# -- the on-demand fetcher reads the remote settings once per store opening, not once per fetch --------

FETCH_EACH = """import sys
from pathlib import Path
from branchml.remote.ondemand import make_fetcher
from branchml.repo import Repo, use_fetcher
from branchml.store.pointer import parse_pointer
use_fetcher(make_fetcher)
repo = Repo.find(sys.argv[1])
for path in sorted(Path(sys.argv[1], sys.argv[2]).glob("*.bin")):  # one fetch each: the store is empty
    pointer = parse_pointer(path.read_bytes())
    print(path.name, repo.store.read_file(pointer) == Path(sys.argv[3], path.name).read_bytes())"""


def test_fetching_20_files_one_by_one_starts_as_many_git_processes_as_2(source, tmp_path):
    runs = {}
    for folder in ("few", "many"):
        clone = tmp_path / f"clone-{folder}"  # pointers only, and an empty store
        subprocess.run(["git", "clone", "-q", str(source.parent / "proj-server.git"), str(clone)], check=True,
                       env={**os.environ, "BRANCHML_SKIP_SMUDGE": "1"})
        runs[folder] = counted(tmp_path, [sys.executable, "-c", FETCH_EACH, str(clone), f"data/{folder}",
                                          str(source / "data" / folder)], clone)
    for folder, n in (("few", FEW), ("many", MANY)):
        assert runs[folder][0].split() == [w for i in sorted(range(n), key=lambda i: f"{i}.bin") for w in (f"{i}.bin", "True")]
    assert len(runs["many"][1]) == len(runs["few"][1]), runs["many"][1]


FIND = """import sys
from branchml.repo import Repo
for _ in range(3):
    found = Repo.find(sys.argv[1])
print(found.root)"""


def test_repo_find_asks_git_once_and_checks_its_version_once_per_process(source, tmp_path):
    out, calls = counted(tmp_path, [sys.executable, "-c", FIND, str(source / "data" / "few")], source)
    assert out.strip() == str(source)
    assert [c.split()[0] for c in calls] == ["--version", "rev-parse", "rev-parse", "rev-parse"], calls
