"""`branchml run` end to end: real git, real subprocesses, a real training script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib

import tomli_w
import yaml

from conftest import bml, git
from runs_helpers import record, stable_repo, tags


def test_full_run_commits_tags_and_records(repo):
    stable_repo(repo)
    code_commit = git(repo, "rev-parse", "HEAD").strip()
    proc = bml(repo, "run", "--", sys.executable, "train.py", "{tag}")
    assert b"trained acme-1" in proc.stderr  # output streamed

    assert tags(repo) == ["acme-1"]
    assert git(repo, "cat-file", "-t", "acme-1").strip() == "tag"  # annotated
    assert "accuracy=0.51" in git(repo, "tag", "-l", "--format=%(contents)", "acme-1")
    commit = git(repo, "rev-parse", "acme-1^{commit}").strip()
    assert commit == git(repo, "rev-parse", "HEAD").strip()
    assert git(repo, "rev-parse", "HEAD^").strip() == code_commit
    assert git(repo, "status", "--porcelain") == ""
    changed = set(git(repo, "diff-tree", "-r", "--name-only", "--no-commit-id", code_commit, commit).split())
    assert changed == {"models/model.bin", "metrics.json", "params.json", "MODEL_CARD.md"}
    # the model went through the store: Git holds a pointer, the work tree the bytes
    assert git(repo, "cat-file", "-p", "acme-1:models/model.bin").startswith("branchml pointer v1")
    assert (repo / "models/model.bin").read_bytes() == bytes(i % 251 for i in range(300_000))
    trailers = git(repo, "log", "-1", "--format=%(trailers:key=Run-Tag,valueonly)", "acme-1").strip()
    assert trailers == "acme-1"

    rec = record(repo, "acme-1")
    assert rec["tag"] == "acme-1" and rec["commit"] == commit and rec["code_commit"] == code_commit
    assert rec["branch"] == "stable/acme" and rec["customer"] == "acme"
    assert rec["metrics"] == {"accuracy": 0.51, "loss": 1.0}
    assert rec["params"] == {"seed": 1, "tag": "acme-1"}
    assert rec["command"] == [sys.executable, "train.py", "acme-1"]
    assert set(rec["files"]) == changed

    front = (repo / "MODEL_CARD.md").read_text().split("---\n")[1]
    model_index = yaml.safe_load(front)["model-index"][0]
    assert model_index["name"] == "acme-1"
    assert {m["type"]: m["value"] for m in model_index["results"][0]["metrics"]} == {"accuracy": 0.51, "loss": 1.0}
    logs = list((repo / ".git/branchml/runs").glob("acme-1.log"))
    assert logs and b"trained acme-1" in logs[0].read_bytes()

    # a second run: the next number, the card compares with acme-1, `runs` lists both
    proc = subprocess.run([sys.executable, "-m", "branchml", "run", "--json", "--", sys.executable, "train.py", "{tag}"],
                          cwd=repo, capture_output=True, check=True, env={**os.environ, "SEED": "3"})
    assert json.loads(proc.stdout)["tag"] == "acme-2"
    assert tags(repo) == ["acme-1", "acme-2"]
    assert "| accuracy | 0.53 | 0.51 |" in (repo / "MODEL_CARD.md").read_text()  # compared with acme-1
    # a run that writes no metrics does not inherit acme-2's: its record and commit say so
    bml(repo, "run", "--", sys.executable, "-c", "open('notes.txt', 'w').write('no metrics')")
    assert record(repo, "acme-3")["metrics"] == {} and not (repo / "metrics.json").exists()
    by_accuracy = json.loads(bml(repo, "runs", "--json", "--sort", "accuracy").stdout)
    assert [r["tag"] for r in by_accuracy] == ["acme-2", "acme-1", "acme-3"]  # runs without the metric last
    by_loss = json.loads(bml(repo, "runs", "--json", "--sort", "loss", "--ascending").stdout)
    assert [r["tag"] for r in by_loss] == ["acme-2", "acme-1", "acme-3"]
    assert "acme-2" in bml(repo, "runs").stdout.decode()  # the table for people


def test_failing_command_commits_nothing(repo):
    stable_repo(repo)
    before = {ref: git(repo, "rev-parse", ref).strip() for ref in ("HEAD", "main")}
    env_run = subprocess.run(
        [sys.executable, "-m", "branchml", "run", "--", sys.executable, "train.py", "{tag}"],
        cwd=repo, capture_output=True, env={**os.environ, "FAIL": "1"},
    )
    assert env_run.returncode != 0
    assert b"failed with exit code 3" in env_run.stderr and b"nothing was committed" in env_run.stderr
    assert tags(repo) == []
    assert {ref: git(repo, "rev-parse", ref).strip() for ref in before} == before
    assert git(repo, "for-each-ref", "refs/branchml/") == ""  # reservation dropped
    assert git(repo, "diff", "--cached", "--name-only") == ""  # nothing staged either
    failed = list((repo / ".git/branchml/runs").glob("acme-1.failed-*.log"))
    assert len(failed) == 1 and b"about to fail" in failed[0].read_bytes()
    # the work tree holds the failed outputs; a new run refuses until they are cleaned
    refused = bml(repo, "run", "--", sys.executable, "train.py", "{tag}", check=False)
    assert refused.returncode != 0 and b"uncommitted changes" in refused.stderr
    git(repo, "clean", "-qfd")
    bml(repo, "run", "--", sys.executable, "train.py", "{tag}")
    assert tags(repo) == ["acme-1"]  # the failed run's number was never a tag: reused


def test_refuses_dirty_tree_bad_metrics_and_non_stable_branches(repo):
    stable_repo(repo)
    (repo / "train.py").write_text("print('edited')\n")
    proc = bml(repo, "run", "--", sys.executable, "train.py", check=False)
    assert proc.returncode != 0 and b"uncommitted changes" in proc.stderr and b"train.py" in proc.stderr
    # metrics that are not numbers: the run fails after training and commits nothing
    (repo / "train.py").write_text('import json\njson.dump({"accuracy": "high"}, open("metrics.json", "w"))\n')
    git(repo, "commit", "-qam", "bad metrics")
    head = git(repo, "rev-parse", "HEAD")
    proc = bml(repo, "run", "--", sys.executable, "train.py", check=False)
    assert proc.returncode != 0 and b"metric 'accuracy'" in proc.stderr
    assert tags(repo) == [] and git(repo, "rev-parse", "HEAD") == head
    git(repo, "clean", "-qfd")
    git(repo, "switch", "-qc", "dev/model")
    proc = bml(repo, "run", "--", sys.executable, "train.py", check=False)
    assert proc.returncode != 0 and b"not one" in proc.stderr and b"stable/" in proc.stderr
    assert tags(repo) == []


def test_customer_prefix_configured_steps_and_taken_tag(repo):
    stable_repo(repo, "stable/eu/model")
    # an extra step from branchml.toml (e.g. tests) runs after training; its output is committed too
    (repo / "check.py").write_text(
        "import os, sys, pathlib\n"
        "assert os.path.exists('models/model.bin')\n"
        "pathlib.Path('reports').mkdir(exist_ok=True)\n"
        "pathlib.Path('reports/check.txt').write_text('checked ' + sys.argv[1])\n"
        "sys.exit(int(os.environ.get('CHECK_FAILS', '0')))\n"
    )
    settings = tomllib.loads((repo / "branchml.toml").read_text())
    settings.setdefault("run", {})["steps"] = [[sys.executable, "check.py", "{tag}"]]
    (repo / "branchml.toml").write_text(tomli_w.dumps(settings))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "check step")
    failing = subprocess.run([sys.executable, "-m", "branchml", "run", "--customer", "globex", "--", sys.executable, "train.py", "{tag}"],
                             cwd=repo, capture_output=True, env={**os.environ, "CHECK_FAILS": "1"})
    assert failing.returncode != 0 and b"check.py" in failing.stderr and tags(repo) == []
    git(repo, "clean", "-qfdx")
    bml(repo, "run", "--customer", "globex", "--", sys.executable, "train.py", "{tag}")
    assert git(repo, "show", "globex-1:reports/check.txt") == "checked globex-1"
    rec = record(repo, "globex-1")
    assert rec["branch"] == "stable/eu/model" and rec["steps"] == [f"{sys.executable} check.py globex-1"]
    taken = bml(repo, "run", "--tag", "globex-1", "--", sys.executable, "train.py", "{tag}", check=False)
    assert taken.returncode != 0 and b"already exists" in taken.stderr
    assert tags(repo) == ["globex-1"]


def test_racing_runs_get_distinct_tags_and_both_records(repo):
    """Two worktrees train for the same customer at the same time: two numbers, two records on main."""
    stable_repo(repo)
    git(repo, "switch", "-qc", "stable/acme-b")
    wt = repo.parent / "wt-b"
    git(repo, "switch", "-q", "stable/acme")
    git(repo, "worktree", "add", "-q", str(wt), "stable/acme-b")
    cmd = [sys.executable, "-m", "branchml", "run", "--customer", "acme", "--", sys.executable, "train.py", "{tag}"]
    env = {**os.environ, "PAUSE": "1"}
    procs = [subprocess.Popen(cmd, cwd=where, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for where in (repo, wt)]
    for proc in procs:
        _, err = proc.communicate()
        assert proc.returncode == 0, err
    assert tags(repo) == ["acme-1", "acme-2"]
    branches = {record(repo, t)["branch"] for t in ("acme-1", "acme-2")}
    assert branches == {"stable/acme", "stable/acme-b"}
    assert git(repo, "for-each-ref", "refs/branchml/") == ""


def test_record_on_main_leaves_main_checkout_alone(repo):
    """main is checked out in another worktree with the user's own uncommitted work in it."""
    stable_repo(repo)
    git(repo, "switch", "-q", "main")
    wt = repo.parent / "stable-wt"
    git(repo, "worktree", "add", "-q", str(wt), "stable/acme")
    (repo / "README.md").write_text("user's unsaved edit\n")
    (repo / "notes.txt").write_text("staged note\n")
    git(repo, "add", "notes.txt")
    status_before = git(repo, "status", "--porcelain")

    bml(wt, "run", "--", sys.executable, "train.py", "{tag}")

    assert git(repo, "status", "--porcelain") == status_before  # the user's work as it was
    assert (repo / "README.md").read_text() == "user's unsaved edit\n"
    assert json.loads((repo / "tracking/runs/acme-1.json").read_text())["tag"] == "acme-1"
    assert git(repo, "log", "-1", "--format=%s", "main").strip() == "Track run acme-1"
    assert git(repo, "show", "--name-only", "--format=", "main").split() == ["tracking/runs/acme-1.json"]
    assert git(wt, "status", "--porcelain") == ""
    assert "tracking" not in git(wt, "ls-files")  # the stable branch did not get the record
