"""Role rules on the server: real `git push` into a bare repository with branchml's pre-receive hook.

Commits and pushes use --no-verify so that only the server decides: what it refuses nobody can skip.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import bml, git, run

SOURCE = "Data-Source: https://example.com/export.csv"


@pytest.fixture(scope="session")
def template(tmp_path_factory) -> Path:
    """A bare server with branchml's pre-receive hook and a clone whose main is on it; copied per test."""
    top = tmp_path_factory.mktemp("template")
    git(top, "init", "-q", "--bare", "server.git")
    bml(top / "server.git", "install", "--server")
    # these tests are about role rules: this server has no blob remote, so pointers only warn there
    (top / "server.git" / "branchml").mkdir(exist_ok=True)
    (top / "server.git" / "branchml" / "local.toml").write_text('[push]\nwithout_blob_remote = "warn"\n')
    bml(top, "init", "work")
    git(top / "work", "add", "-A")
    commit(top / "work", "Project scaffold")
    git(top / "work", "remote", "add", "origin", str(top / "server.git"))
    push(top / "work", "main")
    return top


def copy_site(src: Path, dest: Path) -> tuple[Path, Path]:
    """A copy of a template's clone and server, the clone's origin pointing at the copied server."""
    shutil.copytree(src / "server.git", dest / "server.git", symlinks=True)
    shutil.copytree(src / "work", dest / "work", symlinks=True)
    git(dest / "work", "remote", "set-url", "origin", str(dest / "server.git"))
    return dest / "work", dest / "server.git"


@pytest.fixture(scope="session")
def raw_template(template, tmp_path_factory) -> Path:
    """The template plus data/raw with one upload, data/a.csv, on the server."""
    top = tmp_path_factory.mktemp("raw-template")
    work, _ = copy_site(template, top)
    git(work, "switch", "-q", "-c", "data/raw")
    write(work, "data/a.csv", "x,y\n1,2\n")
    git(work, "add", "-A")
    commit(work, "First upload", "-m", SOURCE)
    push(work, "data/raw")
    return top


@pytest.fixture
def site(template, tmp_path) -> tuple[Path, Path]:
    return copy_site(template, tmp_path)


@pytest.fixture
def raw_site(raw_template, tmp_path) -> tuple[Path, Path]:
    return copy_site(raw_template, tmp_path)


@pytest.fixture
def work(site) -> Path:
    """A branchml clone whose main (scaffold included) is on the server."""
    return site[0]


@pytest.fixture
def server(site) -> Path:
    return site[1]


def commit(cwd: Path, message: str, *extra: str) -> str:
    git(cwd, "commit", "-q", "--no-verify", "--allow-empty", "-m", message, *extra)
    return git(cwd, "rev-parse", "HEAD").strip()


def push(cwd: Path, *refspecs: str, ok: bool = True) -> str:
    proc = run(["git", "push", "--no-verify", "origin", *refspecs], cwd, check=False)
    out = proc.stderr.decode()
    assert (proc.returncode == 0) == ok, out
    return out


def write(cwd: Path, rel: str, text: str) -> None:
    path = cwd / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def server_log(server: Path, ref: str) -> str:
    return git(server, "rev-parse", ref).strip()


# data/raw ------------------------------------------------------------------------------------------

def test_raw_accepts_fast_forward_of_new_files_with_source(raw_site):
    work, server = raw_site
    write(work, "data/b.csv", "x,y\n3,4\n")
    git(work, "add", "-A")
    tip = commit(work, "Second upload", "-m", SOURCE)
    push(work, "data/raw")
    assert server_log(server, "data/raw") == tip


def test_raw_refuses_commit_without_data_source(raw_site):
    work, server = raw_site
    before = server_log(server, "data/raw")
    write(work, "data/b.csv", "1\n")
    git(work, "add", "-A")
    sha = commit(work, "Upload without origin")
    out = push(work, "data/raw", ok=False)
    assert f"{sha[:12]} data/raw (data/raw) [trailer]" in out
    assert "Data-Source:" in out and "git commit --trailer" in out
    assert server_log(server, "data/raw") == before


@pytest.mark.parametrize("change, expected", [
    ("modify", "data/a.csv: was modified"),
    ("delete", "data/a.csv: was deleted"),
    ("rename", "data/a.csv: was deleted (or renamed"),
    ("chmod", "data/a.csv: changed mode (100644 -> 100755)"),
    ("symlink", "data/a.csv: changed type (file -> symlink)"),
    ("case", "data/a.csv: was deleted (or renamed"),
])
def test_raw_refuses_changes_to_existing_files(raw_site, change, expected):
    work, server = raw_site
    before = server_log(server, "data/raw")
    target = work / "data/a.csv"
    if change == "modify":
        target.write_text("x,y\n9,9\n")
    elif change == "delete":
        target.unlink()
    elif change == "rename":
        git(work, "mv", "data/a.csv", "data/moved.csv")
    elif change == "chmod":
        target.chmod(0o755)
    elif change == "symlink":
        write(work, "data/other.csv", "x,y\n1,2\n")
        target.unlink()
        os.symlink("other.csv", target)
    elif change == "case":
        git(work, "mv", "data/a.csv", "data/A.csv")
    git(work, "add", "-A")
    sha = commit(work, "Change an upload", "-m", SOURCE)
    out = push(work, "data/raw", ok=False)
    assert f"{sha[:12]} data/raw (data/raw) [append-only] {expected}" in out
    assert "commit new data under a new path" in out
    assert server_log(server, "data/raw") == before


def test_raw_refuses_name_differing_only_in_case(raw_site):
    work, server = raw_site
    # written through the index: the test must not depend on the file system's case sensitivity
    blob = run(["git", "hash-object", "-w", "--stdin"], work, input=b"other\n").stdout.decode().strip()
    git(work, "update-index", "--add", "--cacheinfo", f"100644,{blob},data/A.csv")
    commit(work, "Upload", "-m", SOURCE)
    out = push(work, "data/raw", ok=False)
    assert "[append-only] data/A.csv: differs only in letter case from the existing data/a.csv" in out


def test_raw_refuses_new_symlink(raw_site):
    work, server = raw_site
    os.symlink("a.csv", work / "data/alias.csv")
    git(work, "add", "-A")
    commit(work, "Alias", "-m", SOURCE)
    out = push(work, "data/raw", ok=False)
    assert "[regular-files] data/alias.csv: is a new symlink" in out


def test_raw_gitattributes_may_only_add_rules_for_new_files(raw_site):
    work, server = raw_site
    write(work, ".gitattributes", (work / ".gitattributes").read_text() if (work / ".gitattributes").exists() else "")
    with open(work / ".gitattributes", "a") as f:
        f.write("*.parquet binary\n")
    git(work, "add", "-A")
    commit(work, "Attributes for parquet uploads", "-m", SOURCE)
    push(work, "data/raw")
    with open(work / ".gitattributes", "a") as f:
        f.write("data/*.csv eol=crlf\n")  # changes how the existing data/a.csv is checked out
    git(work, "add", "-A")
    sha = commit(work, "Attributes that rewrite an upload", "-m", SOURCE)
    out = push(work, "data/raw", ok=False)
    assert f"{sha[:12]} data/raw (data/raw) [append-only] .gitattributes: was edited so that existing files" in out


def test_raw_refuses_new_gitattributes_in_a_data_folder(raw_site):
    work, server = raw_site
    write(work, "data/.gitattributes", "*.csv -text\n")
    git(work, "add", "-A")
    commit(work, "Attributes", "-m", SOURCE)
    out = push(work, "data/raw", ok=False)
    assert "data/.gitattributes: is a new .gitattributes that changes how existing files are read" in out


def test_raw_refuses_force_push_and_deletion(raw_site):
    work, server = raw_site
    before = server_log(server, "data/raw")
    write(work, "data/a.csv", "rewritten\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "--no-verify", "--amend", "-m", "First upload", "-m", SOURCE)
    out = push(work, "--force", "data/raw", ok=False)
    assert "[history]: this push rewrites the history of data/raw" in out
    out = push(work, ":data/raw", ok=False)
    assert "[history]: deleting data/raw is refused" in out
    assert server_log(server, "data/raw") == before


def test_raw_refuses_plumbing_commit(raw_site):
    """A commit made with commit-tree and update-ref, pushed with --no-verify: no client hook ran."""
    work, server = raw_site
    blob = run(["git", "hash-object", "-w", "--stdin"], work, input=b"tampered\n").stdout.decode().strip()
    git(work, "update-index", "--cacheinfo", f"100644,{blob},data/a.csv")
    tree = git(work, "write-tree").strip()
    parent = git(work, "rev-parse", "HEAD").strip()
    sha = run(["git", "commit-tree", tree, "-p", parent, "-m", f"Quiet fix\n\n{SOURCE}"], work).stdout.decode().strip()
    git(work, "update-ref", "refs/heads/data/raw", sha, parent)
    out = push(work, "data/raw", ok=False)
    assert f"{sha[:12]} data/raw (data/raw) [append-only] data/a.csv: was modified" in out


def test_raw_refuses_merge_that_drops_an_upload(raw_site):
    """The old tip as second parent: its first-parent line never saw data/a.csv, the net effect did."""
    work, server = raw_site
    old = git(work, "rev-parse", "HEAD").strip()
    git(work, "switch", "-q", "-c", "side", "main")
    write(work, "data/b.csv", "b\n")
    git(work, "add", "-A")
    commit(work, "Other upload", "-m", SOURCE)
    git(work, "merge", "-q", "--no-verify", "--no-commit", old)
    git(work, "rm", "-qf", "data/a.csv")
    commit(work, "Merge", "-m", SOURCE)
    out = push(work, "HEAD:data/raw", ok=False)
    assert "[append-only] data/a.csv: was deleted" in out


def test_pushed_rules_file_cannot_loosen_the_rules_it_is_checked_by(raw_site):
    work, server = raw_site
    git(work, "switch", "-q", "main")
    write(work, "branchml.toml", (work / "branchml.toml").read_text().replace('append_only = [\n    "*",\n]', "append_only = []"))
    git(work, "add", "-A")
    commit(work, "Loosen raw")
    git(work, "switch", "-q", "data/raw")
    (work / "data/a.csv").write_text("changed\n")
    git(work, "add", "-A")
    commit(work, "Edit", "-m", SOURCE)
    out = push(work, "main", "data/raw", ok=False)
    assert "[append-only] data/a.csv: was modified" in out


# stable/* -------------------------------------------------------------------------------------------

@pytest.fixture
def dev_and_stable(work):
    """dev/model with code, stable/model forked from it; both on the server."""
    git(work, "switch", "-q", "-c", "dev/model")
    write(work, "src/train.py", "print('baseline')\n")
    git(work, "add", "-A")
    commit(work, "Baseline")
    git(work, "switch", "-q", "-c", "stable/model")
    push(work, "dev/model")  # the dev branch is on the server before stable takes its code
    push(work, "stable/model")
    return work


def test_a_dev_branch_created_in_the_same_push_cannot_vouch_for_stable_code(dev_and_stable, server):
    work = dev_and_stable
    write(work, "src/train.py", "print('hotfix')\n")
    git(work, "add", "-A")
    sha = commit(work, "Hotfix on stable")
    git(work, "branch", "dev/hotfix")
    out = push(work, "dev/hotfix", "stable/model", ok=False)
    assert f"{sha[:12]} stable/model (stable) [merge-only] src/train.py: code changed on stable/model by a commit that is not a merge" in out
    assert git(server, "branch", "--list", "dev/hotfix") == ""
    git(work, "switch", "-q", "-c", "stable/other", "dev/model")  # a new stable branch, same trick
    write(work, "src/train.py", "print('other hotfix')\n")
    git(work, "add", "-A")
    commit(work, "Hotfix on a new stable branch")
    git(work, "branch", "dev/hotfix2")
    assert "[merge-only] src/train.py" in push(work, "dev/hotfix2", "stable/other", ok=False)


def test_a_plumbing_merge_with_the_root_commit_cannot_revert_or_delete_stable_code(dev_and_stable, server):
    work = dev_and_stable
    git(work, "switch", "-q", "dev/model")
    write(work, "src/train.py", "print('linear')\n")
    write(work, "src/util.py", "X = 1\n")
    git(work, "add", "-A")
    commit(work, "Linear model")
    push(work, "dev/model")
    git(work, "switch", "-q", "stable/model")
    git(work, "merge", "-q", "--no-verify", "--no-edit", "dev/model")
    push(work, "stable/model")
    root = git(work, "rev-list", "--max-parents=0", "HEAD").strip()
    git(work, "read-tree", "HEAD")
    git(work, "rm", "-q", "--cached", "src/util.py")
    baseline = git(work, "rev-parse", "dev/model~1:src/train.py").strip()
    git(work, "update-index", "--cacheinfo", f"100644,{baseline},src/train.py")
    tree = git(work, "write-tree").strip()
    merge = git(work, "commit-tree", tree, "-p", "HEAD", "-p", root, "-m", "Merge branch 'dev/model'").strip()
    git(work, "update-ref", "refs/heads/stable/model", merge)
    out = push(work, "stable/model", ok=False)
    assert f"{merge[:12]} stable/model (stable) [merge-only] src/train.py" in out
    assert f"{merge[:12]} stable/model (stable) [merge-only] src/util.py" in out


def test_python_files_in_the_model_folder_are_code(dev_and_stable, server):
    work = dev_and_stable
    write(work, "models/train.py", "print('code hidden among models')\n")
    write(work, "models/model.skops", "weights")
    git(work, "add", "-A")
    sha = commit(work, "Run")
    out = push(work, "stable/model", ok=False)
    assert f"{sha[:12]} stable/model (stable) [merge-only] models/train.py" in out
    assert "models/model.skops" not in out


def test_stable_refuses_code_written_on_it(dev_and_stable, server):
    work = dev_and_stable
    write(work, "src/train.py", "print('hotfix')\n")
    git(work, "add", "-A")
    sha = commit(work, "Hotfix on stable")
    out = push(work, "stable/model", ok=False)
    assert f"{sha[:12]} stable/model (stable) [merge-only] src/train.py: code changed on stable/model by a commit that is not a merge" in out
    assert "git merge" in out


def test_stable_accepts_models_data_and_tracking(dev_and_stable, server):
    work = dev_and_stable
    write(work, "models/model.skops", "weights")
    write(work, "data/train.csv", "x\n1\n")
    write(work, "tracking/run-1.json", "{}")
    write(work, "MODEL_CARD.md", "# card")
    git(work, "add", "-A")
    tip = commit(work, "Run acme-1")
    push(work, "stable/model")
    assert server_log(server, "stable/model") == tip


def test_stable_accepts_merge_and_fast_forward_of_dev(dev_and_stable, server):
    work = dev_and_stable
    write(work, "models/model.skops", "weights")
    git(work, "add", "-A")
    commit(work, "Run 1")
    git(work, "switch", "-q", "dev/model")
    write(work, "src/train.py", "print('linear')\n")
    git(work, "add", "-A")
    commit(work, "Linear model")
    push(work, "dev/model")
    git(work, "switch", "-q", "stable/model")
    git(work, "merge", "-q", "--no-verify", "--no-edit", "dev/model")
    push(work, "stable/model")
    # a new stable branch fast-forwarded to dev's tip, pushed with new dev work in the same push
    git(work, "switch", "-q", "dev/model")
    write(work, "src/features.py", "X = 1\n")
    git(work, "add", "-A")
    commit(work, "Features")
    git(work, "branch", "stable/acme")
    push(work, "dev/model", "stable/acme")  # push() asserts that the server accepted each push
    assert server_log(server, "stable/model") == git(work, "rev-parse", "stable/model").strip()
    assert server_log(server, "stable/acme") == git(work, "rev-parse", "dev/model").strip()


def test_stable_refuses_merge_that_rewrites_dev_code(dev_and_stable, server):
    work = dev_and_stable
    git(work, "switch", "-q", "dev/model")
    write(work, "src/train.py", "print('linear')\n")
    git(work, "add", "-A")
    commit(work, "Linear")
    push(work, "dev/model")
    git(work, "switch", "-q", "stable/model")
    write(work, "data/new.csv", "x\n")
    git(work, "add", "-A")
    commit(work, "New data")
    git(work, "merge", "-q", "--no-verify", "--no-commit", "dev/model")
    write(work, "src/train.py", "print('edited during the merge')\n")
    git(work, "add", "-A")
    sha = commit(work, "Merge dev/model")
    out = push(work, "stable/model", ok=False)
    assert f"{sha[:12]} stable/model (stable) [merge-only] src/train.py: code changed on stable/model by a merge whose code differs" in out


def test_stable_refuses_code_merged_from_a_non_dev_branch(dev_and_stable, server):
    work = dev_and_stable
    git(work, "switch", "-q", "-c", "ds/explore", "main")
    write(work, "src/hack.py", "x = 1\n")
    git(work, "add", "-A")
    commit(work, "Analysis code")
    push(work, "ds/explore")
    git(work, "switch", "-q", "stable/model")
    git(work, "merge", "-q", "--no-verify", "--no-edit", "ds/explore")
    out = push(work, "stable/model", ok=False)
    assert "[merge-only] src/hack.py: code changed on stable/model by a commit that is not a merge of a dev/* branch" in out


# main, monitor/*, ds/* ------------------------------------------------------------------------------

def test_main_refuses_models_and_data_but_takes_docs_and_tracking(work, server):
    write(work, "tracking/runs/acme-1.json", '{"acc": 0.9}')
    write(work, "docs/labels.md", "# labels")
    git(work, "add", "-A")
    commit(work, "Tracking of acme-1")
    push(work, "main")
    write(work, "models/model.skops", "weights")
    git(work, "add", "-A")
    sha = commit(work, "Model on main")
    out = push(work, "main", ok=False)
    assert f"{sha[:12]} main (main) [forbidden] models/model.skops: model files do not belong on main" in out


def test_monitor_appends_logs_and_changes_alert_code(work, server):
    git(work, "switch", "-q", "-c", "monitor/prod")
    write(work, "logs/2026-11-27.jsonl", '{"tag": "acme-1", "y": 1}\n')
    write(work, "src/alerts.py", "THRESHOLD = 3\n")
    git(work, "add", "-A")
    commit(work, "Logs")
    push(work, "monitor/prod")
    with open(work / "logs/2026-11-27.jsonl", "a") as f:
        f.write('{"tag": "acme-1", "y": 0}\n')
    write(work, "src/alerts.py", "THRESHOLD = 4\n")
    git(work, "add", "-A")
    commit(work, "More logs, new threshold")
    push(work, "monitor/prod")
    write(work, "logs/2026-11-27.jsonl", '{"tag": "acme-2", "y": 1}\n')
    git(work, "add", "-A")
    sha = commit(work, "Rewrite a log")
    out = push(work, "monitor/prod", ok=False)
    assert f"{sha[:12]} monitor/prod (monitor) [append-only] logs/2026-11-27.jsonl: was modified" in out
    git(work, "reset", "-q", "--hard", "HEAD~2")
    out = push(work, "--force", "monitor/prod", ok=False)  # dropping logged commits is refused too
    assert "[history]: this push rewrites the history of monitor/prod" in out


def test_ds_branches_are_free(work, server):
    git(work, "switch", "-q", "-c", "ds/acme")
    write(work, "notebooks/a.py", "1")
    write(work, "data/sample.csv", "1")
    git(work, "add", "-A")
    commit(work, "Analysis")
    push(work, "ds/acme")
    git(work, "rm", "-q", "data/sample.csv")
    git(work, "commit", "-q", "--no-verify", "--amend", "-m", "Rewritten")
    push(work, "--force", "ds/acme")  # a rewrite, then a deletion: push() asserts both are accepted
    push(work, ":ds/acme")
    assert "ds/acme" not in git(server, "branch", "--list", "ds/acme")


def test_new_branch_pushed_with_the_branch_it_forks_from(work, server):
    write(work, "docs/labels.md", "# How labels are obtained")
    git(work, "add", "-A")
    commit(work, "Labels doc")  # on main, not yet on the server
    git(work, "switch", "-q", "-c", "data/raw")
    write(work, "data/a.csv", "1\n")
    git(work, "add", "-A")
    tip = commit(work, "Upload", "-m", SOURCE)
    push(work, "main", "data/raw")
    assert server_log(server, "data/raw") == tip


def test_server_refuses_unreadable_rules_on_main(work, server):
    write(work, "branchml.toml", "[roles\nbroken")
    git(work, "add", "-A")
    sha = commit(work, "Break the rules file")
    out = push(work, "main", ok=False)
    assert f"{sha[:12]} main (main) [config] branchml.toml: branchml.toml: not valid TOML" in out


def test_broken_rules_on_server_main_do_not_lock_the_server(work, server):
    """If main's branchml.toml got broken anyway (e.g. by an admin on the server), its fix can be pushed."""
    good = (work / "branchml.toml").read_text()
    write(work, "branchml.toml", "[roles\nbroken")
    git(work, "add", "-A")
    broken = commit(work, "Broken rules")
    git(work, "push", "-q", "--no-verify", str(server), "HEAD:refs/heads/elsewhere")
    git(server, "update-ref", "refs/heads/main", broken)  # done on the server: no hook runs
    write(work, "branchml.toml", good)
    git(work, "add", "-A")
    fixed = commit(work, "Repair rules")
    out = push(work, "main")
    assert "warning: branchml.toml: not valid TOML" in out and "checking with the default rules" in out
    assert server_log(server, "main") == fixed


def test_raw_rules_hold_for_files_stored_through_the_filter(work, server):
    bml(work, "track", "data/**")
    git(work, "add", "-A")
    commit(work, "Track data")
    push(work, "main")
    git(work, "switch", "-q", "-c", "data/raw")
    write(work, "data/big.bin", "x" * 300_000)
    git(work, "add", "-A")
    commit(work, "Upload", "-m", SOURCE)
    assert git(work, "cat-file", "-p", "HEAD:data/big.bin").startswith("branchml pointer")  # not the bytes
    push(work, "data/raw")
    write(work, "data/big.bin", "y" * 300_000)
    git(work, "add", "-A")
    sha = commit(work, "Replace", "-m", SOURCE)
    out = push(work, "data/raw", ok=False)
    assert f"{sha[:12]} data/raw (data/raw) [append-only] data/big.bin: was modified" in out


def test_server_hook_chains_with_the_servers_own_pre_receive(work, tmp_path):
    bare = tmp_path / "own.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    own = bare / "hooks/pre-receive"
    own.write_text("#!/bin/sh\ncat > \"$GIT_DIR/seen-by-own-hook\"\n")
    own.chmod(0o755)
    bml(bare, "install", "--server")
    git(work, "push", "-q", "--no-verify", str(bare), "main")
    git(work, "switch", "-q", "-c", "data/raw")
    git(work, "commit", "-q", "--no-verify", "--allow-empty", "-m", "No source")
    proc = run(["git", "push", "--no-verify", str(bare), "data/raw"], work, check=False)
    assert proc.returncode != 0 and "[trailer]" in proc.stderr.decode()
    assert "refs/heads/data/raw" in (bare / "seen-by-own-hook").read_text()  # the server's hook ran first
