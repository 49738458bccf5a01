"""Bad input gets a clear error and changes nothing: same HEAD, clean index, no stray files."""

from __future__ import annotations

import os
import shutil

import pytest

from conftest import bml, git
from data_helpers import bml_json, data_repo, head, jsonl, png, status, write_files


@pytest.fixture(scope="module")
def raw_template(tmp_path_factory):
    """A repo on data/raw with one upload (an image and a JSONL file), built once per module."""
    base = tmp_path_factory.mktemp("raw")
    repo = base / "repo"
    bml(base, "init", str(repo))
    data_repo(repo)
    git(repo, "switch", "-q", "-c", "data/raw")
    files = write_files(base / "in", {"a.png": png(1), "rows.jsonl": jsonl([{"id": i} for i in range(10)])})
    bml(repo, "data", "add", *files, "--source", "first export", "--to", "data/uploads/first")
    return repo


@pytest.fixture
def raw(raw_template, tmp_path):
    """A private copy of the template (the store in .git/branchml is copied with it)."""
    return shutil.copytree(raw_template, tmp_path / "repo", symlinks=True)


def refused(repo, *args: str) -> str:
    """Run a command that must fail; check nothing changed; return its error text."""
    before, before_status = head(repo), status(repo)
    proc = bml(repo, *args, check=False)
    assert proc.returncode != 0, proc.stdout
    assert head(repo) == before and status(repo) == before_status
    err = proc.stderr.decode()
    assert "Traceback" not in err and "error:" in err
    return err


def test_add_refuses_missing_file_and_empty_source(raw, tmp_path):
    good = write_files(tmp_path / "more", {"b.txt": b"hello\n"})
    assert "no such file" in refused(raw, "data", "add", *good, str(tmp_path / "missing.csv"), "--source", "x")
    assert "must name its source" in refused(raw, "data", "add", *good, "--source", "  ")
    assert not (raw / "data" / "uploads").joinpath("b.txt").exists()


def test_raw_is_append_only(raw, tmp_path):
    again = write_files(tmp_path / "again", {"a.png": png(2)})
    err = refused(raw, "data", "add", *again, "--source", "second", "--to", "data/uploads/first")
    assert "append-only" in err and "data/uploads/first/a.png" in err
    assert (raw / "data/uploads/first/a.png").read_bytes() == png(1)


def test_commands_refuse_branches_of_the_wrong_role(raw, tmp_path):
    files = write_files(tmp_path / "x", {"c.txt": b"c\n"})
    git(raw, "switch", "-q", "main")
    assert "data/raw" in refused(raw, "data", "add", *files, "--source", "s")
    assert "data/clean" in refused(raw, "data", "clean")
    assert "data/split" in refused(raw, "data", "split", "--ratios", "0.8,0.1,0.1", "--seed", "1")
    git(raw, "switch", "-q", "data/raw")
    assert "data pull" in refused(raw, "data", "pull", "main")


def test_pull_of_unknown_ref_or_path_is_refused(raw):
    git(raw, "switch", "-q", "-c", "data/clean", "main")
    assert "no branch, tag or commit named 'data/nope'" in refused(raw, "data", "pull", "data/nope")
    assert "has no files under" in refused(raw, "data", "pull", "data/raw", "--path", "nothing/here")
    assert "not a folder inside" in refused(raw, "data", "pull", "data/raw", "--to", "../outside")


def test_pull_never_overwrites_uncommitted_files(raw):
    git(raw, "switch", "-q", "-c", "data/clean", "main")
    mine = raw / "data/uploads/first/rows.jsonl"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"my own work\n")
    assert "not committed" in refused(raw, "data", "pull", "data/raw")
    assert mine.read_bytes() == b"my own work\n"


def test_failed_commit_rolls_back_every_change(raw):
    """A hook refusing the commit leaves HEAD, index and work tree exactly as before."""
    git(raw, "switch", "-q", "-c", "data/clean", "main")
    hook = raw / ".git/hooks/pre-commit.pre-branchml"  # chained before branchml's own hook
    hook.write_text("#!/bin/sh\necho refused by policy >&2\nexit 1\n")
    hook.chmod(0o755)
    err = refused(raw, "data", "pull", "data/raw")
    assert "refused by policy" in err
    assert not (raw / "data").exists()
    os.remove(hook)
    assert bml_json(raw, "data", "pull", "data/raw")["commit"]


def test_split_refuses_unknown_key_bad_ratios_and_changed_seed(raw):
    git(raw, "switch", "-q", "-c", "data/split", "main")
    bml(raw, "data", "pull", "data/raw")
    err = refused(raw, "data", "split", "--ratios", "0.8,0.1,0.1", "--seed", "7", "--key", "user")
    assert "no column 'user'" in err and "columns: id" in err
    assert "add up to 1" in refused(raw, "data", "split", "--ratios", "0.8,0.3,0.1", "--seed", "7")
    assert "no saved split" in refused(raw, "data", "split")
    bml(raw, "data", "split", "--ratios", "0.8,0.1,0.1", "--seed", "7", "--key", "id")
    assert "another seed" in refused(raw, "data", "split", "--seed", "8")


def test_clean_rules_must_be_committed(raw):
    git(raw, "switch", "-q", "-c", "data/clean", "main")
    bml(raw, "data", "pull", "data/raw")
    (raw / "rules.py").write_text("def check_row(path, row):\n    return 'odd' if row['id'] % 2 else None\n")
    assert "no such file committed" in refused(raw, "data", "clean", "--rules", "rules.py")
