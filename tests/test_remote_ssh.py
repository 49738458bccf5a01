"""Blob remote over SSH/SFTP: a real OpenSSH server on loopback (tests/sshd_support.py), through
fsspec's SFTP file system (paramiko), with the user's ~/.ssh (a temporary home here)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import blake3
import pytest

from conftest import bml, git
from remote_support import (
    commit_all,
    digests,
    no_wrong_bytes,
    project,
    push_and_drop_a_branch,
    remote_objects,
    write_random,
)
from sshd_support import sshd, start_sshd  # noqa: F401  (sshd: the module's server)


@pytest.fixture
def ssh_home(sshd, monkeypatch):  # noqa: F811
    """The server's client home as $HOME: its key in ~/.ssh, its host key in ~/.ssh/known_hosts."""
    monkeypatch.setenv("HOME", str(sshd.home))
    return sshd


def test_push_clone_switch_round_trip_over_sftp(tmp_path, ssh_home):
    blobs = tmp_path / "blobs"
    src = project(tmp_path, ssh_home.url(blobs))
    write_random(src / "data" / "train.bin", 1_200_000, 31)
    commit_all(src, "data")
    git(src, "switch", "-qc", "stable/acme")
    write_random(src / "models" / "model.bin", 300_000, 32)
    commit_all(src, "model")
    on_acme = digests(src)
    git(src, "push", "-q", "origin", "main", "stable/acme")
    push_and_drop_a_branch(src)
    assert remote_objects(blobs)  # the packs went through sshd into the folder it serves
    assert not list((blobs / "tmp").iterdir())  # uploaded under tmp/, renamed into place

    copy = tmp_path / "copy"
    bml(tmp_path, "clone", str(tmp_path / "proj-server.git"), str(copy))
    assert digests(copy) == {k: v for k, v in on_acme.items() if k.startswith("data/")}
    git(copy, "switch", "-q", "stable/acme")  # plain git switch: the filter fetches over SFTP
    assert digests(copy) == on_acme
    assert json.loads(bml(copy, "verify-remote", "--json", "stable/acme").stdout)["missing"] == []
    gc = json.loads(bml(copy, "remote", "gc", "--grace", "0", "--json").stdout)  # lock, ages, listing over SFTP
    assert gc["deleted_packs"] >= 1 and gc["rewritten_packs"] == 0  # the dropped branch's pack(s)
    assert json.loads(bml(copy, "verify-remote", "--json", "stable/acme").stdout)["missing"] == []
    assert not (blobs / "locks" / "gc.lock").exists()


def test_push_killed_midway_over_sftp_leaves_whole_objects_and_resumes(tmp_path, ssh_home):
    blobs = tmp_path / "blobs"
    src = project(tmp_path, ssh_home.url(blobs, scheme="sftp"), options=("pack_size=262144", "jobs=2"))
    write_random(src / "data" / "a.bin", 2_000_000, 33)
    commit_all(src, "data")
    env = {**os.environ, "BRANCHML_TEST_KILL_AFTER_UPLOADS": "4"}
    killed = subprocess.run([sys.executable, "-m", "branchml", "push"], cwd=src, env=env, capture_output=True)
    assert killed.returncode == -9, killed.stderr.decode()
    partial = remote_objects(blobs)
    assert partial
    for obj in partial:  # nothing under a final name is partial: its bytes hash to its name
        assert blake3.blake3(obj.read_bytes()).hexdigest() == obj.name.split(".")[0]
    assert bml(src, "verify-remote", check=False).returncode == 1
    resumed = json.loads(bml(src, "push", "--json").stdout)
    assert 0 < resumed["new_chunks"] < 31 and resumed["new_files"] == 1  # about 31 chunks in all
    assert bml(src, "verify-remote").returncode == 0


def test_changed_or_unknown_host_key_is_refused_and_known_hosts_is_left_alone(tmp_path, monkeypatch):
    try:
        server = start_sshd(tmp_path / "sshd")  # its own server: this test replaces its host key
    except RuntimeError as exc:
        pytest.skip(f"no sshd on loopback: {exc}")
    monkeypatch.setenv("HOME", str(server.home))
    try:
        src = project(tmp_path, server.url(tmp_path / "blobs"))
        write_random(src / "data" / "a.bin", 300_000, 34)
        commit_all(src, "data")
        git(src, "push", "-q", "origin", "main")
        known = server.known_hosts.read_bytes()
        old_key = server.host_key.with_suffix(".pub").read_text().split()[1]
        server.change_host_key()

        proc = bml(tmp_path, "clone", str(tmp_path / "proj-server.git"), str(tmp_path / "copy"), check=False)
        err = proc.stderr.decode()
        assert proc.returncode != 0 and "has CHANGED" in err and f"[127.0.0.1]:{server.port}" in err, err
        assert "ssh-keygen -R" in err
        assert no_wrong_bytes(tmp_path / "copy" / "data" / "a.bin")
        write_random(src / "data" / "b.bin", 100_000, 35)
        commit_all(src, "more")
        pushed = subprocess.run(["git", "push", "origin", "main"], cwd=src, capture_output=True)
        assert pushed.returncode != 0 and "has CHANGED" in pushed.stderr.decode()
        assert server.known_hosts.read_bytes() == known and old_key in known.decode()  # never rewritten

        server.known_hosts.write_text("")  # a host nobody has accepted yet: refused as well, not added
        proc = bml(src, "push", check=False)
        assert proc.returncode != 0 and "not in known_hosts" in proc.stderr.decode()
        assert server.known_hosts.read_text() == ""
    finally:
        server.stop()


def test_migrate_from_a_folder_to_sftp_then_clone_from_sftp(tmp_path, ssh_home):
    old = tmp_path / "old-blobs"
    src = project(tmp_path, str(old))
    write_random(src / "data" / "a.bin", 600_000, 36)
    commit_all(src, "data")
    git(src, "push", "-q", "origin", "main")
    url = ssh_home.url(tmp_path / "sftp-blobs")
    done = json.loads(bml(src, "remote", "migrate", "origin", url, "--json").stdout)
    assert done["copied_files"] == 1 and done["verified_records"] > done["copied_chunks"] > 0
    bml(src, "remote", "remove", "origin")
    bml(src, "remote", "add", "origin", url)
    commit_all(src, "blobs on the SSH server now")
    git(src, "push", "-q", "origin", "main")
    shutil.rmtree(old)
    bml(tmp_path, "clone", str(tmp_path / "proj-server.git"), str(tmp_path / "copy"))
    assert digests(tmp_path / "copy") == digests(src)
