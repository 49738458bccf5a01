"""Large files written outside Git's pipe, second part: their stat data written straight into Git's
index (git/indexstat.py), and raw chunks copied by the kernel next to decompressed ones written.
Real Git throughout; the size threshold is lowered so small files take the large-file path."""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

import pytest

from branchml.git import indexstat
from conftest import git, run
from materialise_helpers import index_sizes
from remote_support import commit_all, digests, write_random


def clean_runs_of_status(repo: Path) -> list[str]:
    """Paths `git status` hands to the clean filter (each one a full read of the file)."""
    proc = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True,
                          env={**os.environ, "GIT_TRACE_PACKET": "1"}, check=True)
    assert proc.stdout == b""
    lines = proc.stderr.decode(errors="replace").splitlines()
    return [line.split("pathname=", 1)[1] for line in lines if "git> pathname=" in line]


def mixed_file(path: Path, size: int, seed: int) -> None:
    """Half random bytes (chunks stored raw), half text (chunks stored compressed)."""
    rng = random.Random(seed)
    text = b"".join(b"%d,%d,label-%d\n" % (i, rng.randrange(1000), i % 7) for i in range(size))
    path.write_bytes(rng.randbytes(size // 2) + text[: size - size // 2])


@pytest.mark.parametrize("index", ["v2", "v4", "split"])
def test_git_status_after_a_switch_is_clean_and_reads_no_file(lowered, index):  # noqa: F811
    if index == "v4":
        git(lowered, "update-index", "--index-version", "4")
    if index == "split":  # not patched in place: Git's refresh takes over, with the same outcome
        git(lowered, "update-index", "--split-index")
    sizes = {"a.bin": 1 << 20, "sub/b.bin": 700_000, "mixed.bin": 1 << 20}
    expected = {}
    for branch, seed in (("main", 0), ("b", 100)):
        if branch == "b":
            git(lowered, "switch", "-qc", "b")
        for i, name in enumerate(sizes):
            (lowered / "data" / name).parent.mkdir(parents=True, exist_ok=True)
            maker = mixed_file if name == "mixed.bin" else write_random
            maker(lowered / "data" / name, sizes[name], seed + i)
        commit_all(lowered, branch)
        expected[branch] = digests(lowered, ("data",))
    for branch in ("main", "b", "main"):
        proc = run(["git", "switch", "-q", branch], lowered)
        assert b"wrote 3 large file(s)" in proc.stderr
        assert digests(lowered, ("data",)) == expected[branch]
        recorded = {k: v for k, v in index_sizes(lowered).items() if k.startswith("data/")}
        assert recorded == {f"data/{n}": s for n, s in sizes.items()}
        assert clean_runs_of_status(lowered) == []  # not even "racily clean" files re-read
    assert git(lowered, "fsck", "--no-dangling") == ""


@pytest.fixture
def plain(tmp_path) -> Path:
    """A plain Git repository with one committed file (no branchml: the index format alone)."""
    repo = tmp_path / "plain"
    git(tmp_path, "init", "-q", str(repo))
    (repo / "f.txt").write_bytes(b"committed\n")
    (repo / "other.txt").write_bytes(b"other\n")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    return repo


def rewrite_same_content(path: Path) -> os.stat_result:
    """A new inode with the same bytes: Git's stat data no longer matches, the content does."""
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data)
    os.utime(path, ns=(0, (os.stat(path).st_mtime_ns // 10**9 - 2) * 10**9))
    return os.lstat(path)


def stat_dirty(repo: Path) -> list[str]:
    """Entries whose stat data does not match their file (`diff-files` without a refresh)."""
    return git(repo, "diff-files", "--name-only").split()


def test_record_stat_data_patches_only_entries_that_stage_the_written_content(plain):
    blob = git(plain, "rev-parse", ":f.txt").strip()
    new = rewrite_same_content(plain / "f.txt")
    rewrite_same_content(plain / "other.txt")
    assert stat_dirty(plain) == ["f.txt", "other.txt"]
    index = plain / ".git" / "index"
    wrong = git(plain, "rev-parse", ":other.txt").strip()
    assert indexstat.record_stat_data(index, {"other.txt": indexstat.NewStat(blob, new)}) == {"other.txt"}
    assert indexstat.record_stat_data(index, {"f.txt": indexstat.NewStat(wrong, new)}) == {"f.txt"}
    assert stat_dirty(plain) == ["f.txt", "other.txt"]  # nothing claimed for content it does not stage
    assert indexstat.record_stat_data(index, {"f.txt": indexstat.NewStat(blob, new)}) == set()
    assert stat_dirty(plain) == ["other.txt"]  # Git reads the patched index, checksum and all
    assert git(plain, "status", "--porcelain") == ""
    (plain / "f.txt").write_bytes(b"edited afterwards\n")
    assert git(plain, "status", "--porcelain").split() == ["M", "f.txt"]


def test_record_stat_data_leaves_a_locked_or_conflicted_index_to_git(plain):
    blob = git(plain, "rev-parse", ":f.txt").strip()
    new = rewrite_same_content(plain / "f.txt")
    index = plain / ".git" / "index"
    lock = plain / ".git" / "index.lock"
    lock.write_bytes(b"")  # another Git command is writing the index
    assert indexstat.record_stat_data(index, {"f.txt": indexstat.NewStat(blob, new)}) == {"f.txt"}
    assert lock.read_bytes() == b""  # someone else's lock: left alone
    lock.unlink()
    # the path in conflict (stages 1-3, no stage 0): not patched
    info = "".join(f"100644 {blob} {stage}\tf.txt\0" for stage in (1, 2, 3))
    run(["git", "update-index", "--force-remove", "f.txt"], plain)
    run(["git", "update-index", "-z", "--index-info"], plain, input=info.encode())
    before = index.read_bytes()
    assert indexstat.record_stat_data(index, {"f.txt": indexstat.NewStat(blob, new)}) == {"f.txt"}
    assert index.read_bytes() == before
    assert not lock.exists()


def test_record_stat_data_refuses_an_index_whose_checksum_fails(plain):
    blob = git(plain, "rev-parse", ":f.txt").strip()
    new = rewrite_same_content(plain / "f.txt")
    index = plain / ".git" / "index"
    data = bytearray(index.read_bytes())
    data[-1] ^= 1
    index.write_bytes(bytes(data))
    assert indexstat.record_stat_data(index, {"f.txt": indexstat.NewStat(blob, new)}) == {"f.txt"}
    assert index.read_bytes() == bytes(data)  # not "repaired" by re-sealing what it cannot vouch for
