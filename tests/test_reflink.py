"""Checkout without a second copy: `[checkout] link = "reflink"` on a real XFS file system (an image
loop-mounted by the test, when root and mkfs.xfs are available), and the silent fallback to copies
on the ext4 (or other) file system of the temp folder."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import blake3
import pytest

from branchml.errors import ExitCode
from conftest import bml, git


@pytest.fixture
def xfs(tmp_path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting an XFS image needs root")
    if shutil.which("mkfs.xfs") is None:
        pytest.skip("mkfs.xfs is not installed (.ci/run installs xfsprogs)")
    image, mount = tmp_path / "xfs.img", tmp_path / "xfs"
    with open(image, "wb") as f:
        f.truncate(300 << 20)  # the smallest XFS that mkfs.xfs accepts
    made = subprocess.run(["mkfs.xfs", "-q", "-m", "reflink=1", str(image)], capture_output=True, check=False)
    mount.mkdir()
    mounted = made.returncode == 0 and subprocess.run(["mount", "-o", "loop", str(image), str(mount)],
                                                      capture_output=True, check=False).returncode == 0
    if not mounted:
        pytest.skip(f"cannot make or loop-mount an XFS image here: {made.stderr.decode()[:200]}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def _project(where: Path) -> Path:
    repo = where / "repo"
    bml(where, "init", str(repo))
    bml(repo, "track", "data/**")
    (repo / ".git" / "branchml" / "local.toml").write_text('[checkout]\nlink = "reflink"\n')
    content = random.Random(7).randbytes(3 << 20)
    (repo / "data").mkdir()
    (repo / "data" / "a.bin").write_bytes(content)
    (repo / "data" / "b.bin").write_bytes(content)  # same content at a second path
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "data")
    git(repo, "switch", "-qc", "no-data")
    git(repo, "rm", "-rq", "data")
    git(repo, "commit", "-qm", "no data")
    git(repo, "switch", "-q", "main")  # the checkout hook writes the files
    assert (repo / "data" / "a.bin").read_bytes() == content and (repo / "data" / "b.bin").read_bytes() == content
    assert git(repo, "status", "--porcelain") == ""
    return repo


def _links(repo: Path) -> dict:
    return json.loads(bml(repo, "stats", "--json").stdout)["checkout_links"]


def test_reflinked_checkout_shares_blocks_and_an_edit_never_reaches_the_store(xfs):
    repo = _project(xfs)
    if shutil.which("filefrag"):
        assert "shared" in subprocess.run(["filefrag", "-v", str(repo / "data" / "a.bin")], capture_output=True,
                                          check=True).stdout.decode()
    assert _links(repo) == {"linked_files": 2, "linked_bytes": 6 << 20, "cache_bytes": 3 << 20, "saved_bytes": 3 << 20}
    assert "reflinked:" in bml(repo, "stats").stdout.decode()
    oid = git(repo, "show", "HEAD:data/a.bin").split("blake3:")[1].split()[0]
    cached = repo / ".git" / "branchml" / "files" / oid[:2] / oid
    with open(repo / "data" / "a.bin", "r+b") as f:
        f.write(b"edited in place")  # copy-on-write: new blocks for a.bin only
    assert blake3.blake3(cached.read_bytes()).hexdigest() == oid
    assert blake3.blake3((repo / "data" / "b.bin").read_bytes()).hexdigest() == oid
    assert git(repo, "status", "--porcelain").strip() == "M data/a.bin"
    assert _links(repo)["linked_files"] == 1
    git(repo, "checkout", "--", "data/a.bin")
    assert blake3.blake3((repo / "data" / "a.bin").read_bytes()).hexdigest() == oid
    bml(repo, "fsck", "--read-data")


def test_without_reflink_support_files_are_copied_without_a_word(tmp_path):
    if os.path.ismount(tmp_path):
        pytest.skip("temp folder is a mount point")
    repo = _project(tmp_path)  # the temp folder's file system (ext4 here): FICLONE is refused
    probe = tmp_path / "probe"
    probe.write_bytes(b"x")
    if subprocess.run(["cp", "--reflink=always", str(probe), str(tmp_path / "probe2")], capture_output=True,
                      check=False).returncode == 0:
        pytest.skip("this temp folder supports reflinks")
    assert _links(repo)["linked_files"] == 0
    assert not list((repo / ".git" / "branchml" / "files").glob("??/*"))  # no whole-file copies kept
    (repo / ".git" / "branchml" / "local.toml").write_text('[checkout]\nlink = "hardlink"\n')
    proc = bml(repo, "install", check=False)
    assert proc.returncode == ExitCode.SETTING_WRONG and "hardlink" in proc.stderr.decode() and "refused" in proc.stderr.decode()
