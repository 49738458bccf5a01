"""Role rules on the client (hooks chained with the user's, `verify`), `branch`, `branches`, the init scaffold."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from branchml.git.hooks import MESSAGE_FREE
from conftest import bml, git, run

SOURCE = "Data-Source: https://example.com/export.csv"


def write(cwd: Path, rel: str, text: str) -> None:
    path = cwd / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def commit(cwd: Path, *messages: str, check: bool = True, hooks: bool = True):
    args = ["git", "commit", "-q", "--allow-empty"] + ([] if hooks else ["--no-verify"])
    for m in messages:
        args += ["-m", m]
    return run(args, cwd, check=check)


@pytest.fixture(scope="session")
def project_template(tmp_path_factory) -> Path:
    top = tmp_path_factory.mktemp("project")
    bml(top, "init", "repo")
    git(top / "repo", "add", "-A")
    commit(top / "repo", "Project scaffold", hooks=False)
    return top / "repo"


@pytest.fixture
def project(project_template, tmp_path) -> Path:
    """A `branchml init` repository with its scaffold committed on main."""
    shutil.copytree(project_template, tmp_path / "repo", symlinks=True)
    return tmp_path / "repo"


def client_hooks_refuse(repo: Path) -> None:
    """Opt in, in the clone's own local.toml, to client hooks that refuse instead of warning."""
    (repo / ".git/branchml/local.toml").write_text('[roles]\nclient_hooks = "refuse"\n')


def test_init_scaffolds_main_and_never_overwrites(tmp_path):
    path = tmp_path / "p"
    path.mkdir()
    (path / "README.md").write_text("mine\n")
    (path / "branchml.toml").write_text("# my settings\n[remotes]\n")
    bml(tmp_path, "init", str(path))
    problem = (path / "PROBLEM.md").read_text()
    for heading in ("## Business problem", "## Desired outcome", "## Target labels and how they are obtained",
                    "## Evaluation metrics", "## Requirements"):
        assert heading in problem
    assert (path / "DATA.md").exists() and (path / "docs/.gitkeep").exists() and (path / "src/.gitkeep").exists()
    assert (path / "README.md").read_text() == "mine\n"
    toml = (path / "branchml.toml").read_text()
    assert toml.startswith("# my settings\n[remotes]\n") and '[roles.rules."data/raw"]' in toml and "[paths]" in toml
    (path / "PROBLEM.md").write_text("edited\n")
    snapshot = {p: p.read_bytes() for p in path.rglob("*") if p.is_file() and ".git" not in p.parts}
    bml(tmp_path, "init", str(path))
    assert {p: p.read_bytes() for p in path.rglob("*") if p.is_file() and ".git" not in p.parts} == snapshot


def test_branch_creates_branches_of_a_role_only(project):
    out = bml(project, "branch", "notes", check=False)
    assert out.returncode == 1 and "branch name 'notes' has no role" in out.stderr.decode()
    assert "--force-role" in out.stderr.decode()
    bml(project, "branch", "dev/model")
    assert git(project, "branch", "--show-current").strip() == "dev/model"
    write(project, "src/train.py", "print(1)\n")
    git(project, "add", "-A")
    commit(project, "Baseline")
    bml(project, "branch", "stable/acme", "--from", "main")
    assert git(project, "rev-parse", "HEAD") == git(project, "rev-parse", "main")
    again = bml(project, "branch", "stable/acme", check=False)
    assert again.returncode == 1 and "already exists" in again.stderr.decode()
    bml(project, "branch", "notes", "--force-role")


def test_branches_json_schema(project):
    bml(project, "branch", "dev/model")
    git(project, "tag", "acme-1")
    commit(project, "More")
    rows = json.loads(bml(project, "branches", "--json").stdout)
    assert [r["branch"] for r in rows] == ["dev/model", "main"]
    keys = {"branch", "role", "head", "date", "subject", "current", "latest_tag", "tags_at_head"}
    for row in rows:
        assert set(row) == keys
        assert len(row["head"]) == 40 and row["date"][:4].isdigit() and "T" in row["date"]
    dev, main = rows
    assert (dev["role"], dev["current"], dev["latest_tag"], dev["tags_at_head"]) == ("dev", True, "acme-1", [])
    assert (main["role"], main["current"], main["latest_tag"], main["tags_at_head"]) == ("main", False, "acme-1", ["acme-1"])
    assert dev["subject"] == "More"


def test_client_hooks_refuse_early_and_chain_with_the_users_hook(project):
    hooks = project / ".git/hooks"
    # the user's own hook, in place of ours: `branchml install` keeps it and runs it first
    (hooks / "pre-commit").write_text("#!/bin/sh\necho user-hook >> \"$(git rev-parse --git-dir)/ran\"\n")
    bml(project, "install")
    assert (hooks / "pre-commit.pre-branchml").exists()
    git(project, "switch", "-q", "-c", "data/raw")
    write(project, "data/a.csv", "1\n")
    git(project, "add", "-A")
    warned = commit(project, "Upload")  # by default the client hooks warn and let the commit go on
    assert "warning: 1 branch role rule violation(s)" in warned.stderr.decode() and "[trailer]" in warned.stderr.decode()
    git(project, "reset", "-q", "--soft", "HEAD~1")
    client_hooks_refuse(project)
    refused = commit(project, "Upload", check=False)
    assert refused.returncode != 0 and "[trailer]" in refused.stderr.decode() and "Data-Source" in refused.stderr.decode()
    commit(project, "Upload", SOURCE)
    write(project, "data/a.csv", "2\n")
    git(project, "add", "-A")
    refused = commit(project, "Fix", SOURCE, check=False)
    assert refused.returncode != 0 and "(staged) data/raw (data/raw) [append-only] data/a.csv: was modified" in refused.stderr.decode()
    assert (project / ".git/ran").read_text().count("user-hook") == 4  # once per commit attempt


def test_pre_commit_allows_a_merge_of_dev_on_stable_but_not_code_edits(project):
    client_hooks_refuse(project)
    git(project, "switch", "-q", "-c", "dev/model")
    write(project, "src/train.py", "v1\n")
    git(project, "add", "-A")
    commit(project, "v1", hooks=False)
    git(project, "switch", "-q", "-c", "stable/model")
    git(project, "switch", "-q", "dev/model")
    write(project, "src/train.py", "v2\n")
    git(project, "add", "-A")
    commit(project, "v2", hooks=False)
    git(project, "switch", "-q", "stable/model")
    write(project, "models/m.skops", "w")
    git(project, "add", "-A")
    commit(project, "Run", hooks=False)
    git(project, "merge", "-q", "--no-edit", "dev/model")  # pre-commit and commit-msg run on the merge
    write(project, "src/train.py", "v3\n")
    git(project, "add", "-A")
    refused = commit(project, "Edit on stable", check=False)
    assert refused.returncode != 0 and "[merge-only] src/train.py" in refused.stderr.decode()


def test_pre_push_refuses_before_anything_is_sent(project, tmp_path):
    server = tmp_path / "server.git"
    git(tmp_path, "init", "-q", "--bare", str(server))  # no server hook: only the client stands guard
    client_hooks_refuse(project)
    git(project, "remote", "add", "origin", str(server))
    git(project, "push", "-q", "origin", "main")
    git(project, "switch", "-q", "-c", "data/raw")
    write(project, "data/a.csv", "1\n")
    git(project, "add", "-A")
    commit(project, "Upload", SOURCE)
    git(project, "push", "-q", "origin", "data/raw")
    git(project, "commit", "-q", "--amend", "--no-verify", "-m", "Upload", "-m", "Data-Source: elsewhere")
    out = run(["git", "push", "--force", "origin", "data/raw"], project, check=False)
    assert out.returncode != 0 and "[history]: this push rewrites the history of data/raw" in out.stderr.decode()
    assert git(server, "rev-parse", "data/raw") == git(project, "rev-parse", "data/raw@{1}")


def test_verify_prints_one_line_per_violation(project):
    git(project, "switch", "-q", "-c", "data/raw")
    write(project, "data/a.csv", "1\n")
    write(project, "data/b.csv", "1\n")
    git(project, "add", "-A")
    commit(project, "Upload", SOURCE)
    assert bml(project, "verify").returncode == 0
    write(project, "data/a.csv", "2\n")
    (project / "data/b.csv").unlink()
    git(project, "add", "-A")
    git(project, "commit", "-q", "--no-verify", "-m", "Sneaky")
    sha = git(project, "rev-parse", "HEAD").strip()
    out = bml(project, "verify", check=False)
    lines = out.stdout.decode().splitlines()
    assert out.returncode == 1
    assert lines == [
        f"{sha[:12]} data/raw (data/raw) [append-only] data/a.csv: was modified; data/raw is append-only: commit new data under a new path",
        f"{sha[:12]} data/raw (data/raw) [append-only] data/b.csv: was deleted (or renamed: Git records a rename as a delete plus an add); data/raw is append-only: commit new data under a new path",
        f"{sha[:12]} data/raw (data/raw) [trailer]: the commit message has no `Data-Source:` trailer; every commit on data/raw names where its data comes from, e.g. git commit --trailer 'Data-Source: s3://bucket/export-2024-05.csv'",
    ]
    assert bml(project, "verify", "HEAD~2..HEAD~1", "--branch", "data/raw").returncode == 0
    rows = json.loads(bml(project, "verify", "--json", "HEAD~1..HEAD", check=False).stdout)
    assert {(r["path"], r["rule"]) for r in rows} == {("data/a.csv", "append-only"), ("data/b.csv", "append-only"), ("", "trailer")}
    assert all(sorted(r) == ["commit", "message", "path", "ref", "role", "rule"] for r in rows)  # Violation.as_dict
    git(project, "switch", "-q", "main")
    out = bml(project, "verify", "--all", check=False)  # from another branch: every branch with a role
    assert out.returncode == 1 and out.stdout.decode().splitlines() == lines


def test_verify_reads_roles_and_paths_from_branchml_toml(project):
    toml = (project / "branchml.toml").read_text()
    toml = toml.replace('"ds/*" = "ds"', '"ds/*" = "ds"\n"exp/*" = "stable"')
    write(project, "branchml.toml", toml)
    git(project, "add", "-A")
    commit(project, "Experiments are stable branches")
    git(project, "switch", "-q", "-c", "exp/one")
    write(project, "src/x.py", "1\n")
    git(project, "add", "-A")
    git(project, "commit", "-q", "--no-verify", "-m", "Code")
    out = bml(project, "verify", check=False)
    assert out.returncode == 1 and "exp/one (stable) [merge-only] src/x.py" in out.stdout.decode()


def python_starts(repo: Path, *args: str, log: Path) -> tuple[int, str]:
    """Run git with BRANCHML_RSS_LOG set: every branchml process (hook or filter) writes one line."""
    log.write_text("")
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, env={**os.environ, "BRANCHML_RSS_LOG": str(log)})
    assert done.returncode == 0, done.stderr
    return len(log.read_text().splitlines()), done.stderr.decode()


def test_commit_msg_ends_in_the_shell_when_pre_commit_found_no_message_rules(project, tmp_path):
    log, note = tmp_path / "rss", project / ".git" / MESSAGE_FREE
    # main's rules check no message: pre-commit starts Python, commit-msg ends in the shell
    assert python_starts(project, "commit", "-q", "--allow-empty", "-m", "x", log=log)[0] == 1
    assert not note.exists()  # read once, removed
    # data/raw asks for a Data-Source trailer: commit-msg runs and says so
    git(project, "switch", "-q", "-c", "data/raw")
    starts, stderr = python_starts(project, "commit", "-q", "--allow-empty", "-m", "Upload", log=log)
    assert starts == 2 and "[trailer]" in stderr and not note.exists()


def guard_git_dir_asks(repo: Path, trace: Path) -> int:
    """How many `git rev-parse --git-dir` the commit hooks' shell guards ran (GIT_TRACE2_PERF)."""
    return sum(line.rstrip().endswith("| git rev-parse --git-dir") for line in trace.read_text().splitlines() if "| start " in line)


def test_the_commit_hooks_find_the_git_dir_without_git_and_ask_git_in_a_linked_worktree(project, tmp_path, monkeypatch):
    log, trace, wt = tmp_path / "rss", tmp_path / "trace", tmp_path / "wt"
    monkeypatch.setenv("GIT_TRACE2_PERF", str(trace))
    assert python_starts(project, "commit", "-q", "--allow-empty", "-m", "x", log=log)[0] == 1
    assert guard_git_dir_asks(project, trace) == 0  # `.git` is a folder at the top: no git process
    git(project, "worktree", "add", "-q", str(wt), "-b", "data/raw")  # asks for a trailer: commit-msg runs
    trace.write_text("")
    starts, stderr = python_starts(wt, "commit", "-q", "--allow-empty", "-m", "Upload", log=log)
    assert starts == 2 and "[trailer]" in stderr
    git(wt, "switch", "-q", "-c", "data/side")  # checks no message: pre-commit's note ends commit-msg
    assert python_starts(wt, "commit", "-q", "--allow-empty", "-m", "y", log=log)[0] == 1
    assert guard_git_dir_asks(wt, trace) == 4  # `.git` is a file there: Git says where its git dir is


def test_a_note_left_by_another_git_process_does_not_skip_the_message_check(project, tmp_path):
    git(project, "switch", "-q", "-c", "data/raw")
    commit(project, "Upload", SOURCE, hooks=False)
    git(project, "switch", "-q", "-c", "data/side")
    write(project, "data/b.csv", "1\n")
    git(project, "add", "-A")
    commit(project, "Side", SOURCE, hooks=False)
    git(project, "switch", "-q", "data/raw")
    # a pre-commit whose commit never reached commit-msg left its note; a merge runs commit-msg only
    (project / ".git" / MESSAGE_FREE).write_text(f"{os.getpid()} refs/heads/data/raw\n")
    starts, stderr = python_starts(project, "merge", "-q", "--no-ff", "--no-edit", "data/side", log=tmp_path / "rss")
    assert starts >= 1 and "[trailer]" in stderr
    assert not (project / ".git" / MESSAGE_FREE).exists()


def test_the_users_hook_in_a_relative_hooks_path_runs_first(project):
    """The hook script passes its own path ($0, here relative to the work tree): the dispatcher finds
    the user's hook moved aside next to it without asking Git for core.hooksPath."""
    hooks = project / "myhooks"
    hooks.mkdir()
    (hooks / "pre-commit").write_text("#!/bin/sh\necho user-hook >> ran\nexit 3\n")
    (hooks / "pre-commit").chmod(0o755)
    git(project, "config", "core.hooksPath", "myhooks")
    bml(project, "install")
    assert (hooks / "pre-commit.pre-branchml").exists() and "branchml hook" in (hooks / "pre-commit").read_text()
    trace = project.parent / "trace"
    refused = subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "x"], cwd=project, capture_output=True,
                             env={**os.environ, "GIT_TRACE2_PERF": str(trace)})
    assert refused.returncode != 0 and (project / "ran").read_text() == "user-hook\n"  # its refusal stands
    git_commands = [line.split("|")[-1].strip() for line in trace.read_text().splitlines() if "| cmd_name " in line]
    assert not [c for c in git_commands if c.startswith("config ")], git_commands  # no `git config` asked
