"""Everyday commands a Git LFS or DVC user reaches for: ls-files REF/--all/--deleted, status, clone
with git clone's options, BRANCHML_SKIP_SMUDGE, shell completion. Real Git, real subprocesses."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

from conftest import bml, git
from remote_support import commit_all, project, write_random


def _ls(repo, *args) -> list[dict]:
    return json.loads(bml(repo, "ls-files", "--json", *args).stdout)


def test_ls_files_of_a_ref_all_refs_and_deleted(repo):
    bml(repo, "track", "data/**")
    write_random(repo / "data" / "a.bin", 5000, 1)
    write_random(repo / "data" / "gone.bin", 6000, 2)
    commit_all(repo, "two files")
    git(repo, "switch", "-qc", "other")
    write_random(repo / "data" / "other.bin", 7000, 3)
    (repo / "data" / "gone.bin").unlink()
    commit_all(repo, "other branch: one new, one deleted")
    git(repo, "switch", "-q", "main")

    assert [r["path"] for r in _ls(repo)] == ["data/a.bin", "data/gone.bin"]  # the index
    assert [r["path"] for r in _ls(repo, "other")] == ["data/a.bin", "data/other.bin"]
    deleted = _ls(repo, "other", "--deleted")
    assert [r["path"] for r in deleted] == ["data/a.bin", "data/gone.bin", "data/other.bin"]
    every = _ls(repo, "--all")
    assert {r["path"] for r in every} == {"data/a.bin", "data/gone.bin", "data/other.bin"}
    assert all(r["present"] for r in every) and {r["size"] for r in every} == {5000, 6000, 7000}
    proc = bml(repo, "ls-files", "no-such-ref", check=False)
    assert proc.returncode == 3 and "no-such-ref" in proc.stderr.decode()


def test_status_shows_the_set_up_and_a_plain_clone_problem(tmp_path):
    proj = project(tmp_path, str(tmp_path / "blobs"))
    write_random(proj / "data" / "x.bin", 3000, 4)
    commit_all(proj, "data")
    git(proj, "push", "-q", "origin", "main")
    st = json.loads(bml(proj, "status", "--json").stdout)
    assert st["branch"] == "main" and st["role"] == "main"
    assert "filter-process" in st["filter"] and st["filter_scope"] == "local"
    assert st["store"]["files"] == 1 and st["store"]["file_bytes"] == 3000
    assert [(r["name"], r["source"]) for r in st["remotes"]] == [("origin", "branchml.toml")]
    assert st["problems"] == [] and st["git_version"] and st["skip_smudge"] is False
    plain = tmp_path / "plain"
    git(tmp_path, "clone", "-q", str(tmp_path / "proj-server.git"), str(plain))
    st = json.loads(bml(plain, "status", "--json").stdout)
    assert st["filter"] is None
    assert {p["kind"] for p in st["problems"]} == {"not-installed", "hooks-missing"}
    assert "not registered" in bml(plain, "status").stdout.decode()


def test_clone_passes_git_clone_options_and_skip_smudge_leaves_pointers(tmp_path):
    proj = project(tmp_path, str(tmp_path / "blobs"))
    write_random(proj / "data" / "one.bin", 4000, 5)
    commit_all(proj, "one")
    git(proj, "switch", "-qc", "dev/x")
    write_random(proj / "data" / "two.bin", 4000, 6)
    write_random(proj / "models" / "m.bin", 4000, 7)
    commit_all(proj, "two")
    git(proj, "push", "-q", "origin", "main", "dev/x")
    url = (tmp_path / "proj-server.git").as_uri()  # file:// so that --depth is honoured

    bml(tmp_path, "clone", url, "shallow", "-b", "dev/x", "--depth", "1", "--single-branch")
    shallow = tmp_path / "shallow"
    assert git(shallow, "rev-parse", "--abbrev-ref", "HEAD").strip() == "dev/x"
    assert git(shallow, "rev-list", "--count", "HEAD").strip() == "1"
    assert (shallow / "data" / "two.bin").read_bytes() == (proj / "data" / "two.bin").read_bytes()

    bml(tmp_path, "clone", url, "partial", "--filter", "blob:none", "--no-checkout")
    assert git(tmp_path / "partial", "config", "remote.origin.partialclonefilter").strip() == "blob:none"
    assert not (tmp_path / "partial" / "data").exists()
    bml(tmp_path, "clone", url, "bare-like", "--", "--origin", "upstream")
    assert git(tmp_path / "bare-like", "remote").split() == ["upstream"]
    assert bml(tmp_path, "clone", url, "bad", "--depth", "0", check=False).returncode == 2

    env = {**os.environ, "BRANCHML_SKIP_SMUDGE": "1"}
    subprocess.run([sys.executable, "-m", "branchml", "clone", url, "lazy", "-b", "dev/x"], cwd=tmp_path, env=env, check=True)
    lazy = tmp_path / "lazy"
    for name in ("data/one.bin", "data/two.bin", "models/m.bin"):
        assert (lazy / name).read_bytes().startswith(b"branchml pointer v1\n")
    assert git(lazy, "status", "--porcelain") == ""
    assert not any(r["present"] for r in _ls(lazy))  # nothing downloaded
    bml(lazy, "fetch", "--include", "models/**")
    assert (lazy / "models" / "m.bin").read_bytes() == (proj / "models" / "m.bin").read_bytes()
    assert (lazy / "data" / "two.bin").read_bytes().startswith(b"branchml pointer v1\n")
    assert git(lazy, "status", "--porcelain") == ""


def _complete(cwd, words: str) -> list[str]:
    env = {**os.environ, "_BRANCHML_COMPLETE": "bash_complete", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split(" ")) - 1)}
    proc = subprocess.run([sys.executable, "-m", "branchml"], cwd=cwd, env=env, capture_output=True, check=True)
    return [line.split(",", 1)[1] for line in proc.stdout.decode().splitlines() if line]


def test_completion_scripts_and_branches_tags_customers_remotes(repo):
    git(repo, "commit", "-q", "--allow-empty", "-m", "x")
    git(repo, "branch", "stable/acme")
    git(repo, "branch", "dev/model")
    git(repo, "tag", "acme-1")
    git(repo, "tag", "globex-3")
    git(repo, "tag", "v1.0")
    bml(repo, "remote", "add", "shared", str(repo.parent / "blobs"))
    git(repo, "add", "branchml.toml")
    git(repo, "commit", "-qm", "blob remote")  # remotes count once committed on main
    for shell, marker in (("bash", "complete -o"), ("zsh", "compdef"), ("fish", "complete --no-files")):
        script = bml(repo, "completion", shell).stdout.decode()
        assert marker in script and "_BRANCHML_COMPLETE" in script
    assert "ls-files" in _complete(repo, "branchml ls")
    assert set(_complete(repo, "branchml ls-files ")) >= {"main", "stable/acme", "dev/model", "acme-1", "v1.0"}
    assert _complete(repo, "branchml ls-files st") == ["stable/acme"]
    assert _complete(repo, "branchml release get ") == ["acme", "globex"]
    assert _complete(repo, "branchml show acme") == ["acme-1"]
    assert _complete(repo, "branchml push ") == ["shared"]  # blob remotes and Git remotes (none here)
    assert _complete(repo, "branchml branch --from d") == ["dev/model"]
    assert _complete(repo.parent, "branchml ls-files ") == []  # outside a repository: nothing, no error


def test_doctor_finds_and_fixes_a_plain_clone_and_a_stale_lock(tmp_path):
    proj = project(tmp_path, str(tmp_path / "blobs"))
    write_random(proj / "data" / "x.bin", 3000, 8)
    commit_all(proj, "data")
    git(proj, "push", "-q", "origin", "main")
    assert bml(proj, "doctor").returncode == 0
    plain = tmp_path / "plain"
    git(tmp_path, "clone", "-q", str(tmp_path / "proj-server.git"), str(plain))
    lock = plain / ".git" / "index.lock"
    lock.write_bytes(b"")
    os.utime(lock, (1, 1))  # a killed git command's lock, long ago
    proc = bml(plain, "doctor", "--json", check=False)
    report = json.loads(proc.stdout)
    assert proc.returncode == 1 and "branchml doctor --fix" in proc.stderr.decode()
    assert [p["kind"] for p in report["problems"]] == ["not-installed", "hooks-missing", "stale-lock"]
    assert report["problems"][2]["paths"] == [str(lock)]
    assert (plain / "data" / "x.bin").read_bytes().startswith(b"branchml pointer v1\n")
    fixed = json.loads(bml(plain, "doctor", "--fix", "--json").stdout)
    assert fixed["remaining"] == [] and len(fixed["fixed"]) == 3
    assert not lock.exists()
    assert (plain / "data" / "x.bin").read_bytes() == (proj / "data" / "x.bin").read_bytes()
    assert git(plain, "status", "--porcelain") == ""
    fresh = plain / ".git" / "index.lock"
    fresh.write_bytes(b"")  # a lock this young may belong to a running git: left alone
    assert bml(plain, "doctor").returncode == 0
    fresh.unlink()


def test_doctor_names_raw_bytes_committed_without_install_and_fix_renormalises(tmp_path):
    proj = project(tmp_path, str(tmp_path / "blobs"))
    write_random(proj / "data" / "x.bin", 3000, 9)
    commit_all(proj, "data")
    git(proj, "push", "-q", "origin", "main")
    plain = tmp_path / "plain"
    git(tmp_path, "clone", "-q", str(tmp_path / "proj-server.git"), str(plain))
    write_random(plain / "data" / "new.bin", 5000, 10)
    commit_all(plain, "committed without branchml install")
    assert git(plain, "cat-file", "-s", "HEAD:data/new.bin").strip() == "5000"  # raw bytes in Git
    report = json.loads(bml(plain, "doctor", "--json", check=False).stdout)
    raw = [p for p in report["problems"] if p["kind"] == "raw-bytes"]
    assert raw and raw[0]["paths"] == ["data/new.bin"] and "should have been a pointer" in raw[0]["detail"]
    fixed = json.loads(bml(plain, "doctor", "--fix", "--json").stdout)
    assert fixed["remaining"] == []
    git(plain, "commit", "-qm", "renormalised")
    assert git(plain, "show", "HEAD:data/new.bin").startswith("branchml pointer v1\n")
    assert (plain / "data" / "new.bin").read_bytes() == random.Random(10).randbytes(5000)
    assert (plain / "data" / "x.bin").read_bytes() == (proj / "data" / "x.bin").read_bytes()
    assert git(plain, "status", "--porcelain") == ""
