"""Blob remote on a local folder: round trips through real git push/clone/switch, and failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import blake3

from conftest import bml, git, run
from remote_support import (
    commit_all,
    digests,
    no_wrong_bytes,
    project,
    remote_objects,
    write_random,
)


def push_report(repo, *args) -> dict:
    return json.loads(bml(repo, "push", "--json", *args).stdout)


def test_git_push_uploads_blobs_and_clone_switch_materialises_every_branch(tmp_path):
    blobs = tmp_path / "blobs"
    src = project(tmp_path, str(blobs))
    write_random(src / "data" / "train.bin", 2_000_000, 1)
    (src / "data" / "labels.csv").write_text("id,label\n" + "".join(f"{i},{i % 3}\n" for i in range(5000)))
    commit_all(src, "data")
    git(src, "switch", "-qc", "stable/acme")
    write_random(src / "models" / "model.bin", 700_000, 2)
    commit_all(src, "model")
    expected = {"main": None, "stable/acme": digests(src)}
    git(src, "switch", "-q", "main")
    expected["main"] = digests(src)
    git(src, "push", "-q", "origin", "main", "stable/acme")  # the pre-push hook uploads the blobs
    assert remote_objects(blobs)
    assert bml(src, "verify-remote", "stable/acme").returncode == 0

    bml(tmp_path, "clone", str(tmp_path / "proj-server.git"), str(tmp_path / "copy"))
    copy = tmp_path / "copy"
    assert digests(copy) == expected["main"]
    git(copy, "switch", "-q", "stable/acme")  # chunks of the model are fetched on demand
    assert digests(copy) == expected["stable/acme"]
    assert git(copy, "status", "--porcelain") == ""


def test_push_skips_what_the_remote_has_and_appending_to_a_csv_sends_little(tmp_path):
    src = project(tmp_path, str(tmp_path / "blobs"))
    (src / "data").mkdir()
    rows = "".join(f"{i},{i * 7 % 1000},{'x' * (i % 40)}\n" for i in range(120_000))
    (src / "data" / "log.csv").write_text(rows)
    commit_all(src, "log")
    first = push_report(src)
    assert first["new_files"] == 1 and first["bytes"] > 0
    assert push_report(src)["bytes"] == 0  # nothing new
    size = (src / "data" / "log.csv").stat().st_size
    with open(src / "data" / "log.csv", "a") as f:
        f.write("".join(f"{i},{i % 1000},appended\n" for i in range(120_000, 121_500)))  # ~1%
    commit_all(src, "append")
    second = push_report(src)
    assert second["new_files"] == 1
    assert 0 < second["bytes"] <= 0.03 * size  # the bar: a 1% append pushes at most 3% of the file
    assert second["new_chunks"] <= 4


def test_plain_git_clone_gets_pointers_fetch_include_prefetches_install_materialises(tmp_path, monkeypatch):
    src = project(tmp_path, str(tmp_path / "blobs"))
    write_random(src / "data" / "big.bin", 1_000_000, 4)
    write_random(src / "models" / "m.bin", 200_000, 5)
    commit_all(src, "data and model")
    git(src, "push", "-q", "origin", "main")
    copy = tmp_path / "plain"
    git(tmp_path, "clone", "-q", str(tmp_path / "proj-server.git"), str(copy))
    assert (copy / "models" / "m.bin").read_bytes().startswith(b"branchml pointer v1\n")
    report = json.loads(bml(copy, "fetch", "--json", "main", "--include", "models/**").stdout)
    assert report["files"] == 1 and 0 < report["bytes"] < 300_000
    stats = json.loads(bml(copy, "stats", "--json").stdout)
    assert stats["files"] == 1 and stats["file_bytes"] == 200_000
    assert push_report(copy)["bytes"] == 0  # files never fetched here are on the remote: fine
    bml(copy, "install")  # materialises the pointer files, fetching the rest on demand
    assert digests(copy) == digests(src)
    assert git(copy, "status", "--porcelain") == ""

    user_config = tmp_path / "user.gitconfig"  # after `install --global`, plain clones get files
    user_config.write_text("[init]\n\tdefaultBranch = main\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(user_config))
    bml(tmp_path, "install", "--global")
    git(tmp_path, "clone", "-q", str(tmp_path / "proj-server.git"), str(tmp_path / "global"))
    assert digests(tmp_path / "global") == digests(src)


def test_interrupted_push_leaves_only_complete_objects_and_resumes(tmp_path):
    blobs = tmp_path / "blobs"
    src = project(tmp_path, str(blobs), options=("pack_size=262144", "jobs=2"))
    write_random(src / "data" / "a.bin", 3_000_000, 6)
    write_random(src / "data" / "b.bin", 1_000_000, 7)
    commit_all(src, "data")
    env = {**os.environ, "BRANCHML_TEST_KILL_AFTER_UPLOADS": "7"}
    killed = subprocess.run([sys.executable, "-m", "branchml", "push"], cwd=src, env=env, capture_output=True)
    assert killed.returncode == -9
    partial = remote_objects(blobs)
    assert partial
    for obj in partial:  # every object under its final name is whole: its bytes hash to its name
        assert blake3.blake3(obj.read_bytes()).hexdigest() == obj.name.split(".")[0]
    assert bml(src, "verify-remote", check=False).returncode == 1
    assert not list((blobs / "packs").glob("*.part"))
    resumed = push_report(src)
    assert 0 < resumed["new_chunks"] < 60  # not everything again (about 64 chunks in all)
    assert resumed["new_files"] == 2
    assert bml(src, "verify-remote").returncode == 0


def _pushed_project_and_pack(tmp_path):
    blobs = tmp_path / "blobs"
    src = project(tmp_path, str(blobs))
    write_random(src / "data" / "a.bin", 500_000, 8)
    commit_all(src, "data")
    git(src, "push", "-q", "origin", "main")
    packs = sorted((blobs / "packs").glob("*.pack"), key=lambda p: p.stat().st_size)
    return src, packs[-1]


def _assert_clone_fails_without_wrong_bytes(tmp_path, name, *expected_words):
    proc = bml(tmp_path, "clone", str(tmp_path / "proj-server.git"), str(tmp_path / name), check=False)
    assert proc.returncode != 0
    err = proc.stderr.decode()
    for word in expected_words:
        assert word in err, err
    assert no_wrong_bytes(tmp_path / name / "data" / "a.bin")
    return proc


def test_flipped_bit_truncation_and_unreachable_remote_fail_loudly_and_store_nothing(tmp_path):
    src, pack = _pushed_project_and_pack(tmp_path)
    good = pack.read_bytes()
    pack.chmod(0o644)
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x01
    pack.write_bytes(bytes(flipped))
    _assert_clone_fails_without_wrong_bytes(tmp_path, "copy1", "origin", "does not match")
    assert json.loads(bml(tmp_path / "copy1", "stats", "--json").stdout)["chunks"] == 0

    pack.write_bytes(good[: len(good) // 2])
    _assert_clone_fails_without_wrong_bytes(tmp_path, "copy2", "origin", "truncated")

    pack.write_bytes(good)
    (tmp_path / "blobs").rename(tmp_path / "blobs-unmounted")
    _assert_clone_fails_without_wrong_bytes(tmp_path, "copy3", "origin", str(tmp_path / "blobs"), "holds no branchml data")


def test_pre_push_refuses_failed_uploads_and_the_server_refuses_dangling_pointers(tmp_path):
    blobs = tmp_path / "blobs"
    src = project(tmp_path, str(blobs))
    server = tmp_path / "proj-server.git"
    bml(server, "install", "--server")
    git(src, "push", "-q", "origin", "main")  # no pointers yet: accepted
    git(src, "switch", "-qc", "dev/work")  # the server's role rules keep data off main
    write_random(src / "data" / "a.bin", 100_000, 10)
    commit_all(src, "data")
    blobs.write_text("not a folder")  # uploads cannot succeed
    proc = run(["git", "push", "origin", "dev/work"], src, check=False)
    assert proc.returncode != 0 and "push refused" in proc.stderr.decode()
    assert git(server, "branch", "--list", "dev/work") == ""
    blobs.unlink()
    proc = run(["git", "push", "--no-verify", "origin", "dev/work"], src, check=False)
    assert proc.returncode != 0
    assert "not on blob remote 'origin'" in proc.stderr.decode()
    bml(src, "push")
    git(src, "push", "-q", "--no-verify", "origin", "dev/work")
    assert git(server, "rev-parse", "dev/work").strip() == git(src, "rev-parse", "dev/work").strip()

    # the server's own remote (bare repo's local.toml) wins over what pushed commits name
    bml(server, "remote", "add", "origin", str(tmp_path / "server-blobs"), "--local")
    write_random(src / "data" / "b.bin", 50_000, 11)
    commit_all(src, "more")
    bml(src, "push")  # to the committed remote only
    proc = run(["git", "push", "--no-verify", "origin", "dev/work"], src, check=False)
    assert proc.returncode != 0 and "server-blobs" in proc.stderr.decode()


def remote_gc(repo, *args) -> dict:
    return json.loads(bml(repo, "remote", "gc", "--json", *args).stdout)


def test_remote_gc_keeps_what_pushed_refs_need_respects_grace_and_lock(tmp_path):
    blobs = tmp_path / "blobs"
    src = project(tmp_path, str(blobs))
    write_random(src / "data" / "keep.bin", 300_000, 20)
    commit_all(src, "keep")
    git(src, "switch", "-qc", "scratch")
    write_random(src / "data" / "dead.bin", 300_000, 21)
    commit_all(src, "scratch")
    bml(src, "push")  # both branches: packs mixing live and dead records
    write_random(src / "data" / "dead2.bin", 200_000, 22)
    commit_all(src, "more scratch")
    bml(src, "push")  # packs of dead records only
    git(src, "switch", "-q", "main")
    git(src, "push", "-q", "origin", "main")  # only main reaches the Git remote
    admin = tmp_path / "admin"
    bml(tmp_path, "clone", str(tmp_path / "proj-server.git"), str(admin))

    young = remote_gc(admin)  # default grace: everything is too young to touch
    assert (young["deleted_packs"], young["rewritten_packs"], young["kept_young"]) == (0, 0, 4)
    before = remote_objects(blobs)
    dry = remote_gc(admin, "--grace", "0", "--dry-run")
    assert (dry["deleted_packs"], dry["rewritten_packs"]) == (2, 2) and remote_objects(blobs) == before
    (blobs / "tmp" / "killed-push.part").write_bytes(b"half a pack")
    done = remote_gc(admin, "--grace", "0")
    assert done["stale_uploads"] == 1 and not (blobs / "tmp" / "killed-push.part").exists()
    assert (done["deleted_packs"], done["rewritten_packs"]) == (2, 2) and done["freed_bytes"] > 450_000
    assert bml(src, "verify-remote", "main").returncode == 0
    assert bml(src, "verify-remote", "scratch", check=False).returncode == 1
    bml(tmp_path, "clone", str(tmp_path / "proj-server.git"), str(tmp_path / "after"))
    assert digests(tmp_path / "after") == digests(src)

    (blobs / "locks").mkdir(exist_ok=True)
    (blobs / "locks" / "gc.lock").write_text('{"host": "elsewhere", "pid": 1, "since": 0}')  # a dead gc
    write_random(src / "data" / "new.bin", 50_000, 23)
    commit_all(src, "new")
    refused = bml(src, "push", check=False)
    assert refused.returncode != 0 and "being garbage-collected" in refused.stderr.decode()
    assert bml(admin, "remote", "gc", check=False).returncode != 0
    remote_gc(admin, "--break-lock")
    assert not (blobs / "locks" / "gc.lock").exists()
    assert push_report(src, "origin", "main")["new_files"] == 1  # main gained one file
