"""`branchml remote migrate FROM TO`: every blob the refs need copied remote to remote, verified,
idempotent and resumable; then the repository points at TO and a clone needs nothing of FROM."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import blake3

from conftest import bml, git
from remote_support import commit_all, digests, project, remote_objects, write_random


def _two_branches(tmp_path: Path, blob_url: str, options: tuple[str, ...] = ()) -> Path:
    src = project(tmp_path, blob_url, options=options)
    write_random(src / "data" / "train.bin", 900_000, 51)
    commit_all(src, "data")
    git(src, "switch", "-qc", "stable/acme")
    write_random(src / "models" / "model.bin", 300_000, 52)
    commit_all(src, "model")
    git(src, "switch", "-q", "main")
    git(src, "push", "-q", "origin", "main", "stable/acme")
    return src


def migrate(repo: Path, *args: str, check: bool = True) -> dict:
    proc = bml(repo, "remote", "migrate", *args, "--json", check=check)
    return json.loads(proc.stdout) if proc.returncode == 0 else {"error": proc.stderr.decode(), "code": proc.returncode}


def point_at(src: Path, url: str) -> None:
    """What the user does after a migration: the committed remote now names TO."""
    bml(src, "remote", "remove", "origin")
    bml(src, "remote", "add", "origin", url)
    commit_all(src, "blobs moved")
    git(src, "push", "-q", "origin", "main")


def test_migrate_copies_verifies_is_idempotent_and_a_clone_needs_nothing_of_the_old_remote(tmp_path):
    old, new = tmp_path / "old-blobs", tmp_path / "new-blobs"
    src = _two_branches(tmp_path, str(old))
    done = migrate(src, "origin", str(new))
    assert done["copied_files"] == 2 and done["copied_chunks"] > 0 and done["packs"] >= 1
    assert done["verified_records"] >= done["copied_files"] + done["copied_chunks"]  # read back from TO
    for obj in remote_objects(new):  # content-addressed on TO as on FROM
        assert blake3.blake3(obj.read_bytes()).hexdigest() == obj.name.split(".")[0]
    again = migrate(src, "origin", str(new))
    assert again["copied_files"] == again["copied_chunks"] == again["packs"] == 0  # nothing twice

    git(src, "switch", "-q", "stable/acme")
    on_acme = digests(src)
    git(src, "switch", "-q", "main")
    point_at(src, str(new))
    shutil.rmtree(old)  # the old remote is gone: the clone must get everything from the new one
    copy = tmp_path / "copy"
    bml(tmp_path, "clone", str(tmp_path / "proj-server.git"), str(copy))
    git(copy, "switch", "-q", "stable/acme")
    assert digests(copy) == on_acme


def test_migrate_of_one_ref_copies_only_what_it_needs(tmp_path):
    src = _two_branches(tmp_path, str(tmp_path / "old-blobs"))
    only_main = migrate(src, "origin", str(tmp_path / "new-blobs"), "--refs", "main")
    assert only_main["files"] == 1 and only_main["copied_files"] == 1
    proc = bml(src, "verify-remote", "stable/acme", check=False)  # origin still the old one: fine
    assert proc.returncode == 0
    rest = migrate(src, "origin", str(tmp_path / "new-blobs"))
    assert rest["files"] == 2 and rest["copied_files"] == 1  # main's file was there already


def test_killed_migration_leaves_whole_objects_and_finishes_when_run_again(tmp_path):
    new = tmp_path / "new-blobs"
    src = project(tmp_path, str(tmp_path / "old-blobs"), options=("pack_size=262144", "jobs=2"))
    write_random(src / "data" / "a.bin", 2_000_000, 53)
    commit_all(src, "data")
    git(src, "push", "-q", "origin", "main")
    bml(src, "remote", "add", "next", str(new), "--local", "--option", "pack_size=262144", "--option", "jobs=2")
    env = {**os.environ, "BRANCHML_TEST_KILL_AFTER_UPLOADS": "4"}
    killed = subprocess.run([sys.executable, "-m", "branchml", "remote", "migrate", "origin", "next"], cwd=src,
                            env=env, capture_output=True)
    assert killed.returncode == -9, killed.stderr.decode()
    partial = remote_objects(new)
    assert partial
    for obj in partial:  # nothing under a final name is partial
        assert blake3.blake3(obj.read_bytes()).hexdigest() == obj.name.split(".")[0]
    finished = migrate(src, "origin", "next")
    assert 0 < finished["copied_chunks"] < 31 and finished["copied_files"] == 1  # about 31 chunks in all
    assert bml(src, "verify-remote", "--remote", "next").returncode == 0
    assert migrate(src, "origin", "next")["copied_chunks"] == 0


def test_damaged_or_missing_content_on_the_source_is_refused_by_name(tmp_path):
    old = tmp_path / "old-blobs"
    src = _two_branches(tmp_path, str(old))
    pack = max((old / "packs").glob("*.pack"), key=lambda p: p.stat().st_size)
    good = pack.read_bytes()
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0x40
    pack.write_bytes(bytes(bad))
    failed = migrate(src, "origin", str(tmp_path / "new-blobs"), check=False)
    assert failed["code"] != 0 and "does not match its id" in failed["error"], failed
    assert "origin" in failed["error"] and pack.name[:16] in failed["error"]
    pack.write_bytes(good)

    write_random(src / "data" / "local-only.bin", 50_000, 54)
    commit_all(src, "not pushed to the blob remote")  # committed, never pushed: FROM lacks it
    failed = migrate(src, "origin", str(tmp_path / "new-blobs"), check=False)
    assert failed["code"] != 0 and "data/local-only.bin" in failed["error"] and "branchml push" in failed["error"]
    unknown = migrate(src, "nowhere", str(tmp_path / "new-blobs"), check=False)
    assert unknown["code"] != 0 and "no blob remote named 'nowhere'" in unknown["error"]
