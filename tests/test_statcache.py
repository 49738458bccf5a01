"""The clean filter's stat cache (git/statcache.py) through real Git: a racily clean file is answered
from its record, and nothing else is: edits in place that keep the size and the mtime, a file
replaced by another, other content cleaned under the file's name, a record younger than the clock.

To see which answer the filter gave, tests plant a record of the file as it is with a wrong (stored)
oid: an answer from the record then shows that oid, a full clean the content's own BLAKE3. Making a
record takes a `git add` within the second the file was written (the only files Git cleans again),
which only the first test waits for."""

from __future__ import annotations

import os
import random
import sqlite3
import time
from pathlib import Path

import blake3
import pytest

from branchml.git.statcache import SETTLE_NS, FileStat, now_ns
from branchml.store import parse_pointer
from branchml.store.index import Index
from conftest import bml, git

SIZE = 3 << 20  # above the filter's in-memory limit: the streamed path, which the cache serves


@pytest.fixture
def tracked(repo: Path) -> Path:
    bml(repo, "track", "data/**")
    (repo / "data").mkdir()
    return repo


def index_db(repo: Path) -> sqlite3.Connection:
    return sqlite3.connect(repo / ".git" / "branchml" / "index.db")


def record_of(repo: Path, rel: str) -> tuple | None:
    with index_db(repo) as db:
        return db.execute("SELECT size, mtime_ns, ctime_ns, inode, device, oid FROM clean_stats WHERE path=?",
                          (str(repo / rel),)).fetchone()


def plant(repo: Path, rel: str, oid: bytes) -> None:
    """Record `rel`, as it is now, with `oid` (a file that is stored, and not this one's content)."""
    st = os.lstat(repo / rel)
    with index_db(repo) as db:
        db.execute("INSERT OR REPLACE INTO clean_stats VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (str(repo / rel), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev, oid))


def cleaned_oid(repo: Path, rel: str, source: str | None = None) -> str:
    """What the filter answers for `source`'s bytes cleaned under the name `rel` (Git always cleans here)."""
    blob = git(repo, "hash-object", "-w", f"--path={rel}", source or rel).strip()
    return parse_pointer(git(repo, "cat-file", "blob", blob).encode(), rel).oid


def add_while_racy(repo: Path, rel: str, data: bytes) -> None:
    """Write `data` early in a second and `git add` it in the same second, as a user's quick
    `git add` after saving does; retried when the machine was too slow for that (no record then)."""
    for _ in range(10):
        time.sleep(1 - time.time() % 1 + 0.01)
        (repo / rel).write_bytes(data)
        time.sleep(SETTLE_NS / 1e9 * 2)  # the record needs timestamps older than the clock tick
        git(repo, "add", rel)
        if record_of(repo, rel) is not None:
            return
    pytest.skip("machine too loaded: in ten tries `git add` never started within the second its file was written")


def other_stored_oid(repo: Path) -> bytes:
    """The oid of another stored file of the same size (a planted record must name a stored file)."""
    (repo / "data" / "other.bin").write_bytes(random.Random(99).randbytes(SIZE))
    git(repo, "add", "data/other.bin")
    return bytes.fromhex(parse_pointer(git(repo, "show", ":data/other.bin").encode(), "data/other.bin").oid)


@pytest.mark.slow  # a few 3 MiB adds, waiting for second boundaries
def test_a_racily_clean_file_is_answered_from_its_record_and_committed_right(tracked):
    data = random.Random(1).randbytes(SIZE)
    add_while_racy(tracked, "data/x.bin", data)
    git(tracked, "commit", "-qm", "x")  # Git cleans the racily clean entry again: answered from the record
    assert parse_pointer(git(tracked, "show", "HEAD:data/x.bin").encode(), "x").oid == blake3.blake3(data).hexdigest()
    wrong = other_stored_oid(tracked)
    plant(tracked, "data/x.bin", wrong)
    assert cleaned_oid(tracked, "data/x.bin") == wrong.hex()  # the record answered: no hashing


@pytest.mark.slow
def test_an_edit_in_place_keeping_size_and_mtime_is_cleaned_again(tracked):
    path = tracked / "data" / "x.bin"
    path.write_bytes(random.Random(2).randbytes(SIZE))
    git(tracked, "add", "data/x.bin")
    plant(tracked, "data/x.bin", other_stored_oid(tracked))
    before = os.stat(path)
    with open(path, "r+b") as f:  # same size, one byte changed in the middle
        f.seek(SIZE // 2)
        f.write(b"\x00" if f.read(1) != b"\x00" else b"\x01")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the mtime put back
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
    assert cleaned_oid(tracked, "data/x.bin") == blake3.blake3(path.read_bytes()).hexdigest()  # the ctime caught it


@pytest.mark.slow
def test_a_file_replaced_by_another_with_the_same_size_and_times_is_cleaned_again(tracked):
    path = tracked / "data" / "x.bin"
    path.write_bytes(random.Random(3).randbytes(SIZE))
    git(tracked, "add", "data/x.bin")
    plant(tracked, "data/x.bin", other_stored_oid(tracked))
    before = os.stat(path)
    replacement = tracked / "data" / "x.new"
    replacement.write_bytes(random.Random(4).randbytes(SIZE))
    os.utime(replacement, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(replacement, path)  # another inode under the same name
    assert cleaned_oid(tracked, "data/x.bin") == blake3.blake3(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_other_content_cleaned_under_a_recorded_name_is_hashed(tracked):
    """`git hash-object --path=P other` cleans other bytes under P's name while P's record holds:
    the comparison with P's bytes fails (here only in the last block) and the full clean answers."""
    data = random.Random(5).randbytes(SIZE)
    (tracked / "data" / "x.bin").write_bytes(data)
    git(tracked, "add", "data/x.bin")
    plant(tracked, "data/x.bin", other_stored_oid(tracked))
    other = tracked / "elsewhere.bin"
    for changed in (data[:-1] + bytes([data[-1] ^ 1]), data + b"tail", data[: SIZE // 2]):
        other.write_bytes(changed)
        assert cleaned_oid(tracked, "data/x.bin", str(other)) == blake3.blake3(changed).hexdigest()


def test_a_record_needs_timestamps_older_than_the_clock_tick(tmp_path):
    """An edit in the same clock tick as a record keeps every stat field; so a file is recorded only
    when its timestamps are older than a moment before Git began sending it, by more than a tick."""
    path = tmp_path / "f"
    path.write_bytes(b"a" * 10)
    start = now_ns()
    path.write_bytes(b"b" * 10)  # most often the same tick: the stat cannot tell the two apart
    stat = FileStat.of(path)
    assert stat is not None and not stat.settled_before(start) and not stat.settled_before(now_ns())
    assert stat.settled_before(max(stat.mtime_ns, stat.ctime_ns) + SETTLE_NS + 1)
    os.utime(path, ns=(10**18, 10**18))  # whole seconds (as FAT or ext3 keep them), but ctime is now
    assert FileStat.of(path).settled_before(10**18 + SETTLE_NS + 1) is False  # the ctime is not old enough
    assert FileStat.of(tmp_path / "missing") is None and FileStat.of(tmp_path) is None


def test_the_records_are_bounded_newest_kept(tmp_path):
    index = Index(tmp_path / "index.db")
    for n in range(5):
        index.remember_clean_stats({f"/p{n}": ((n, n, n, n, n), b"o" * 32), "/p0": ((9, 9, 9, 9, 9), b"z" * 32)}, keep=3)
    kept = [row[0] for row in index.db.execute("SELECT path FROM clean_stats ORDER BY rowid")]
    assert len(kept) == 3 and "/p4" in kept and "/p0" in kept  # /p0 rewritten each time: among the newest
    assert index.clean_stat("/p0") == ((9, 9, 9, 9, 9), b"z" * 32)
    index.close()
