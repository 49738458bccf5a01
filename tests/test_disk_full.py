"""A full disk: one line naming the file, and the store still opens. A real 3 MB tmpfs (root only)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import bml, git
from remote_support import commit_all, write_random


# -- a full disk ---------------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a 3 MB tmpfs needs root (and mount)")
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(path: Path, leave: int) -> None:
    """Write `path` until the file system is full, then give back `leave` bytes."""
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    os.truncate(path, max(0, path.stat().st_size - leave))


def test_a_full_disk_is_one_line_naming_the_file_and_fsck_still_opens_the_store(small_disk):
    """`git add` of a file the disk cannot hold: one line naming the store file, the store stays whole."""
    repo = small_disk / "repo"
    bml(small_disk, "init", str(repo))
    bml(repo, "track", "data/**")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "init")
    write_random(repo / "data" / "small.bin", 100_000, 1)
    commit_all(repo, "small")
    (repo / "data" / "big.bin").write_bytes(os.urandom(700_000))
    fill(small_disk / "filler", leave=200_000)  # the store cannot take big.bin's 700 kB
    add = subprocess.run(["git", "add", "data/big.bin"], cwd=repo, capture_output=True, check=False)
    err = add.stderr.decode()
    assert add.returncode != 0
    assert "Traceback" not in err and "no space left on the device" in err and str(repo / ".git" / "branchml") in err, err
    fsck = bml(repo, "fsck", "--read-data", check=False)  # the disk is still full: the store opens, and is whole
    assert fsck.returncode == 0, fsck.stderr.decode() + fsck.stdout.decode()
    (small_disk / "filler").unlink()
    git(repo, "add", "data/big.bin")
    assert bml(repo, "fsck").returncode == 0


def test_a_full_disk_mid_checkout_names_the_file_and_leaves_its_pointer(small_disk):
    """A large file written after checkout (post-checkout) on a full disk: one line naming the work-tree
    file, no partial content and no temp file left, and `git checkout -f` restores it once there is room."""
    repo = small_disk / "repo"
    bml(small_disk, "init", str(repo))
    bml(repo, "track", "data/**")
    settings = repo / "branchml.toml"
    settings.write_text(settings.read_text().replace("checkout_in_git_max = 67108864", "checkout_in_git_max = 100000"))
    write_random(repo / "data" / "big.bin", 700_000, 1)
    content = (repo / "data" / "big.bin").read_bytes()
    commit_all(repo, "big")
    git(repo, "switch", "-qc", "empty")
    git(repo, "rm", "-q", "data/big.bin")
    git(repo, "commit", "-qm", "no big file")
    fill(small_disk / "filler", leave=200_000)  # the store holds big.bin; its work-tree copy cannot fit
    switch = subprocess.run(["git", "switch", "-q", "main"], cwd=repo, capture_output=True, check=False)
    err = switch.stderr.decode()
    assert switch.returncode != 0, err
    assert "Traceback" not in err and "no space left on the device" in err and "data/big.bin" in err, err
    left = (repo / "data" / "big.bin").read_bytes()
    assert left.startswith(b"branchml pointer v1\n"), left[:80]  # its pointer, never partial content
    assert not list((repo / ".git" / "branchml" / "tmp").glob("checkout-*"))
    (small_disk / "filler").unlink()
    assert "git checkout -- data/big.bin" in err  # the hint, followed
    git(repo, "checkout", "-q", "--", "data/big.bin")
    assert (repo / "data" / "big.bin").read_bytes() == content
    assert git(repo, "status", "--porcelain") == ""
