"""`branchml merge-driver` as Git runs it: exit codes, pointers through the store, nothing partial."""

from __future__ import annotations

import json
from pathlib import Path

from branchml.repo import Repo
from branchml.store.pointer import Pointer, parse_pointer
from conftest import bml


def sides(tmp: Path, base: bytes, ours: bytes, theirs: bytes) -> tuple[Path, Path, Path]:
    paths = (tmp / "O", tmp / "A", tmp / "B")
    for path, data in zip(paths, (base, ours, theirs)):
        path.write_bytes(data)
    return paths


def driver(cwd: Path, name: str, o: Path, a: Path, b: Path, path: str):
    return bml(cwd, "merge-driver", name, str(o), str(a), str(b), path, "7", check=False)


def test_add_add_without_a_base_appends_both_sides(tmp_path):
    o, a, b = sides(tmp_path, b"", b'{"x": 1}\n', b'{"x": 2}\n')
    proc = driver(tmp_path, "rows", o, a, b, "data/new.jsonl")
    assert proc.returncode == 0, proc.stderr
    assert a.read_bytes() == b'{"x": 1}\n{"x": 2}\n'


def test_content_that_cannot_be_merged_is_a_conflict_and_keeps_ours(tmp_path):
    o, a, b = sides(tmp_path, b"[1]", b"[1, 2]", b"[1, oops")
    proc = driver(tmp_path, "jsonlist", o, a, b, "tracking/runs.json")
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert "tracking/runs.json: theirs is not valid JSON" in err and "git checkout --theirs" in err
    assert a.read_bytes() == b"[1, 2]"


def test_unknown_driver_is_an_error_above_128(tmp_path):
    o, a, b = sides(tmp_path, b"1\n", b"2\n", b"3\n")
    proc = driver(tmp_path, "union", o, a, b, "x.txt")
    assert proc.returncode == 129
    assert "unknown merge driver 'union'" in proc.stderr.decode()
    assert a.read_bytes() == b"2\n"


def test_an_unexpected_failure_is_an_error_never_a_conflict(tmp_path):
    o, a, b = sides(tmp_path, b"1\n", b"2\n", b"3\n")
    a.unlink()
    a.mkdir()  # Git would never do this: the driver cannot read ours
    proc = driver(tmp_path, "rows", o, a, b, "data/x.csv")
    assert proc.returncode == 129
    assert "data/x.csv: unexpected error" in proc.stderr.decode()


def test_pointer_sides_merge_through_the_store(repo, tmp_path):
    store = Repo.find(repo).store
    base = b"id,v\n" + b"".join(b"%d,%s\n" % (i, b"y" * 40) for i in range(3000))
    ptrs = [store.put_bytes(data) for data in (base, base + b"ours,1\n", base + b"theirs,2\n")]
    store.close()
    o, a, b = sides(tmp_path, *(p.encode() for p in ptrs))
    proc = driver(repo, "rows", o, a, b, "data/big.csv")
    assert proc.returncode == 0, proc.stderr
    merged = parse_pointer(a.read_bytes())
    assert Repo.find(repo).store.read_file(merged) == base + b"ours,1\ntheirs,2\n"


def test_a_pointer_whose_content_is_missing_stops_with_an_error_naming_the_path(repo, tmp_path):
    store = Repo.find(repo).store
    base = store.put_bytes(b'[{"run": 1}]').encode()
    ours = store.put_bytes(b'[{"run": 1}, {"run": 2}]').encode()
    store.close()
    missing = Pointer("ab" * 32, 12).encode()
    o, a, b = sides(tmp_path, base, ours, missing)
    proc = driver(repo, "jsonlist", o, a, b, "tracking/runs.json")
    assert proc.returncode == 129
    err = proc.stderr.decode()
    assert "tracking/runs.json" in err and "not in the store" in err
    assert json.loads(Repo.find(repo).store.read_file(parse_pointer(a.read_bytes()))) == [{"run": 1}, {"run": 2}]


def test_replace_answers_the_incoming_pointer_without_reading_content(repo, tmp_path):
    incoming = Pointer("cd" * 32, 10_000_000).encode()  # not even in the store: replace needs no content
    o, a, b = sides(tmp_path, Pointer("ef" * 32, 5).encode(), Pointer("01" * 32, 6).encode(), incoming)
    proc = driver(repo, "replace", o, a, b, "models/model.bin")
    assert proc.returncode == 0, proc.stderr
    assert a.read_bytes() == incoming
