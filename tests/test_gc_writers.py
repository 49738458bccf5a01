"""gc against live writers: whatever lands between gc's mark and its sweep is never deleted.

gc is paused deterministically by its test-only hook (BRANCHML_TEST_GC_PAUSE, workflows/gc.py):
it stops after marking and again after locking, and each test lands a real `git add` in the window.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import bml, git, run

SIZE = 600_000


@pytest.fixture
def tracked(repo: Path) -> Path:
    bml(repo, "track", "data/**")
    (repo / "data").mkdir()
    (repo / "data" / "keep.bin").write_bytes(random.Random(0).randbytes(SIZE))
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    return repo


def make_dead(repo: Path, data: bytes) -> None:
    """Store `data`, then make it unreachable: committed on a branch that is deleted, reflogs expired."""
    git(repo, "switch", "-qc", "doomed")
    (repo / "data" / "doomed.bin").write_bytes(data)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "doomed")
    git(repo, "switch", "-q", "main")
    git(repo, "branch", "-D", "doomed")
    git(repo, "reflog", "expire", "--expire=now", "--all")


class PausedGc:
    """`branchml gc` in the background, stopped at each step until the test lets it go on."""

    def __init__(self, repo: Path, folder: Path) -> None:
        folder.mkdir()
        self.folder = folder
        env = {**os.environ, "BRANCHML_TEST_GC_PAUSE": str(folder)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "branchml", "gc", "--json"], cwd=repo, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )

    def reach(self, step: str) -> None:
        while not (self.folder / step).exists():
            assert self.proc.poll() is None, self.proc.communicate()
            time.sleep(0.02)

    def go(self, step: str) -> None:
        (self.folder / f"{step}.go").touch()

    def finish(self) -> dict:
        self.go("marked")
        self.go("locked")
        out, err = self.proc.communicate(timeout=120)
        assert self.proc.returncode == 0, err.decode()
        return json.loads(out)


def assert_restorable(repo: Path, path: str, data: bytes) -> None:
    bml(repo, "fsck", "--read-data")
    (repo / path).unlink()
    git(repo, "checkout", "--", path)
    assert (repo / path).read_bytes() == data


def new_content(repo: Path, rng: random.Random) -> bytes:
    return rng.randbytes(SIZE)


def dead_content_again(repo: Path, rng: random.Random) -> bytes:
    """The very bytes of a file gc marked dead: the writer stores nothing, it reuses the record."""
    data = rng.randbytes(SIZE)
    make_dead(repo, data)
    return data


def dead_chunks_reused(repo: Path, rng: random.Random) -> bytes:
    """A new file made mostly of a dead file's chunks: the writer deduplicates against them."""
    data = rng.randbytes(SIZE)
    make_dead(repo, data)
    return data + b"one more line\n"


@pytest.mark.parametrize("content", [new_content, dead_content_again, dead_chunks_reused])
@pytest.mark.parametrize("trial", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_git_add_between_gc_mark_and_sweep_is_kept(tracked, tmp_path, content, trial):
    data = content(tracked, random.Random(trial))
    gc = PausedGc(tracked, tmp_path / "pause")
    gc.reach("marked")
    (tracked / "data" / "new.bin").write_bytes(data)
    git(tracked, "add", "data/new.bin")
    gc.finish()
    assert_restorable(tracked, "data/new.bin", data)
    assert_restorable(tracked, "data/keep.bin", random.Random(0).randbytes(SIZE))


def test_content_written_but_not_yet_recorded_in_git_is_kept(tracked, tmp_path):
    """`git hash-object -w` cleans a file into the store but records it nowhere gc looks."""
    data = random.Random(7).randbytes(SIZE)
    (tracked / "data" / "loose.bin").write_bytes(data)
    gc = PausedGc(tracked, tmp_path / "pause")
    gc.reach("marked")
    blob = git(tracked, "hash-object", "-w", "data/loose.bin").strip()
    gc.finish()
    pointer = run(["git", "cat-file", "blob", blob], tracked).stdout
    assert bml(tracked, "cat", input=pointer).stdout == data


def test_writer_waits_for_the_sweep_and_then_stores(tracked, tmp_path):
    data = random.Random(8).randbytes(SIZE)
    make_dead(tracked, data)
    gc = PausedGc(tracked, tmp_path / "pause")
    gc.reach("marked")
    gc.go("marked")
    gc.reach("locked")  # gc holds gc.lock exclusively now
    (tracked / "data" / "late.bin").write_bytes(data)
    err = tmp_path / "add.err"
    with open(err, "wb") as sink:
        add = subprocess.Popen(["git", "add", "data/late.bin"], cwd=tracked, stderr=sink)
        while b"waiting for `branchml gc`" not in err.read_bytes():
            assert add.poll() is None, err.read_text()
            time.sleep(0.02)
        report = gc.finish()
        assert add.wait(timeout=120) == 0, err.read_text()
    assert report["dead_files"] == 1  # the doomed file, marked dead before the add reused it...
    assert_restorable(tracked, "data/late.bin", data)  # ...is kept: the add reused it after the mark


def test_gc_still_frees_what_nothing_reaches(tracked):
    make_dead(tracked, random.Random(9).randbytes(SIZE))
    report = json.loads(bml(tracked, "gc", "--json").stdout)
    assert report["dead_files"] == 1 and report["freed_bytes"] > SIZE // 2
    assert json.loads(bml(tracked, "gc", "--json").stdout)["dead_files"] == 0
    assert_restorable(tracked, "data/keep.bin", random.Random(0).randbytes(SIZE))


def test_identical_content_stored_twice_at_once_is_reclaimed(tracked):
    """Two writers storing the same new chunks at once each append them to their own pack; the
    index keeps one copy, and gc reclaims the other."""
    data = random.Random(10).randbytes(SIZE)
    (tracked / "data" / "a.bin").write_bytes(data)
    (tracked / "data" / "b.bin").write_bytes(data)
    sys_path = os.environ["PYTHONPATH"]
    code = (
        "import sys; from branchml.store.store import Store; from pathlib import Path\n"
        "s = Store(Path(sys.argv[1])); w = s.writer(); p = w.add_stream(open(sys.argv[2], 'rb'))\n"
        "print('added', flush=True); sys.stdin.readline(); w.close()\n"
    )
    store = tracked / ".git" / "branchml"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(store), str(tracked / "data" / n)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": sys_path})
        for n in ("a.bin", "b.bin")
    ]
    for p in procs:
        assert p.stdout.readline() == b"added\n"  # both wrote their chunks before either indexed them
    for p in procs:
        p.communicate(b"\n", timeout=60)
    before = json.loads(bml(tracked, "stats", "--json").stdout)["pack_bytes"]
    git(tracked, "add", ".")
    git(tracked, "commit", "-qm", "twins")
    bml(tracked, "gc")
    after = json.loads(bml(tracked, "stats", "--json").stdout)["pack_bytes"]
    assert before - after > SIZE * 0.9
    assert_restorable(tracked, "data/b.bin", data)


def test_gc_copies_only_verified_chunks_and_keeps_the_damaged_pack_saying_so(tracked):
    """A pack with garbage and a corrupt live chunk: gc copies the intact records, leaves the corrupt
    chunk out (named), and moves the old pack to damaged/ instead of deleting the only copy."""
    live = random.Random(11).randbytes(SIZE)
    (tracked / "data" / "a_live.bin").write_bytes(live)
    (tracked / "data" / "z_gone.bin").write_bytes(random.Random(12).randbytes(SIZE))
    git(tracked, "add", ".")
    git(tracked, "commit", "-qm", "two files, one pack")
    git(tracked, "rm", "-q", "data/z_gone.bin")
    git(tracked, "commit", "-q", "--amend", "-m", "one file; the other is garbage now")
    git(tracked, "reflog", "expire", "--expire=now", "--all")
    pack = max((tracked / ".git" / "branchml" / "packs").glob("*.pack"), key=lambda p: p.stat().st_mtime)
    pack.chmod(0o644)
    with open(pack, "r+b") as f:  # a_live.bin was cleaned first: its chunks open the pack
        f.seek(5000)
        f.write(b"\xff" * 8)
    report = json.loads(bml(tracked, "gc", "--json").stdout)
    assert len(report["dropped_corrupt"]) == 1, (report, sorted(p.name for p in pack.parent.glob("*")), pack.name)
    kept = Path(report["damaged_packs"][0])
    assert kept.parent.name == "damaged" and kept.read_bytes()[5000:5008] == b"\xff" * 8
    text = bml(tracked, "gc").stdout.decode()  # nothing more to do, and nothing hidden
    assert "freed 0 B" in text
    fsck = bml(tracked, "fsck", "--read-data", "--json", check=False)
    assert {p for item in json.loads(fsck.stdout) for p in item["paths"]} == {"data/a_live.bin"}
    (tracked / "data" / "a_live.bin").write_bytes(live)  # the hint: put the original back and add it
    git(tracked, "add", "data/a_live.bin")
    assert_restorable(tracked, "data/a_live.bin", live)


def test_a_long_lived_index_names_the_right_pack_after_another_process_gc_reused_its_id(repo):
    """SQLite gives a deleted pack's id to the next pack written: a reader open across another process's
    gc (serve, gateway, ui) must not name the deleted pack for the id (it did, from a cache of names)."""
    from branchml.repo import Repo
    from branchml.store import parse_pointer

    bml(repo, "track", "data/**")
    (repo / "data").mkdir()
    (repo / "data" / "a.bin").write_bytes(random.Random(1).randbytes(SIZE))
    (repo / "data" / "dead.bin").write_bytes(random.Random(2).randbytes(SIZE))
    git(repo, "add", ".")  # one pack: gc must rewrite it without dead.bin
    git(repo, "rm", "-q", "--cached", "data/dead.bin")
    git(repo, "commit", "-qm", "a")
    store = Repo.find(repo).store  # long-lived: stays open while another process collects
    record = store.file_record(parse_pointer(git(repo, "show", "HEAD:data/a.bin").encode()).oid)
    assert record is not None
    ids = record.chunk_list()
    before = store.index.chunk_locations(ids)
    (old_pack,) = {loc.pack for loc in before.values()}
    old_id = store.index.db.execute("SELECT id FROM packs WHERE name=?", (old_pack,)).fetchone()[0]

    bml(repo, "gc")  # a second process: deletes the pack and writes its live chunks to a new one

    after = store.index.chunk_locations(ids)
    (new_pack,) = {loc.pack for loc in after.values()}
    reused = store.index.db.execute("SELECT id FROM packs WHERE name=?", (new_pack,)).fetchone()
    assert new_pack != old_pack and not (store.packs_dir / old_pack).exists()
    assert reused == (old_id,)  # the case this test is about: the new pack got the old pack's id
    assert b"".join(store.read_chunk(cid, after[cid]) for cid in ids) == (repo / "data" / "a.bin").read_bytes()
    assert {name for _, _, _, name in store.index.iter_files_with_pack()} == {new_pack}
