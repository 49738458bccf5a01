"""A team sharing one repository: one blob remote for every branch, pushes that cannot strand files."""

from __future__ import annotations

import json

from conftest import bml, git, run
from remote_support import TRACKED, commit_all, digests, write_random


def test_daily_recipe_works_for_branches_forked_before_and_after_the_remote(tmp_path):
    src, server, blobs = tmp_path / "proj", tmp_path / "server.git", tmp_path / "blobs"
    bml(tmp_path, "init", str(src))
    bml(src, "track", *TRACKED)
    commit_all(src, "scaffold")
    git(src, "branch", "stable/acme")  # forked before the blob remote existed
    bml(src, "remote", "add", "origin", str(blobs))
    commit_all(src, "blob remote")
    git(src, "branch", "stable/globex")  # forked after
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(server))
    git(src, "remote", "add", "origin", str(server))
    git(src, "push", "-q", "origin", "main")
    expected = {}
    for n, branch in enumerate(("stable/acme", "stable/globex")):
        git(src, "switch", "-q", branch)  # the README's daily recipe, per customer
        write_random(src / "models" / "model.bin", 300_000, n)
        commit_all(src, f"train {branch}")
        git(src, "tag", f"{branch.split('/')[1]}-1")
        git(src, "push", "-q", "origin", branch, "main", "--follow-tags")
        assert json.loads(bml(src, "verify-remote", "--json", branch).stdout)["missing"] == []
        expected[branch] = digests(src)

    copy = tmp_path / "copy"
    bml(tmp_path, "clone", str(server), str(copy))
    for branch, files in expected.items():
        git(copy, "switch", "-q", branch)
        assert digests(copy) == files
    assert git(copy, "config", "branchml.settingsBranch").strip() == "main"


def test_push_without_a_blob_remote_carries_the_chunks_and_the_server_refuses_skipped_ones_unless_warn(tmp_path):
    """No `remote add`: the Git remote is the blob store (tests/test_remote_git.py has the rest).
    A push that skips the pre-push upload (`--no-verify`) is refused by the server, unless the
    project says `without_blob_remote = "warn"`."""
    src, server = tmp_path / "proj", tmp_path / "server.git"
    bml(tmp_path, "init", str(src))
    bml(src, "track", *TRACKED)
    commit_all(src, "scaffold")
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(server))
    git(src, "remote", "add", "origin", str(server))
    git(src, "switch", "-qc", "dev/data")
    write_random(src / "data" / "a.bin", 50_000, 1)
    commit_all(src, "data")
    pushed = run(["git", "push", "origin", "dev/data"], src)
    assert "uploaded" in pushed.stderr.decode() and git(server, "branch", "--list").strip() == "dev/data"
    assert git(server, "for-each-ref", "refs/branchml/indexes/").strip()

    bml(server, "install", "--server")  # the server refuses what skipped the upload
    write_random(src / "data" / "b.bin", 50_000, 2)
    commit_all(src, "more data")
    proc = run(["git", "push", "--no-verify", "origin", "dev/data"], src, check=False)
    assert proc.returncode != 0 and "remote: branchml:" in proc.stderr.decode() and "data/b.bin" in proc.stderr.decode()
    (server / "branchml").mkdir(exist_ok=True)
    (server / "branchml" / "local.toml").write_text('[push]\nwithout_blob_remote = "warn"\n')
    warned = run(["git", "push", "--no-verify", "origin", "dev/data"], src)
    assert "warning" in warned.stderr.decode() and "data/b.bin" in warned.stderr.decode()


def test_server_checks_the_remote_committed_on_main_not_one_a_pusher_names(tmp_path):
    """A pusher cannot point the server at a blob remote of their choosing from their own branch."""
    src, server = tmp_path / "proj", tmp_path / "server.git"
    bml(tmp_path, "init", str(src))
    bml(src, "track", *TRACKED)
    bml(src, "remote", "add", "origin", str(tmp_path / "team-blobs"))
    commit_all(src, "scaffold with the team's blob remote")
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(server))
    bml(server, "install", "--server")
    git(src, "remote", "add", "origin", str(server))
    git(src, "push", "-q", "origin", "main")
    git(src, "switch", "-qc", "dev/sneaky")
    settings = (src / "branchml.toml").read_text().replace(str(tmp_path / "team-blobs"), str(tmp_path / "mine"))
    (src / "branchml.toml").write_text(settings)
    write_random(src / "data" / "a.bin", 50_000, 3)
    commit_all(src, "my own remote")
    (src / ".git" / "branchml" / "local.toml").write_text(f'[remotes.origin]\nurl = "{tmp_path / "mine"}"\n')
    proc = run(["git", "push", "origin", "dev/sneaky"], src, check=False)  # uploads to "mine" only
    assert proc.returncode != 0 and "team-blobs" in proc.stderr.decode() and "data/a.bin" in proc.stderr.decode()


def test_install_names_every_missing_file_and_its_hint_works_when_followed(tmp_path):
    src, server = tmp_path / "proj", tmp_path / "server.git"
    bml(tmp_path, "init", str(src))
    bml(src, "track", *TRACKED)
    bml(src, "remote", "add", "origin", str(tmp_path / "blobs"))
    write_random(src / "data" / "kept.bin", 20_000, 9)
    commit_all(src, "set up, one file")
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(server))
    git(src, "remote", "add", "origin", str(server))
    git(src, "push", "-q", "origin", "main")  # kept.bin reaches the blob remote
    names = ["data/a.bin", "data/b.bin", "models/c.bin", "models/d.bin"]
    for n, name in enumerate(names):
        write_random(src / name, 30_000 + n, 10 + n)
    commit_all(src, "four files")
    git(src, "push", "-q", "--no-verify", "origin", "main")  # their content never uploaded

    plain = tmp_path / "plain"
    git(tmp_path, "clone", "-q", str(server), str(plain))  # no filter: pointers in the work tree
    proc = bml(plain, "install", check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 5 and all(name in err for name in names), err
    assert "4 file(s)" in err and "branchml push" in err and "branchml install" in err
    assert (plain / "data" / "kept.bin").read_bytes() == (src / "data" / "kept.bin").read_bytes()
    bml(src, "push")  # the hint, followed: upload from the clone that has them, install again
    bml(plain, "install")
    assert digests(plain) == digests(src)
    assert git(plain, "status", "--porcelain") == ""


def test_switch_refuses_before_git_writes_and_finishes_a_half_switch_once_content_is_there(tmp_path):
    src, server = tmp_path / "proj", tmp_path / "server.git"
    bml(tmp_path, "init", str(src))
    bml(src, "track", *TRACKED)
    bml(src, "remote", "add", "origin", str(tmp_path / "blobs"))
    write_random(src / "data" / "blob.bin", 20_000, 1)
    commit_all(src, "set up")
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(server))
    git(src, "remote", "add", "origin", str(server))
    git(src, "push", "-q", "origin", "main")
    git(src, "switch", "-qc", "stable/x")
    (src / "aaa.txt").write_text("written by Git before any tracked file\n")
    names = ["data/blob.bin", "data/new.bin", "models/m.bin"]
    for n, name in enumerate(names):
        write_random(src / name, 25_000 + n, 20 + n)
    commit_all(src, "content never uploaded")
    git(src, "push", "-q", "--no-verify", "origin", "stable/x")

    copy = tmp_path / "copy"
    bml(tmp_path, "clone", str(server), str(copy))
    refused = bml(copy, "switch", "stable/x", check=False)
    err = refused.stderr.decode()
    assert refused.returncode == 5 and all(name in err for name in names) and "branchml push" in err, err
    assert git(copy, "status", "--porcelain") == "" and git(copy, "branch", "--show-current").strip() == "main"

    half = run(["git", "switch", "stable/x"], copy, check=False)  # plain Git: fails part-way
    err = half.stderr.decode()
    assert half.returncode != 0 and all(name in err for name in names) and "branchml switch stable/x" in err, err
    assert git(copy, "branch", "--show-current").strip() == "main"

    bml(src, "push")  # the hint, followed
    bml(copy, "switch", "stable/x")
    assert git(copy, "branch", "--show-current").strip() == "stable/x"
    assert digests(copy) == digests(src) and (copy / "aaa.txt").exists()
    assert git(copy, "status", "--porcelain") == ""
