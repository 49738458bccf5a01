"""monitor/<env> logs: the Python Logger, its journal under SIGKILL, imports, labels, queries, merges."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import branchml
from branchml.monitor import Logger
from branchml.monitor.query import tag_logs
from conftest import bml, git

WRITER = """\
import sys
from branchml.monitor import Logger
log = Logger(env="prod", tag="acme-4", batch_records=5, batch_seconds=60)
for i in range(100000):
    log.log({"x": i}, i % 2, request_id=f"r{i}")
    print(f"r{i}", flush=True)   # printed only once the record is journaled: acknowledged
"""


def _commit_readme(repo: Path) -> None:
    (repo / "README.md").write_text("x\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")


def test_logger_commits_batches_without_touching_the_checkout(repo):
    _commit_readme(repo)
    (repo / "wip.txt").write_text("uncommitted work\n")
    head, status = git(repo, "rev-parse", "HEAD"), git(repo, "status", "--porcelain")
    with Logger(env="prod", tag="acme-4", repo=repo, batch_records=10) as log:
        for i in range(25):
            log.log({"x": i, "name": "é"}, i * 2, request_id=f"q{i}", latency_ms=1.5)
    assert git(repo, "rev-parse", "HEAD") == head and git(repo, "status", "--porcelain") == status
    assert int(git(repo, "rev-list", "--count", "monitor/prod")) == 3  # 10 + 10 + 5
    [logs] = tag_logs(repo, "acme-4")
    assert [r.request_id for r in logs.records] == [f"q{i}" for i in range(25)]
    assert logs.records[3].features == {"x": 3, "name": "é"} and logs.records[3].prediction == 6
    files = git(repo, "ls-tree", "-r", "--name-only", "monitor/prod").split()
    assert "alerts/rules.py" in files  # a new monitor branch starts with its editable alert rules
    assert all(f.startswith("logs/acme-4/") and f.endswith(".jsonl") for f in files if f != "alerts/rules.py")
    assert bml(repo, "verify", "--branch", "monitor/prod", check=False).returncode == 0
    assert not list((repo / ".git/branchml/monitor/prod").glob("*.journal"))  # closed: journal removed


def test_logs_written_while_the_monitor_branch_is_checked_out_show_in_it(repo):
    """`git switch monitor/prod` while a server logs: the new parts reach the work tree, status stays clean."""
    _commit_readme(repo)
    with Logger(env="prod", tag="acme-4", repo=repo, batch_records=5) as log:
        log.log({"x": 0}, 0, request_id="first")
    git(repo, "switch", "-q", "monitor/prod")
    with Logger(env="prod", tag="acme-4", repo=repo, batch_records=5) as log:
        for i in range(7):
            log.log({"x": i}, i, request_id=f"later{i}")
    assert git(repo, "status", "--porcelain") == ""
    parts = [p for p in git(repo, "ls-files").split() if p.startswith("logs/")]
    assert len(parts) == 3 and all((repo / p).is_file() for p in parts)  # 1 + 5 + 2 records
    lines = [json.loads(line) for p in parts for line in (repo / p).read_text().splitlines()]
    assert sorted(r["request_id"] for r in lines) == ["first", *(f"later{i}" for i in range(7))]


def test_killed_writer_loses_no_acknowledged_record_and_commits_none_twice(repo):
    _commit_readme(repo)
    proc = subprocess.Popen([sys.executable, "-c", WRITER], cwd=repo, stdout=subprocess.PIPE)
    acked = []
    while len(acked) < 23 or not git(repo, "branch", "--list", "monitor/prod"):
        acked.append(proc.stdout.readline().decode().strip())  # until a first batch is on the branch
    proc.kill()
    acked += [line.decode().strip() for line in proc.stdout]  # acknowledged before the kill landed
    proc.wait()
    [journal] = (repo / ".git/branchml/monitor/prod").glob("*.journal")
    with journal.open("ab") as f:
        f.write(b'999999\t{"tag": "acme-4", "feat')  # a torn write: never fsynced, never acknowledged
    assert len(tag_logs(repo, "acme-4")[0].records) >= 5  # some batches were committed before the kill
    restarted = Logger(env="prod", repo=repo)  # a new writer commits what the dead one journaled
    restarted.close()
    counts = Counter(r.request_id for r in tag_logs(repo, "acme-4")[0].records)
    assert set(acked) <= set(counts) and max(counts.values()) == 1
    # at most one more: journaled (fsynced) when the kill came, before its writer could acknowledge it
    assert set(counts) - set(acked) <= {f"r{len(acked)}"}
    assert not journal.exists()


def test_imported_queries_labels_and_show_monitor(repo, tmp_path):
    _commit_readme(repo)
    git(repo, "commit", "-qm", "model", "--allow-empty")  # `show` wants the tag's parent (the code commit)
    git(repo, "tag", "acme-4")
    queries = tmp_path / "q.jsonl"
    queries.write_text("".join(json.dumps({"features": {"x": i}, "prediction": i % 2, "request_id": f"ext{i}",
                                           "ts": f"2026-11-0{1 + i % 3}T10:00:00Z"}) + "\n" for i in range(6)))
    imported = json.loads(bml(repo, "monitor", "log", "--env", "prod", "--tag", "acme-4", str(queries), "--json").stdout)
    assert imported == {"env": "prod", "tag": "acme-4", "records": 6,  # QueriesImported.as_dict
                        "commits": [git(repo, "rev-parse", "monitor/prod").strip()]}
    labels = tmp_path / "labels.csv"
    labels.write_text("request_id,label\next1,1\next2,0\n")
    bml(repo, "monitor", "label", "--env", "prod", str(labels))
    [env] = json.loads(bml(repo, "monitor", "logs", "--tag", "acme-4", "--labels", "--json").stdout)
    assert env["env"] == "prod" and env["count"] == 6
    assert {r["request_id"]: r["label"] for r in env["records"]} == {
        "ext0": None, "ext1": "1", "ext2": "0", "ext3": None, "ext4": None, "ext5": None}
    [since] = json.loads(bml(repo, "monitor", "logs", "--tag", "acme-4", "--since", "2026-11-03", "--json").stdout)
    assert sorted(r["request_id"] for r in since["records"]) == ["ext2", "ext5"]
    shown = json.loads(bml(repo, "show", "acme-4", "--monitor", "--json").stdout)
    assert shown["monitor"][0]["count"] == 6 and shown["monitor"][0]["first"].startswith("2026-11-01")
    # the library's records are what --json printed (a LogSummary per branch; TagLogs adds the records)
    summary = {k: v for k, v in env.items() if k != "records"}
    assert shown["monitor"] == [summary] and sorted(summary) == [
        "branch", "commit", "count", "env", "first", "last", "parts", "variants"]
    assert [found.as_dict() for found in branchml.tag_records(repo, "acme-4", labels=True)] == [env]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"features": {}, "prediction": 1}\n{"prediction": 2}\n')
    proc = bml(repo, "monitor", "log", "--env", "prod", "--tag", "acme-4", str(bad), check=False)
    assert proc.returncode == 1 and "bad.jsonl:2" in proc.stderr.decode()
    assert len(tag_logs(repo, "acme-4")[0].records) == 6  # nothing of the bad file was committed


def test_monitor_branches_of_two_clones_merge_without_conflicts(repo, tmp_path):
    _commit_readme(repo)
    with Logger(env="prod", tag="acme-4", repo=repo) as log:
        log.log({"x": 0}, 0, request_id="first")
    git(tmp_path, "clone", "-q", str(repo), "other")
    other = tmp_path / "other"
    git(other, "branch", "-q", "monitor/prod", "origin/monitor/prod")
    for where, rid in ((repo, "here"), (other, "there")):
        with Logger(env="prod", tag="acme-4", repo=where) as log:
            log.log({"x": 1}, 1, request_id=rid)
    git(repo, "fetch", "-q", str(other), "monitor/prod:refs/remotes/other/monitor-prod")
    git(repo, "switch", "-q", "monitor/prod")
    git(repo, "merge", "-q", "--no-edit", "other/monitor-prod")
    ids = sorted(r.request_id for r in tag_logs(repo, "acme-4")[0].records)
    assert ids == ["first", "here", "there"]
    assert bml(repo, "verify", "--branch", "monitor/prod", check=False).returncode == 0
    bml(repo, "branch", "ds/acme", "--from", "main")  # an analysis branch pulls the tag's logs by copy
    bml(repo, "data", "pull", "monitor/prod", "--path", "logs/acme-4")
    assert len(list((repo / "logs/acme-4").rglob("*.jsonl"))) == 3


def test_show_monitor_of_a_tag_on_a_root_commit(repo):
    _commit_readme(repo)  # the repository's first commit: it has no parent to call its code commit
    git(repo, "tag", "first-1")
    with Logger(env="prod", tag="first-1", repo=repo) as log:
        log.log({"x": 1}, 0, request_id="root-1")
    info = json.loads(bml(repo, "show", "first-1", "--monitor", "--json").stdout)
    assert info["commit"] == git(repo, "rev-parse", "first-1").strip() and info["code_commit"] is None
    assert [(e["env"], e["count"]) for e in info["monitor"]] == [("prod", 1)]
    assert "first-1" in bml(repo, "show", "first-1", "--monitor").stdout.decode()
