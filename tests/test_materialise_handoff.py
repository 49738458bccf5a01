"""Large files written ahead by the filter process while Git goes on, renamed into place by the
post-checkout hook (store/handoff.py). Real Git; the size threshold is lowered so small files take
the large-file road."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from branchml.store import handoff
from conftest import git, run
from materialise_helpers import corrupt_one_chunk, two_branches
from remote_support import digests


def temps(repo: Path) -> list[Path]:
    return list((repo / ".git" / "branchml" / "tmp").glob("checkout-*"))


def test_the_filter_writes_ahead_and_the_hook_renames_byte_identical_with_clean_status(lowered):
    sizes = {f"f{i}.bin": (1 << 20) + i * 4099 for i in range(4)}
    expected = two_branches(lowered, sizes)
    for branch in ("main", "b", "main"):
        proc = run(["git", "switch", "-q", branch], lowered)
        assert b"wrote 4 large file(s) after checkout, 4 of them written ahead while Git was busy" in proc.stderr
        assert digests(lowered, ("data",)) == expected[branch]
        assert git(lowered, "status", "--porcelain") == ""
        assert not temps(lowered)  # nothing left when the filter exits with Git


def test_without_write_ahead_the_hook_writes_everything_itself(lowered):
    expected = two_branches(lowered, {"a.bin": 1 << 20, "b.bin": 1 << 20})
    proc = subprocess.run(["git", "switch", "-q", "main"], cwd=lowered, capture_output=True,
                          env={**os.environ, handoff.FILTER_WRITES_ENV: "0"})
    assert proc.returncode == 0 and b"wrote 2 large file(s) after checkout\n" in proc.stderr
    assert digests(lowered, ("data",)) == expected["main"]


def test_a_corrupt_chunk_fails_only_its_file_and_the_checkout_with_write_ahead(lowered):
    # the filter's attempt fails quietly and sets nothing aside; the hook tries again and reports
    expected = two_branches(lowered, {"bad.bin": 1 << 20, "good.bin": 1 << 20})
    pointer = git(lowered, "show", "main:data/bad.bin")
    corrupt_one_chunk(lowered, pointer.split("blake3:")[1].split()[0])
    proc = run(["git", "switch", "-q", "main"], lowered, check=False)
    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert "data/bad.bin" in err and "corrupt" in err and "1 file(s) could not be written" in err
    assert digests(lowered, ("data",))["data/good.bin"] == expected["main"]["data/good.bin"]
    assert (lowered / "data" / "bad.bin").read_text() == pointer
    assert not temps(lowered)


def test_smudges_that_are_not_checkouts_write_nothing_ahead(lowered):
    # `git archive` and `git reset --hard` smudge too: no post-checkout hook takes the files, so the
    # filter must leave none behind (archive: the work-tree files are not the pointers it answered)
    expected = two_branches(lowered, {"a.bin": 1 << 20})
    archive = run(["git", "archive", "--format=tar", "main", "data/a.bin"], lowered).stdout
    assert b"branchml pointer v1" in archive  # large files leave Git's pipe as pointers
    assert not temps(lowered)
    git(lowered, "reset", "-q", "--hard", "main")  # no hook runs: the file stays a pointer
    assert (lowered / "data" / "a.bin").read_bytes().startswith(b"branchml pointer v1\n")
    assert git(lowered, "status", "--porcelain") == ""
    assert not temps(lowered)
    git(lowered, "checkout", "-q", "-f", "main")
    assert digests(lowered, ("data",)) == expected["main"]


def test_a_copy_is_claimed_only_from_a_live_writer(tmp_path):
    # a finished copy is trusted only while its writer holds its lock: alive, so verified in this boot
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    oid = "ab" * 32
    dead = handoff.ready_path(tmp, 999_999_999, oid)
    dead.write_bytes(b"left by a writer that is gone (an empty file after a power loss, say)")
    assert not handoff.claim(tmp, oid, tmp_path / "into")
    with handoff.writer_lock(tmp):
        live = handoff.ready_path(tmp, os.getpid(), oid)
        live.write_bytes(b"verified")
        assert handoff.claim(tmp, oid, tmp_path / "into")
        assert (tmp_path / "into").read_bytes() == b"verified" and not live.exists()
        assert not handoff.claim(tmp, oid, tmp_path / "again")  # one claim per copy


@pytest.mark.slow
def test_kill_9_while_the_filter_writes_ahead_leaves_no_wrong_bytes_and_checkout_f_restores(lowered):
    sizes = {"a.bin": 24 << 20, "b.bin": 24 << 20, "c.bin": 24 << 20}
    expected = two_branches(lowered, sizes)
    killed = False
    for _attempt in range(5):
        proc = subprocess.Popen(["git", "switch", "-q", "main"], cwd=lowered, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while proc.poll() is None and not [p for p in temps(lowered) if "-h-" in p.name]:
            time.sleep(0.001)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # Git, its filter and whatever hook: all at once
            proc.wait()
            killed = True
            break
        git(lowered, "switch", "-q", "b")  # too quick to catch: go back and try again
    assert killed, "the filter never got caught writing ahead"
    (lowered / ".git" / "index.lock").unlink(missing_ok=True)  # Git's own lock, as Git's message says
    for name in sizes:  # Git's unlink-then-create may leave a file out; none holds wrong bytes
        path = lowered / "data" / name
        if path.exists():
            data = path.read_bytes()
            assert data.startswith(b"branchml pointer v1\n") or digests(lowered, ("data",))[f"data/{name}"] in (
                expected["main"][f"data/{name}"], expected["b"][f"data/{name}"])
    git(lowered, "checkout", "-q", "-f", "main")
    assert digests(lowered, ("data",)) == expected["main"]
    assert git(lowered, "status", "--porcelain") == ""
    assert not temps(lowered)  # the killed filter's files were cleared


def test_a_file_changed_after_git_wrote_its_pointer_is_left_as_it_is(lowered):
    # the filter writes ahead, but only the hook renames, and only over the very pointer it staged:
    # an edit made after Git wrote the pointer (here by a hook of the user's, run first) is kept
    expected = two_branches(lowered, {"a.bin": 1 << 20, "b.bin": 1 << 20})
    hooks = lowered / ".git" / "hooks"
    mine = b"edited between Git's write and our hook"
    (hooks / "post-checkout.pre-branchml").write_text("#!/bin/sh\nprintf '%s' \"$MINE\" > data/a.bin\n")
    (hooks / "post-checkout.pre-branchml").chmod(0o755)
    proc = subprocess.run(["git", "switch", "-q", "main"], cwd=lowered, capture_output=True,
                          env={**os.environ, "MINE": mine.decode()})
    assert proc.returncode == 0 and b"wrote 1 large file(s)" in proc.stderr
    assert (lowered / "data" / "a.bin").read_bytes() == mine
    assert digests(lowered, ("data",))["data/b.bin"] == expected["main"]["data/b.bin"]
    assert git(lowered, "status", "--porcelain") == " M data/a.bin\n"
    assert not temps(lowered)  # the copy nobody took was removed when the filter exited
