"""Smaller team-sharing fixes, each on a real repository: blame/diff never store, a failed run keeps the
previous metrics, `track` in a subfolder, short hook warnings, release hints."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import bml, git, run
from runs_helpers import stable_repo


def stored_files(repo) -> int:
    return json.loads(bml(repo, "stats", "--json").stdout)["files"]


def test_blame_and_diff_of_a_tracked_file_add_nothing_to_the_store(repo):
    bml(repo, "track", "data/**")
    (repo / "data").mkdir()
    (repo / "data/model.bin").write_bytes(bytes(range(256)) * 40)
    (repo / "data/rows.csv").write_text("id,v\n1,a\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--no-verify", "-m", "data")
    before = stored_files(repo)
    for path in ("data/model.bin", "data/rows.csv"):
        os.utime(repo / path)  # stat data changed: Git re-reads the work-tree file
        blamed = git(repo, "blame", path)
        assert "Not Committed Yet" not in blamed  # the lines are the commit's, not new ones
        git(repo, "diff", path)
    assert stored_files(repo) == before
    assert git(repo, "status", "--porcelain") == ""


def test_failed_run_leaves_the_previous_metrics_and_params_in_place(repo):
    stable_repo(repo)
    bml(repo, "run", "--", sys.executable, "train.py", "{tag}")
    metrics, params = (repo / "metrics.json").read_bytes(), (repo / "params.json").read_bytes()
    failed = subprocess.run([sys.executable, "-m", "branchml", "run", "--", sys.executable, "-c", "raise SystemExit(2)"],
                            cwd=repo, capture_output=True, check=False)
    assert failed.returncode != 0 and b"failed with exit code 2" in failed.stderr
    assert (repo / "metrics.json").read_bytes() == metrics and (repo / "params.json").read_bytes() == params
    assert git(repo, "status", "--porcelain") == ""


def test_track_in_a_subfolder_writes_a_pattern_for_that_folder(repo):
    (repo / "data/raw").mkdir(parents=True)
    bml(repo / "data", "track", "*.csv", "raw/*.bin")
    lines = (repo / ".gitattributes").read_text().splitlines()
    assert "data/**/*.csv filter=branchml diff=branchml merge=branchml-rows -text" in lines
    assert any(line.startswith("data/raw/*.bin filter=branchml") for line in lines)
    attrs = git(repo, "check-attr", "filter", "--", "data/raw/a.csv", "a.csv", "data/raw/x.bin", "data/x.bin")
    assert "data/raw/a.csv: filter: branchml" in attrs and "a.csv: filter: unspecified" in attrs
    assert "data/raw/x.bin: filter: branchml" in attrs and "data/x.bin: filter: unspecified" in attrs
    bml(repo / "data", "untrack", "*.csv")
    assert "data/**/*.csv filter" not in (repo / ".gitattributes").read_text()


def test_client_role_hooks_print_a_count_and_the_first_paths(repo):
    bml(repo, "track", "data/**")
    (repo / "data").mkdir()
    for i in range(300):
        (repo / f"data/f{i:03}.csv").write_text(f"id\n{i}\n")
    git(repo, "add", "-A")
    proc = run(["git", "commit", "-q", "-m", "data on main"], repo)  # warn mode: the commit goes through
    err = proc.stderr.decode()
    assert "300 branch role rule violation(s)" in err
    assert "data/f000.csv" in err and "data/f299.csv" not in err
    assert "... and 290 more (290 [forbidden]); `branchml verify` lists them all" in err
    assert len(err.splitlines()) < 20


def test_release_get_for_an_unknown_customer_names_it_in_the_hint(repo, tmp_path):
    stable_repo(repo)
    proc = bml(repo, "release", "get", "initech", "--latest", "--to", str(tmp_path / "out"), check=False)
    assert proc.returncode != 0
    assert b"branchml run --customer initech" in proc.stderr and b"{customer}" not in proc.stderr
