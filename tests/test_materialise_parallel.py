"""Several large files written at once after a checkout (checkout.WRITERS threads, each file front
to back: store/restore.py). Real Git; the size threshold is lowered so small files take this road."""

from __future__ import annotations

from pathlib import Path

from conftest import bml, git, run
from materialise_helpers import corrupt_one_chunk, two_branches
from remote_support import digests


def test_files_of_one_name_in_several_folders_are_written_at_once_byte_identical(lowered):
    # the writers run side by side: each temp file must be its own (one name per folder would collide)
    sizes = {f"{d}/model.bin": (3 << 20) + i * 4099 for i, d in enumerate("wxyz")}
    expected = two_branches(lowered, sizes)
    for branch in ("main", "b", "main"):
        proc = run(["git", "switch", "-q", branch], lowered)
        assert b"wrote 4 large file(s)" in proc.stderr
        assert digests(lowered, ("data",)) == expected[branch]
        assert git(lowered, "status", "--porcelain") == ""
    assert not list((lowered / ".git" / "branchml" / "tmp").glob("checkout-*"))


def test_corrupt_chunks_fail_only_their_files_while_the_others_are_written(lowered):
    names = [f"f{i}.bin" for i in range(6)]
    expected = two_branches(lowered, {n: 1 << 20 for n in names})
    bad = {"f1.bin", "f4.bin"}
    pointers = {n: git(lowered, "show", f"main:data/{n}") for n in bad}
    for n in sorted(bad):
        corrupt_one_chunk(lowered, pointers[n].split("blake3:")[1].split()[0])
    proc = run(["git", "switch", "-q", "main"], lowered, check=False)
    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert "2 file(s) could not be written" in err and "data/f1.bin" in err and "data/f4.bin" in err
    got = digests(lowered, ("data",))
    for n in names:
        if n in bad:
            assert (lowered / "data" / n).read_text() == pointers[n]  # the pointer, never wrong bytes
        else:
            assert got[f"data/{n}"] == expected["main"][f"data/{n}"]
    assert git(lowered, "status", "--porcelain") == ""  # the written files' stat data is recorded
    assert not list((lowered / ".git" / "branchml" / "tmp").glob("checkout-*"))


def test_a_file_written_while_a_later_one_fails_keeps_its_content(lowered: Path):
    # `branchml install` materialises without keep-going: the first failure is raised, the files
    # already being written are finished (exact content, stat data recorded), none holds wrong bytes
    names = [f"f{i}.bin" for i in range(4)]
    expected = two_branches(lowered, {n: 1 << 20 for n in names})
    git(lowered, "switch", "-q", "main")
    pointer = git(lowered, "show", "b:data/f2.bin")
    corrupt_one_chunk(lowered, pointer.split("blake3:")[1].split()[0])
    run(["git", "-c", "core.hooksPath=/dev/null", "switch", "-q", "b"], lowered)  # pointers only
    proc = bml(lowered, "install", check=False)
    assert proc.returncode != 0 and b"data/f2.bin" in proc.stderr
    got = digests(lowered, ("data",))
    for n in names:
        text = (lowered / "data" / n).read_bytes()
        assert text.startswith(b"branchml pointer v1\n") or got[f"data/{n}"] == expected["b"][f"data/{n}"]
    assert (lowered / "data" / "f2.bin").read_text() == pointer
    assert git(lowered, "status", "--porcelain") == ""  # written or still the pointer: both as staged
    assert not list((lowered / ".git" / "branchml" / "tmp").glob("checkout-*"))
