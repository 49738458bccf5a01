"""A monitor branch pushes like any branch: large log parts go through the blob remote.

A real server logs on one clone; `git push` (the pre-push hook uploads the parts' chunks) and a
fetch + switch on another clone, whose store never saw those chunks, give back every record.
"""

from __future__ import annotations

import json

import pytest

from conftest import bml, git
from remote_support import project, remote_objects
from serve_helpers import Server, linear_tag, wait_logged

pytest.importorskip("safetensors", reason="the serve extra installs safetensors")


def _parts(repo, rev: str) -> dict[str, bytes]:
    paths = git(repo, "ls-tree", "-r", "--name-only", rev, "--", "logs/").split()
    return {p: git(repo, "cat-file", "-p", f"{rev}:{p}").encode() for p in paths}


def test_large_log_parts_are_pointers_pushed_through_the_blob_remote(tmp_path):
    blobs = tmp_path / "blobs"
    src = project(tmp_path, str(blobs))
    settings = (src / "branchml.toml").read_text()
    assert "store_above = 1048576" in settings
    (src / "branchml.toml").write_text(settings.replace("store_above = 1048576", "store_above = 4096"))  # 4 KiB parts
    git(src, "commit", "-qam", "small threshold for the test")
    git(src, "switch", "-qc", "dev/linear")
    linear_tag(src, "lin-1")
    git(src, "push", "-q", "origin", "main", "dev/linear", "lin-1")
    bml(tmp_path, "clone", str(tmp_path / "proj-server.git"), str(tmp_path / "copy"))
    before = set(remote_objects(blobs))

    srv = Server(src, "lin-1", "--env", "prod", "--batch-records", "1000", "--batch-seconds", "0.2")
    try:
        small = srv.score({"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1.0, 2.0, 3]]}},
                          **{"X-Request-ID": "small"})
        assert small.status_code == 200, small.text
        wait_logged(src, "lin-1", "prod", {"small"})
        rows = [[float(i), -float(i), i] for i in range(60)]
        big = srv.score({"dataframe_split": {"columns": ["a", "b", "c"], "data": rows}}, **{"X-Request-ID": "big"})
        assert big.status_code == 200, big.text
        wait_logged(src, "lin-1", "prod", {f"big-{i}" for i in range(60)})
    finally:
        srv.stop()

    parts = _parts(src, "monitor/prod")
    pointers = [p for p, body in parts.items() if body.startswith(b"branchml pointer v1\n")]
    assert len(parts) == 2 and len(pointers) == 1  # the one-record part stays an ordinary blob
    assert pointers[0].endswith(".stored.jsonl")
    assert "logs/**/*.stored.jsonl filter=branchml" in git(src, "show", "monitor/prod:.gitattributes")
    git(src, "push", "-q", "origin", "monitor/prod")  # the pre-push hook uploads the part's chunks
    assert set(remote_objects(blobs)) > before

    copy = tmp_path / "copy"
    git(copy, "fetch", "-q", "origin")
    git(copy, "branch", "-q", "monitor/prod", "origin/monitor/prod")
    found = json.loads(bml(copy, "monitor", "logs", "--tag", "lin-1", "--env", "prod", "--json").stdout)
    ids = sorted(r["request_id"] for r in found[0]["records"])
    assert ids == sorted(["small", *(f"big-{i}" for i in range(60))])  # read through the store, fetched
    git(copy, "switch", "-q", "monitor/prod")
    written = (copy / pointers[0]).read_bytes()
    assert not written.startswith(b"branchml pointer") and written.count(b"\n") == 60
    assert git(copy, "status", "--porcelain") == ""
    assert bml(copy, "verify", "--branch", "monitor/prod", check=False).returncode == 0
