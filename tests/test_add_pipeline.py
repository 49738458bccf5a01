"""The add pipeline (docs/add.md) through real `git add`: blocks, following the previous version's
chunks past a change, exact cuts, and a kill -9 in the middle of a re-add."""

from __future__ import annotations

import random
from pathlib import Path

import blake3
import pytest
from pyfastcdc import FastCDC

from branchml.store import Store, parse_pointer
from branchml.store.store import AVG_CHUNK, MAX_CHUNK, MIN_CHUNK
from conftest import bml, git
from kill_helpers import add_killed_midway


def canonical_ids(data: bytes) -> bytes:
    cdc = FastCDC(AVG_CHUNK, min_size=MIN_CHUNK, max_size=MAX_CHUNK)
    return b"".join(blake3.blake3(c.data).digest() for c in cdc.cut_buf(data))


def staged_chunk_ids(repo: Path, path: str) -> tuple[bytes, int]:
    """The chunk list of what the index stages at `path`, and the store's chunk count."""
    pointer = parse_pointer(git(repo, "show", f":{path}").encode(), path)
    with Store(repo / ".git" / "branchml", create=False) as store:
        record = store.file_record(pointer.oid)
        assert record is not None
        return record.chunk_ids, store.stats()["chunks"]


@pytest.fixture
def tracked(repo: Path) -> Path:
    bml(repo, "track", "data/**")
    (repo / "data").mkdir()
    return repo


@pytest.mark.slow  # 2 x 10 MiB through the filter
def test_a_readd_after_an_insertion_stores_only_the_chunks_around_it_and_cuts_as_a_full_cut(tracked):
    rng = random.Random(8)
    base = rng.randbytes(10 << 20)
    target = tracked / "data" / "x.bin"
    target.write_bytes(base)
    git(tracked, "add", "data")
    git(tracked, "commit", "-qm", "v1")
    _ids, chunks_before = staged_chunk_ids(tracked, "data/x.bin")
    data = base[: 5 << 20] + rng.randbytes(3000) + base[5 << 20 :]
    data = data[:100] + bytes([data[100] ^ 1]) + data[101:]  # and one byte changed in the first chunk
    target.write_bytes(data)
    git(tracked, "add", "data")  # the filter follows the path's previous version (path hint)
    ids, chunks_after = staged_chunk_ids(tracked, "data/x.bin")
    assert ids == canonical_ids(data)
    assert chunks_after - chunks_before <= 6  # the changed chunks, not the file
    git(tracked, "commit", "-qm", "v2")
    target.unlink()
    git(tracked, "checkout", "--", "data/x.bin")
    assert target.read_bytes() == data


@pytest.mark.slow  # a few rounds of 16 MiB through the filter, killed at random points
def test_sigkill_during_a_readd_that_follows_the_previous_version_leaves_the_store_consistent(tracked):
    rng = random.Random(12)
    base = rng.randbytes(16 << 20)
    target = tracked / "data" / "x.bin"
    target.write_bytes(base)
    git(tracked, "add", "data")
    git(tracked, "commit", "-qm", "v1")
    for round_no in range(4):
        data = bytearray(base)
        at = rng.randrange(len(data) - 200_000)
        data[at : at + 150_000] = rng.randbytes(150_000)
        target.write_bytes(data)
        add_killed_midway(tracked, rng.uniform(0.05, 0.5))
        git(tracked, "add", "data")
        assert staged_chunk_ids(tracked, "data/x.bin")[0] == canonical_ids(bytes(data)), f"round {round_no}"
        target.unlink()
        git(tracked, "checkout", "--", "data/x.bin")
        assert target.read_bytes() == bytes(data), f"round {round_no}"
    bml(tracked, "fsck", "--read-data")
