"""diff, rerun, why and the audit questions, on real repositories (docs/audit.md)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import branchml
from conftest import bml, git
from data_helpers import (
    bml_json,
    csv_bytes,
    data_repo,
    head,
    jsonl,
    parquet,
    write_files,
)
from runs_helpers import stable_repo, tags


def _sqlite(path, rows):
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
    db.executemany("INSERT INTO t VALUES (?, ?)", rows)
    db.commit()
    db.close()


def _two_versions(repo, tmp_path):
    """main: four data files; dev/x: one row added, one removed, one changed in each; code and params too."""
    bml(repo, "track", "data/**")
    rows = [["1", "a"], ["2", "b"], ["3", "c"]]
    write_files(repo / "data", {
        "t.csv": csv_bytes(["id", "name"], rows),
        "t.jsonl": jsonl([{"id": int(i), "name": n} for i, n in rows]),
        "t.parquet": parquet([{"id": int(i), "name": n} for i, n in rows]),
    })
    _sqlite(repo / "data/t.db", [(1, "a"), (2, "b"), (3, "c")])
    (repo / "params.json").write_text('{"lr": 0.1}')
    (repo / "train.py").write_text("print('v1')\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v1")
    git(repo, "switch", "-qc", "dev/x")
    new = [["1", "a"], ["3", "C"], ["4", "d"]]  # 2 removed, 3 changed, 4 added
    write_files(repo / "data", {
        "t.csv": csv_bytes(["id", "name"], new),
        "t.jsonl": jsonl([{"id": int(i), "name": n} for i, n in new]),
        "t.parquet": parquet([{"id": int(i), "name": n} for i, n in new]),
    })
    (repo / "data/t.db").unlink()
    _sqlite(repo / "data/t.db", [(1, "a"), (3, "C"), (4, "d")])
    (repo / "params.json").write_text('{"lr": 0.2}')
    (repo / "train.py").write_text("print('v2')\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "v2")


def test_diff_counts_rows_by_key_in_csv_jsonl_parquet_and_sqlite(repo, tmp_path):
    _two_versions(repo, tmp_path)
    result = bml_json(repo, "diff", "main", "dev/x", "--key", "id")
    files = {f["path"]: f for f in result["files"]}
    assert files["train.py"]["kind"] == "code" and files["train.py"]["rows"] == []
    for path in ("data/t.csv", "data/t.jsonl", "data/t.parquet", "data/t.db"):
        assert files[path]["kind"] == "data" and files[path]["tracked"], path
        (rows,) = files[path]["rows"]
        assert (rows["rows_a"], rows["rows_b"]) == (3, 3), path
        assert (rows["added"], rows["removed"], rows["changed"]) == (1, 1, 1), (path, rows)
        assert rows["examples"]["changed"] == ["3"], path
    assert files["data/t.db"]["rows"][0]["table"] == "t"
    assert result["params"] == {"lr": [0.1, 0.2]}


def test_diff_without_key_compares_rows_as_multisets_and_reports_columns(repo, tmp_path):
    _two_versions(repo, tmp_path)
    (repo / "data/t.csv").write_bytes(csv_bytes(["id", "name", "extra"], [["1", "a", "x"], ["3", "C", "y"], ["4", "d", "z"]]))
    git(repo, "commit", "-qam", "a column")
    result = bml_json(repo, "diff", "main", "dev/x", "data/t.csv")
    (change,) = result["files"]
    (rows,) = change["rows"]
    assert (rows["added"], rows["removed"], rows["changed"]) == (2, 2, 0)
    assert rows["columns_added"] == ["extra"] and rows["columns_removed"] == []
    text = bml(repo, "diff", "main", "dev/x").stdout.decode()
    assert "data/t.csv" in text and "+2 -2" in text and "lr: 0.1 -> 0.2" in text


def test_diff_of_unknown_ref_is_one_clear_line(repo):
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    proc = bml(repo, "diff", "main", "nope", check=False)
    assert proc.returncode == 1 and b"unknown revision 'nope'" in proc.stderr and b"Traceback" not in proc.stderr


def _store_files(repo) -> int:
    return bml_json(repo, "stats")["files"]


def test_git_diff_shows_rows_of_tracked_text_data_and_never_writes_the_store(repo, tmp_path):
    _two_versions(repo, tmp_path)
    before = _store_files(repo)
    out = git(repo, "diff", "main", "dev/x", "--", "data/t.csv", "data/t.jsonl")
    assert "-2,b" in out and "+4,d" in out and "-3,c" in out and "+3,C" in out
    assert '+{"id": 4, "name": "d"}' in out
    binary = git(repo, "diff", "main", "dev/x", "--", "data/t.parquet")
    assert "branchml file" in binary and "oid blake3:" in binary
    git(repo, "log", "-p", "--", "data/t.csv")
    assert _store_files(repo) == before  # textconv only reads
    (repo / "data/t.csv").write_bytes(b"id,name\n1,a\n")  # work-tree side: the real file
    assert "-3,C" in git(repo, "diff", "--", "data/t.csv")


def test_git_diff_shows_a_summary_above_the_textconv_limit(repo, tmp_path):
    _two_versions(repo, tmp_path)
    (repo / "branchml.toml").write_text((repo / "branchml.toml").read_text() + "\n[diff]\ntextconv_max_bytes = 4\n")
    out = git(repo, "diff", "main", "dev/x", "--", "data/t.csv")
    assert "above [diff] textconv_max_bytes" in out and "4,d" not in out


def _trained(repo):
    stable_repo(repo)
    bml(repo, "run", "--", sys.executable, "train.py", "{tag}")
    return "acme-1"


def test_rerun_reproduces_a_deterministic_run_and_commits_nothing(repo):
    tag = _trained(repo)
    heads = git(repo, "for-each-ref")
    result = bml_json(repo, "rerun", tag, "--yes")
    assert result["reproduced"] is True
    assert result["metrics"]["accuracy"]["ok"] and result["files"]["models/model.bin"]["ok"]
    assert result["files"]["models/model.bin"]["recorded"].startswith("blake3:")
    assert git(repo, "for-each-ref") == heads and tags(repo) == [tag]
    assert len(git(repo, "worktree", "list").splitlines()) == 1


def test_rerun_that_does_not_reproduce_exits_1_and_names_what_differs(repo, tmp_path):
    tag = _trained(repo)
    keep = tmp_path / "again"
    proc = subprocess.run([sys.executable, "-m", "branchml", "rerun", tag, "--yes", "--json", "--in", str(keep)],
                          check=False, cwd=repo, capture_output=True, env={**os.environ, "SEED": "2"})
    assert proc.returncode == 1
    result = json.loads(proc.stdout)
    assert not result["metrics"]["accuracy"]["ok"] and not result["files"]["models/model.bin"]["ok"]
    assert b"did not reproduce" in proc.stderr
    assert (keep / "models/model.bin").exists()  # --in keeps the folder for inspection


def test_rerun_asks_before_running_the_recorded_command(repo):
    tag = _trained(repo)
    proc = bml(repo, "rerun", tag, check=False, input=b"n\n")
    assert proc.returncode != 0 and b"train.py" in proc.stderr
    assert not (repo.parent / "marker").exists()
    assert len(git(repo, "worktree", "list").splitlines()) == 1


def _story_repo(repo, tmp_path):
    """raw upload -> clean -> split -> stable/acme -> acme-1, acme-2; logs of acme-1 on monitor/prod."""
    data_repo(repo)
    bml(repo, "track", "data/**")
    git(repo, "commit", "-qam", "track data")
    git(repo, "switch", "-qc", "data/raw")
    rows = [[str(i), str(i % 7)] for i in range(60)]
    files = write_files(tmp_path / "in", {"rows.csv": csv_bytes(["id", "x"], rows)})
    bml(repo, "data", "add", *files, "--source", "crm export 2026-01")
    upload = head(repo)
    git(repo, "switch", "-qc", "data/clean", "main")
    bml(repo, "data", "pull", "data/raw")
    git(repo, "switch", "-qc", "data/split", "main")
    bml(repo, "data", "pull", "data/clean")
    bml(repo, "data", "split", "--ratios", "0.6,0.2,0.2", "--seed", "3", "--key", "id")
    git(repo, "switch", "-q", "main")
    stable_repo(repo)
    bml(repo, "data", "pull", "data/split")
    bml(repo, "run", "--", sys.executable, "train.py", "{tag}")
    bml(repo, "run", "--", sys.executable, "train.py", "{tag}")
    git(repo, "switch", "-qc", "monitor/prod", "main")
    write_files(repo / "logs/acme-1/2026-01-02", {"part-0.jsonl": jsonl([{"request_id": "r1", "tag": "acme-1"}])})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "logs")
    git(repo, "switch", "-q", "stable/acme")
    return upload


def test_why_tells_the_whole_story_and_audit_answers_the_questions(repo, tmp_path):
    upload = _story_repo(repo, tmp_path)
    story = bml_json(repo, "why", "acme-1")
    assert [u["source"] for u in story["uploads"]] == ["crm export 2026-01"]
    assert {p["ref"] for p in story["pulls"]} >= {"data/split", "data/clean", "data/raw"}
    assert story["split"]["settings"] == {"ratios": [0.6, 0.2, 0.2], "seed": 3, "source": "data/uploads", "key": "id"}
    assert story["split"]["problem"] is None  # checked as `data split` checks it
    assert story["release"] == {"customer": "acme", "latest": "acme-2", "current": False, "newer": ["acme-2"]}
    assert story["monitoring"] == [{"branch": "monitor/prod", "files": 1, "bytes": story["monitoring"][0]["bytes"], "path": "logs/acme-1/"}]
    assert "crm export 2026-01" in bml(repo, "why", "acme-2").stdout.decode()

    (up,) = bml_json(repo, "audit", "uploads")
    assert up["commit"] == upload and up["source"] == "crm export 2026-01" and up["author"].startswith("Test")
    retrain = bml_json(repo, "audit", "retrain", upload)
    assert retrain["tags"] == ["acme-1", "acme-2"] and retrain["customers"]["acme"]["runs_affected_model"] is True
    assert bml_json(repo, "audit", "running", "acme")["tag"] == "acme-2"
    assert bml(repo, "audit", "running", "acme", "--at", "1999-01-01", check=False).returncode == 1
    assert bml_json(repo, "audit", "split", "stable/acme")["clean"] is True
    # the library returns records; their as_dict() is what --json printed
    opened = branchml.open_repo(repo)
    assert branchml.story(opened, "acme-1").as_dict() == story
    assert [u.as_dict() for u in branchml.uploads(opened)] == [up]
    assert branchml.retrain_affected(opened, upload).as_dict() == retrain
    assert branchml.running_release(opened, "acme").as_dict() == bml_json(repo, "audit", "running", "acme")
    assert [r.as_dict() for r in branchml.list_releases(opened)] == bml_json(repo, "release", "list")


def test_why_shows_a_refused_split_as_committed_with_the_problem(repo, tmp_path):
    _story_repo(repo, tmp_path)
    git(repo, "switch", "-q", "data/split")
    text = (repo / "branchml.toml").read_text()
    (repo / "branchml.toml").write_text(text.replace("seed = 3", 'seed = "3"'))
    (repo / "data" / "more.txt").write_text("one more file\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a seed written as text", "--no-verify")  # the hook would refuse it
    split_commit = head(repo)
    git(repo, "switch", "-q", "stable/acme")
    bml(repo, "data", "pull", "data/split")
    bml(repo, "run", "--", sys.executable, "train.py", "{tag}")
    story = bml_json(repo, "why", "acme-3")
    assert story["split"]["commit"] == split_commit and story["split"]["settings"]["seed"] == "3"
    assert story["split"]["problem"] == f"{split_commit[:12]}:branchml.toml: setting [split] seed must be an integer, not '3'"
    printed = " ".join(bml(repo, "why", "acme-3").stdout.decode().split())  # the console wraps long lines
    assert "refused: " + story["split"]["problem"] in printed


def test_audit_split_names_examples_that_moved_between_split_versions(repo, tmp_path):
    _story_repo(repo, tmp_path)
    git(repo, "switch", "-q", "data/split")
    bml(repo, "data", "split", "--seed", "4", "--force")
    git(repo, "switch", "-q", "stable/acme")
    bml(repo, "data", "pull", "data/split")
    proc = bml(repo, "audit", "split", "stable/acme", "--json", check=False)
    assert proc.returncode == 1
    result = json.loads(proc.stdout)
    assert len(result["pulls"]) == 2 and result["moved"]
    assert {m["from"] for m in result["moved"]} | {m["to"] for m in result["moved"]} <= {"train", "val", "test"}
