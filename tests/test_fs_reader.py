"""branchml:// reads keep the chunk locations they looked up (one index query per file, not per
read), and stay exact when gc moves those chunks to another pack in the middle of a read."""

from __future__ import annotations

import fsspec

from conftest import bml, git
from remote_support import commit_all, write_random


def test_a_reader_reads_exact_bytes_after_gc_moves_its_chunks_mid_read(repo):
    bml(repo, "track", "data/**")
    commit_all(repo, "track")
    write_random(repo / "data" / "a.bin", 2 << 20, 1)
    write_random(repo / "data" / "dead.bin", 1 << 20, 2)
    git(repo, "add", "-A")  # both in one pack: gc must rewrite it to drop dead.bin
    git(repo, "rm", "-q", "--cached", "data/dead.bin")
    (repo / "data" / "dead.bin").unlink()
    git(repo, "commit", "-qm", "a")
    expected = (repo / "data" / "a.bin").read_bytes()
    packs = repo / ".git" / "branchml" / "packs"
    before = {p.name for p in packs.glob("*.pack")}
    fs = fsspec.filesystem("branchml", repo=str(repo), skip_instance_cache=True)
    with fs.open("main/data/a.bin", "rb", block_size=256 << 10) as f:  # locations looked up here
        bml(repo, "gc")
        head = f.read(300_000)  # the old pack is gone: not even opened before gc deleted it
        assert not before & {p.name for p in packs.glob("*.pack")}  # every location it kept is stale
        bml(repo, "gc")  # and once more, with the new pack open
        rest = f.read()
    assert head + rest == expected
