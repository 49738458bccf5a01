"""The record merges scale: operations grow no faster than n log n, memory stays bounded.

Never wall time: the work is counted (Python and C function calls seen by a profiler) at n and 2n,
and memory is measured with tracemalloc (in-process) or the child's peak RSS (the real driver).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from branchml.merge.jsonlist import merge_jsonlist
from branchml.merge.rows import format_for, merge_rows


def calls_during(fn) -> int:
    """How many Python and C function calls `fn()` makes: a measure of work that does not depend on load."""
    count = 0

    def profile(frame, event, arg):
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return count


def json_list(n: int) -> list:
    return [{"run": i, "loss": i / 7, "tags": ["a", "b"]} for i in range(n)]


def jsonlist_merge(n: int, key: str | None) -> int:
    base = json_list(n)
    sides = [json.dumps(x, indent=2).encode() for x in (base, base + [{"run": "ours"}], base + [{"run": "theirs"}])]
    return calls_during(lambda: merge_jsonlist(*sides, key=key))


def rows_merge(n: int, key: str | None) -> int:
    base = b"id,v\n" + b"".join(b"%d,%d\n" % (i, i * 3) for i in range(n))
    ours = base.replace(b"\n5,15\n", b"\n5,16\n") + b"ours,1\n"  # an edit in the middle: not the append path
    theirs = base + b"theirs,1\n"
    return calls_during(lambda: merge_rows(base, ours, theirs, fmt=format_for("x.csv"), key=key))


@pytest.mark.parametrize("key", [None, "run"])
def test_jsonlist_merge_work_grows_linearly(key):
    small, large = jsonlist_merge(4000, key), jsonlist_merge(8000, key)
    assert large < 2.6 * small, (small, large)  # quadratic would be 4x


@pytest.mark.parametrize("key", [None, "id"])
def test_rows_merge_work_grows_linearly(key):
    small, large = rows_merge(4000, key), rows_merge(8000, key)
    assert large < 2.6 * small, (small, large)


def peak_traced(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_streamed_merge_memory_does_not_grow_with_the_input(tmp_path, monkeypatch):
    """With a small spill limit and small reads, doubling the input leaves the in-memory peak almost unchanged."""
    from branchml.merge import external

    monkeypatch.setattr(external, "HELD_BYTES", 256 << 10)
    monkeypatch.setattr(external, "BLOCK", 32 << 10)  # reads of 32 KiB: both inputs are many blocks long
    monkeypatch.setattr(external, "BUCKET_INPUT", 64 << 10)  # and many buckets (2 MiB of input each, unpatched)

    def merge(n: int) -> int:
        rows = [b"%d,%s\n" % (i, b"x" * 60) for i in range(n)]
        paths = []
        for name, body in (("O", rows), ("A", rows[1:] + [b"a,1\n"]), ("B", rows + [b"b,1\n"])):
            (tmp_path / name).write_bytes(b"id,v\n" + b"".join(body))
            paths.append(tmp_path / name)
        sources = [external.Source(name, path=p) for name, p in zip(("base", "ours", "theirs"), paths)]
        from branchml.merge.rows import RowsCodec

        codec = RowsCodec(format_for("x.csv"), "id", 7)
        with open(tmp_path / "out", "wb") as out:
            peak = peak_traced(lambda: external.merge(codec, *sources, out, tmp_path))
            return peak

    small, large = merge(8_000), merge(16_000)
    assert large < 1.3 * small + (64 << 10), (small, large)


def peak_rss_kib(args: list[str], cwd: Path) -> int:
    """Run `args` under a fresh Python whose only child it is; return that child's peak RSS (KiB)."""
    probe = ("import resource, subprocess, sys\n"
             "code = subprocess.run(sys.argv[1:]).returncode\n"
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
             "sys.exit(code)\n")
    proc = subprocess.run([sys.executable, "-c", probe, *args], cwd=cwd, capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    return int(proc.stdout.split()[-1])


@pytest.mark.slow
def test_driver_merges_large_row_files_in_bounded_memory(tmp_path):
    """A real driver process on 3 x ~120 MB JSON Lines sides (edits, not appends): peak RSS far below their size."""
    line = lambda i, tag=b"": b'{"id": %d, "text": "%s", "tag": "%s"}\n' % (i, b"t" * 80, tag)
    n, expected = 1_100_000, 1
    with open(tmp_path / "O", "wb") as o, open(tmp_path / "A", "wb") as a, open(tmp_path / "B", "wb") as b:
        for i in range(n):
            o.write(line(i))
            a.write(line(i, b"ours") if i % 1000 == 0 else line(i))
            if i % 997:
                b.write(line(i))
            expected += bool(i % 997) or i % 1000 == 0  # theirs' deletions win where ours left the row alone
        b.write(line(n, b"theirs"))
    peak = peak_rss_kib([sys.executable, "-m", "branchml", "merge-driver", "rows", "O", "A", "B", "x.jsonl", "7"], tmp_path)
    assert peak < 160 * 1024, f"peak RSS {peak} KiB"
    merged = (tmp_path / "A").read_bytes()
    assert merged.count(b"\n") == expected and merged.endswith(line(n, b"theirs"))
    assert line(1000, b"ours") in merged and line(1000) not in merged
