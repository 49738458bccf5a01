"""Tracked files through real Git commands: every byte back, dedup across branches, clear failures."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from pathlib import Path

import pytest

from conftest import bml, git, run

BIG_MB = int(os.environ.get("BRANCHML_TEST_BIG_MB", "48"))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_digests(root: Path, sub: str = "data") -> dict[str, str]:
    return {str(p.relative_to(root)): digest(p) for p in sorted((root / sub).rglob("*")) if p.is_file()}


def stored_bytes(repo: Path) -> int:
    return json.loads(bml(repo, "stats", "--json").stdout)["stored_bytes"]


@pytest.fixture
def tracked(repo: Path) -> Path:
    bml(repo, "track", "data/**")
    (repo / "data").mkdir()
    return repo


@pytest.mark.slow  # tens of MiB through the filter
def test_round_trip_of_edge_sizes_through_add_commit_switch(tracked):
    rng = random.Random(1)
    sizes = {"empty": 0, "one": 1, "avg": 65536, "max": 262144, "max1": 262145, "big": BIG_MB << 20}
    for name, size in sizes.items():
        (tracked / "data" / f"{name}.bin").write_bytes(rng.randbytes(size))
    small = tracked / "data" / "small"
    small.mkdir()
    for i in range(300):
        (small / f"f{i}.txt").write_bytes(rng.randbytes(rng.randint(1, 4000)))
    before = tree_digests(tracked)
    git(tracked, "add", ".")
    git(tracked, "commit", "-qm", "data")
    assert git(tracked, "show", "HEAD:data/big.bin").startswith("branchml pointer v1\n")
    assert git(tracked, "show", "HEAD:data/empty.bin") == ""  # empty files stay empty, no pointer
    git(tracked, "switch", "-qc", "other")
    for p in (tracked / "data").rglob("*.bin"):
        p.unlink()
    git(tracked, "commit", "-qam", "remove")
    git(tracked, "switch", "-q", "main")
    assert tree_digests(tracked) == before
    assert git(tracked, "status", "--porcelain") == ""


@pytest.mark.slow  # tens of MiB through the filter
def test_one_percent_change_on_a_branch_is_deduplicated(tracked):
    data = random.Random(2).randbytes(16 << 20)
    (tracked / "data" / "x.bin").write_bytes(data)
    git(tracked, "add", ".")
    git(tracked, "commit", "-qm", "v1")
    first = stored_bytes(tracked)
    changed = bytearray(data)
    mid = len(data) // 2
    changed[mid : mid + len(data) // 100] = random.Random(3).randbytes(len(data) // 100)
    git(tracked, "switch", "-qc", "v2")
    (tracked / "data" / "x.bin").write_bytes(changed)
    git(tracked, "commit", "-qam", "v2")
    growth = stored_bytes(tracked) - first
    assert growth < 0.03 * len(data), growth  # 1% changed -> well under 3% stored
    git(tracked, "switch", "-q", "main")
    assert (tracked / "data" / "x.bin").read_bytes() == data


def test_everyday_git_commands(tracked):
    f = tracked / "data" / "f.bin"
    f.write_bytes(b"one" * 100000)
    git(tracked, "add", ".")
    git(tracked, "commit", "-qm", "one")
    # diff shows a summary, not pointer noise
    f.write_bytes(b"two" * 100000)
    diff = git(tracked, "diff")
    assert "branchml file" in diff and "size 300000" in diff
    # stash and pop
    git(tracked, "stash", "-q")
    assert f.read_bytes() == b"one" * 100000
    git(tracked, "stash", "pop", "-q")
    assert f.read_bytes() == b"two" * 100000
    git(tracked, "commit", "-qam", "two")
    # reset --hard
    f.write_bytes(b"junk")
    git(tracked, "reset", "-q", "--hard")
    assert f.read_bytes() == b"two" * 100000
    # cherry-pick and rebase across branches
    git(tracked, "switch", "-qc", "side", "HEAD~1")
    (tracked / "data" / "g.bin").write_bytes(b"g" * 50000)
    git(tracked, "add", ".")
    git(tracked, "commit", "-qm", "g")
    git(tracked, "switch", "-q", "main")
    git(tracked, "cherry-pick", "side")
    assert (tracked / "data" / "g.bin").read_bytes() == b"g" * 50000
    git(tracked, "switch", "-q", "side")
    git(tracked, "rebase", "-q", "main")
    assert f.read_bytes() == b"two" * 100000
    # merge of a branch that added another file
    git(tracked, "switch", "-qc", "feat", "main")
    (tracked / "data" / "h.bin").write_bytes(b"h" * 70000)
    git(tracked, "add", ".")
    git(tracked, "commit", "-qm", "h")
    git(tracked, "switch", "-q", "main")
    git(tracked, "merge", "-q", "--no-edit", "feat")
    assert (tracked / "data" / "h.bin").read_bytes() == b"h" * 70000
    # a worktree shares the store: no second copy, files there too
    before = stored_bytes(tracked)
    wt = tracked.parent / "wt"
    git(tracked, "worktree", "add", "-q", str(wt), "side")
    assert (wt / "data" / "f.bin").read_bytes() == b"two" * 100000
    assert stored_bytes(wt) == before
    assert git(tracked, "status", "--porcelain") == "" and git(wt, "status", "--porcelain") == ""


def test_corrupt_chunk_fails_checkout_without_partial_bytes(tracked):
    data = random.Random(4).randbytes(1 << 20)
    (tracked / "data" / "c.bin").write_bytes(data)
    git(tracked, "add", ".")
    git(tracked, "commit", "-qm", "c")
    pack = next((tracked / ".git" / "branchml" / "packs").glob("*.pack"))
    pack.chmod(0o644)
    raw = bytearray(pack.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    pack.write_bytes(bytes(raw))
    (tracked / "data" / "c.bin").unlink()
    proc = run(["git", "checkout", "--", "data/c.bin"], tracked, check=False)
    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert "data/c.bin" in err and "corrupt" in err
    assert not (tracked / "data" / "c.bin").exists() or (tracked / "data" / "c.bin").read_bytes() != data[:10]
    fsck = bml(tracked, "fsck", "--read-data", "--json", check=False)
    assert fsck.returncode == 1
    problems = json.loads(fsck.stdout)
    assert [p["paths"] for p in problems if p["kind"] == "corrupt-chunk"] == [["data/c.bin"]]


def test_truncated_pack_is_reported_by_fsck(tracked):
    (tracked / "data" / "t.bin").write_bytes(random.Random(5).randbytes(2 << 20))
    git(tracked, "add", ".")
    git(tracked, "commit", "-qm", "t")
    pack = next((tracked / ".git" / "branchml" / "packs").glob("*.pack"))
    pack.chmod(0o644)
    with open(pack, "r+b") as f:
        f.truncate(pack.stat().st_size // 2)
    fsck = bml(tracked, "fsck", check=False)
    assert fsck.returncode == 1
    assert "truncated" in fsck.stdout.decode() and "data/t.bin" in fsck.stdout.decode()


def test_malformed_pointer_in_a_commit_gives_a_clear_error(tracked):
    bad = b"branchml pointer v1\noid blake3:nothex\nsize 3\n"
    blob = run(["git", "hash-object", "-w", "--no-filters", "--stdin"], tracked, input=bad).stdout.decode().strip()
    git(tracked, "update-index", "--add", "--cacheinfo", f"100644,{blob},data/bad.bin")
    git(tracked, "commit", "-qm", "bad")
    proc = run(["git", "checkout", "--", "data/bad.bin"], tracked, check=False)
    assert proc.returncode != 0
    assert "data/bad.bin" in proc.stderr.decode() and "malformed pointer" in proc.stderr.decode()
    assert not (tracked / "data" / "bad.bin").exists()


def test_gc_keeps_everything_still_reachable(tracked):
    def add(name: str, seed: int) -> bytes:
        data = random.Random(seed).randbytes(300_000)
        (tracked / "data" / name).write_bytes(data)
        git(tracked, "add", ".")
        return data

    base = add("base.bin", 1)
    git(tracked, "commit", "-qm", "base")
    git(tracked, "switch", "-qc", "tagged")
    tagged = add("tagged.bin", 2)
    git(tracked, "commit", "-qm", "t")
    git(tracked, "tag", "v1")
    git(tracked, "switch", "-q", "main")
    git(tracked, "branch", "-D", "tagged")
    stashed = add("stashed.bin", 3)
    git(tracked, "stash", "-q")
    wt = tracked.parent / "wt2"
    git(tracked, "worktree", "add", "-q", "-b", "wtb", str(wt))
    staged_in_wt = random.Random(4).randbytes(300_000)
    (wt / "data" / "wt.bin").write_bytes(staged_in_wt)
    git(wt, "add", ".")  # only in that worktree's index
    git(tracked, "switch", "-qc", "doomed")
    add("doomed.bin", 5)
    git(tracked, "commit", "-qm", "doomed")
    git(tracked, "switch", "-q", "main")
    git(tracked, "branch", "-D", "doomed")
    git(tracked, "reflog", "expire", "--expire=now", "--all")
    report = json.loads(bml(tracked, "gc", "--json").stdout)
    assert report["dead_files"] == 1 and report["freed_bytes"] > 250_000
    bml(tracked, "fsck", "--read-data", "--all")
    git(tracked, "stash", "pop", "-q")
    assert (tracked / "data" / "stashed.bin").read_bytes() == stashed
    git(tracked, "checkout", "-q", "v1")
    assert (tracked / "data" / "tagged.bin").read_bytes() == tagged
    assert (tracked / "data" / "base.bin").read_bytes() == base
    (wt / "data" / "wt.bin").unlink()
    git(wt, "checkout", "--", "data/wt.bin")
    assert (wt / "data" / "wt.bin").read_bytes() == staged_in_wt


def test_install_is_idempotent_and_chains_user_hooks(tmp_path):
    path = tmp_path / "r"
    git(tmp_path, "init", "-q", str(path))
    hook = path / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho user-hook-ran > \"$(git rev-parse --show-toplevel)/hook.txt\"\n")
    hook.chmod(0o755)
    bml(tmp_path, "init", str(path))
    bml(path, "install")
    bml(path, "init")
    assert (path / ".git" / "hooks" / "pre-commit.pre-branchml").exists()
    (path / "x.txt").write_text("x")
    git(path, "add", "x.txt")
    git(path, "commit", "-qm", "x")
    assert (path / "hook.txt").read_text().strip() == "user-hook-ran"
    assert git(path, "config", "--get-all", "filter.branchml.process").count("\n") == 1


def test_very_large_files_are_written_after_checkout_not_by_git(tracked):
    (tracked / "branchml.toml").write_text("[branchml]\nversion = 1\n\n[store]\ncheckout_in_git_max = 100000\n")
    big = random.Random(6).randbytes(3 << 20)
    (tracked / "data" / "big.bin").write_bytes(big)
    (tracked / "data" / "small.bin").write_bytes(b"s" * 5000)
    git(tracked, "add", ".")
    git(tracked, "commit", "-qm", "big")
    git(tracked, "switch", "-qc", "empty")
    git(tracked, "rm", "-rq", "data")
    git(tracked, "commit", "-qm", "rm")
    git(tracked, "switch", "-q", "main")  # smudge leaves big.bin as a pointer; post-checkout writes it
    assert (tracked / "data" / "big.bin").read_bytes() == big
    assert (tracked / "data" / "small.bin").read_bytes() == b"s" * 5000
    assert git(tracked, "status", "--porcelain") == ""


def test_install_materialises_files_checked_out_as_pointers(tracked):
    data = random.Random(7).randbytes(200_000)
    (tracked / "data" / "m.bin").write_bytes(data)
    git(tracked, "add", ".")
    git(tracked, "commit", "-qm", "m")
    # a plain `git clone` (no filter registered for this user): pointers land in the work tree
    copy = tracked.parent / "copy"
    git(tracked.parent, "clone", "-q", str(tracked), str(copy))
    assert (copy / "data" / "m.bin").read_bytes().startswith(b"branchml pointer v1")
    shutil.copytree(tracked / ".git" / "branchml", copy / ".git" / "branchml")  # content at hand
    bml(copy, "install")
    assert (copy / "data" / "m.bin").read_bytes() == data
    assert git(copy, "status", "--porcelain") == ""
