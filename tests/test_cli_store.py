"""The store's read commands as scripts use them: JSON shapes, exit codes, track/untrack."""

from __future__ import annotations

import json

from conftest import bml, git


def test_track_untrack_ls_files_stats_cat(repo):
    bml(repo, "track", "data/**", "*.parquet")
    bml(repo, "track", "data/**")  # idempotent
    attrs = (repo / ".gitattributes").read_text().splitlines()
    assert attrs.count("data/** filter=branchml diff=branchml -text") == 1
    (repo / "data").mkdir()
    (repo / "data" / "a.bin").write_bytes(b"a" * 100_000)
    (repo / "data" / "b.bin").write_bytes(b"a" * 100_000)  # same content: stored once
    (repo / "plain.txt").write_text("not tracked")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "x")
    rows = json.loads(bml(repo, "ls-files", "--json").stdout)
    assert [r["path"] for r in rows] == ["data/a.bin", "data/b.bin"]
    assert set(rows[0]) == {"path", "size", "oid", "present"} and rows[0]["present"] is True
    stats = json.loads(bml(repo, "stats", "--json").stdout)
    assert stats["files"] == 1 and stats["file_bytes"] == 100_000 and stats["stored_bytes"] < 100_000
    pointer = git(repo, "show", "HEAD:data/a.bin").encode()
    assert bml(repo, "cat", input=pointer).stdout == b"a" * 100_000
    bml(repo, "untrack", "*.parquet")
    assert "*.parquet" not in (repo / ".gitattributes").read_text()


def test_errors_have_exit_codes_and_hints(tmp_path):
    proc = bml(tmp_path, "stats", check=False)
    assert proc.returncode == 2
    assert "not a git repository" in proc.stderr.decode() and "hint" in proc.stderr.decode()
    repo = tmp_path / "r"
    bml(tmp_path, "init", str(repo))
    proc = bml(repo, "cat", input=b"branchml pointer v1\noid blake3:00\nsize 1\n", check=False)
    assert proc.returncode == 4 and "malformed pointer" in proc.stderr.decode()
    good = b"branchml pointer v1\noid blake3:" + b"ab" * 32 + b"\nsize 5\n"
    proc = bml(repo, "cat", input=good, check=False)
    assert proc.returncode == 5 and "not in the store" in proc.stderr.decode()
