"""Large files written by branchml outside Git's pipe (post-checkout): exact bytes, exact stat data,
crash safety, corrupt chunks failing alone, and local edits never overwritten. Real Git throughout;
the size threshold is lowered so small files take the large-file path."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import time

import pytest

from conftest import bml, git, run
from materialise_helpers import corrupt_one_chunk, index_sizes, two_branches
from remote_support import commit_all, digests, project, write_random


def test_switch_writes_large_files_byte_identical_with_exact_stat_data(lowered):
    sizes = {"a.bin": 3 << 20, "b.bin": 700_000, "c.bin": 1 << 20, "small.bin": 5000}
    expected = two_branches(lowered, sizes)
    for branch in ("main", "b", "main"):
        proc = run(["git", "switch", "-q", branch], lowered)
        assert b"wrote 3 large file(s)" in proc.stderr  # small.bin went through Git's pipe
        assert digests(lowered, ("data",)) == expected[branch]
        # the index holds the written files' real sizes: `git status` has nothing to re-read
        recorded = {k: v for k, v in index_sizes(lowered).items() if k.startswith("data/")}
        assert recorded == {f"data/{n}": s for n, s in sizes.items()}
        assert git(lowered, "status", "--porcelain") == ""
    assert not list((lowered / ".git" / "branchml" / "tmp").glob("checkout-*"))


def test_edited_file_is_re_hashed_not_trusted_after_a_switch(lowered):
    expected = two_branches(lowered, {"a.bin": 1 << 20})
    git(lowered, "switch", "-q", "main")
    path = lowered / "data" / "a.bin"
    data = bytearray(path.read_bytes())
    data[10] ^= 1  # same size, one byte changed in place
    path.write_bytes(bytes(data))
    assert git(lowered, "status", "--porcelain").strip() == "M data/a.bin"
    assert digests(lowered, ("data",)) != expected["main"]


def test_locally_modified_files_are_never_overwritten(lowered):
    write_random(lowered / "data" / "same.bin", 1 << 20, 1)
    write_random(lowered / "data" / "differs.bin", 1 << 20, 2)
    commit_all(lowered, "main")
    git(lowered, "switch", "-qc", "b")
    write_random(lowered / "data" / "differs.bin", 1 << 20, 3)
    commit_all(lowered, "b")
    on_b = (lowered / "data" / "differs.bin").read_bytes()
    mine = b"my own edit " * 1000
    (lowered / "data" / "same.bin").write_bytes(mine)
    git(lowered, "switch", "-q", "main")  # same.bin is equal on both branches: the edit stays
    assert (lowered / "data" / "same.bin").read_bytes() == mine
    assert (lowered / "data" / "differs.bin").read_bytes() != on_b
    (lowered / "data" / "differs.bin").write_bytes(mine)
    proc = run(["git", "switch", "-q", "b"], lowered, check=False)  # Git refuses: it would be lost
    assert proc.returncode != 0 and b"differs.bin" in proc.stderr
    assert (lowered / "data" / "differs.bin").read_bytes() == mine
    # a file holding a pointer, but not the one its index entry stages, is an edit too
    other_pointer = git(lowered, "show", "b:data/differs.bin").encode()
    (lowered / "data" / "differs.bin").write_bytes(other_pointer)
    bml(lowered, "install")  # materialises files holding their own pointer: not this one
    assert (lowered / "data" / "differs.bin").read_bytes() == other_pointer
    assert (lowered / "data" / "same.bin").read_bytes() == mine


def test_a_corrupt_chunk_fails_only_its_file_and_the_checkout(lowered):
    # the hook's own writes (test_materialise_handoff.py has the same case with the filter's write-ahead)
    expected = two_branches(lowered, {"bad.bin": 1 << 20, "good.bin": 1 << 20})
    pointer = git(lowered, "show", "main:data/bad.bin")
    corrupt_one_chunk(lowered, pointer.split("blake3:")[1].split()[0])
    proc = subprocess.run(["git", "switch", "-q", "main"], cwd=lowered, capture_output=True,
                          env={**os.environ, "BRANCHML_FILTER_WRITES": "0"})
    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert "data/bad.bin" in err and "corrupt" in err
    assert digests(lowered, ("data",))["data/good.bin"] == expected["main"]["data/good.bin"]
    assert (lowered / "data" / "bad.bin").read_text() == pointer  # the pointer, never wrong bytes
    assert not list((lowered / ".git" / "branchml" / "tmp").glob("checkout-*"))


@pytest.mark.slow
def test_kill_9_mid_checkout_leaves_no_wrong_bytes_and_checkout_f_restores(lowered):
    sizes = {"a.bin": 48 << 20, "b.bin": 48 << 20}
    expected = two_branches(lowered, sizes)
    tmp_dir = lowered / ".git" / "branchml" / "tmp"
    killed = False
    for _attempt in range(5):
        # the hook's own writes (test_materialise_handoff.py kills the filter writing ahead)
        proc = subprocess.Popen(["git", "switch", "-q", "main"], cwd=lowered, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env={**os.environ, "BRANCHML_FILTER_WRITES": "0"})
        while proc.poll() is None and not list(tmp_dir.glob("checkout-*")):
            time.sleep(0.001)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            killed = True
            break
        git(lowered, "switch", "-q", "b")  # too quick to catch: go back and try again
    assert killed, "the checkout never got caught writing"
    head = git(lowered, "rev-parse", "--abbrev-ref", "HEAD").strip()
    assert "??" not in git(lowered, "status", "--porcelain")  # temp files never sit in the work tree
    for name in sizes:  # each file holds its pointer, or its full content of one branch
        data = (lowered / "data" / name).read_bytes()
        assert data.startswith(b"branchml pointer v1\n") or digests(lowered, ("data",))[f"data/{name}"] in (
            expected["main"][f"data/{name}"], expected["b"][f"data/{name}"])
    git(lowered, "checkout", "-q", "-f", head)
    assert digests(lowered, ("data",)) == expected[head]
    assert git(lowered, "status", "--porcelain") == ""
    assert not list(tmp_dir.glob("checkout-*"))  # the killed run's temp file was cleared


def test_clone_and_pull_fetch_in_one_plan_and_write_exact_bytes(tmp_path):
    src = project(tmp_path, str(tmp_path / "blobs"))
    settings = src / "branchml.toml"
    settings.write_text(re.sub(r"checkout_in_git_max = \d+", "checkout_in_git_max = 100000", settings.read_text()))
    write_random(src / "data" / "big.bin", 4 << 20, 1)
    write_random(src / "data" / "other.bin", 1 << 20, 2)
    commit_all(src, "data")
    git(src, "push", "-q", "origin", "main")
    copy = tmp_path / "copy"
    bml(tmp_path, "clone", str(tmp_path / "proj-server.git"), str(copy))
    assert digests(copy) == digests(src)
    assert git(copy, "status", "--porcelain") == ""
    packs = copy / ".git" / "branchml" / "packs"
    before = sum(p.stat().st_size for p in packs.glob("*.pack"))
    data = bytearray((src / "data" / "big.bin").read_bytes())
    data[2 << 20 : (2 << 20) + 40_000] = random.Random(3).randbytes(40_000)  # 1% of the file
    (src / "data" / "big.bin").write_bytes(bytes(data))
    commit_all(src, "1%")
    git(src, "push", "-q", "origin", "main")
    other_inode = (copy / "data" / "other.bin").stat().st_ino
    git(copy, "pull", "-q", "--ff-only", "origin", "main")
    assert digests(copy) == digests(src)
    assert git(copy, "status", "--porcelain") == ""
    downloaded = sum(p.stat().st_size for p in packs.glob("*.pack")) - before
    assert 0 < downloaded < (4 << 20) // 10  # the changed chunks, not the file
    assert (copy / "data" / "other.bin").stat().st_ino == other_inode  # unchanged file not rewritten


def test_refresh_trusts_a_written_file_only_while_its_stat_data_is_unchanged(lowered):
    from branchml.git import written

    two_branches(lowered, {"a.bin": 1 << 20})
    git(lowered, "switch", "-q", "main")
    path = lowered / "data" / "a.bin"
    pointer = git(lowered, "show", "main:data/a.bin")
    oid, size = pointer.split("blake3:")[1].split()[0], path.stat().st_size
    listed = written.Written("data/a.bin", oid, size, written.stat_key(os.lstat(path)))
    data = bytearray(path.read_bytes())
    data[1000] ^= 1  # edited in place after it was listed: same size, same inode, new ctime
    time.sleep(0.01)
    path.write_bytes(bytes(data))
    listing = lowered.parent / "written.list"
    written.save(listing, [listed])
    blob = git(lowered, "rev-parse", "main:data/a.bin").strip()
    run(["git", "update-index", "-z", "--index-info"], lowered, input=f"100644 {blob}\tdata/a.bin\0".encode())
    subprocess.run(["git", "update-index", "-q", "--refresh"], cwd=lowered, env={**os.environ, written.ENV: str(listing)})
    assert git(lowered, "status", "--porcelain").strip() == "M data/a.bin"  # hashed, not trusted
