"""fsck sees every pointer Git holds, and a checkout that cannot produce a file fails loudly.

The bad-pointer table follows Git LFS's pointer tests: each row is committed as a blob and looked
for in the index, in HEAD, and (with --all) in history only; each must also fail a checkout.
"""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import pytest

from branchml.errors import ExitCode
from conftest import bml, git, run

REAL = random.Random(1).randbytes(300_000)


def bad_pointers(oid: str, size: int) -> dict[str, bytes]:
    good = f"branchml pointer v1\noid blake3:{oid}\nsize {size}\n"
    return {name: text.encode() for name, text in {
        "bad_hex": good.replace(oid, "zz" + oid[2:]),
        "uppercase_hex": good.replace(oid, oid.upper()),
        "negative_size": good.replace(f"size {size}", "size -5"),
        "size_2_63": good.replace(f"size {size}", f"size {1 << 63}"),
        "leading_zero": good.replace(f"size {size}", f"size 0{size}"),
        "crlf": good.replace("\n", "\r\n"),
        "extra_line": good + "extra 1\n",
        "version_2": good.replace("v1", "v2"),
        "no_final_newline": good[:-1],
        "wrong_size_for_known_oid": good.replace(f"size {size}", f"size {size + 1}"),
        "short_oid": good.replace(oid, oid[:63]),
        "other_hash": good.replace("blake3:", "sha256:"),
        "trailing_space": good.replace(f"size {size}\n", f"size {size} \n"),
        "missing_size_line": good.split("size")[0],
    }.items()}


ROWS = list(bad_pointers("0" * 64, 1))


def stage(repo: Path, path: str, content: bytes) -> None:
    blob = run(["git", "hash-object", "-w", "--no-filters", "--stdin"], repo, input=content).stdout.decode().strip()
    git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}")


def reported(repo: Path, *args: str) -> dict[str, str]:
    proc = bml(repo, "fsck", "--json", *args, check=False)
    problems = json.loads(proc.stdout)
    assert (proc.returncode == 1) == bool(problems)
    return {path: item["kind"] for item in problems for path in item["paths"]}


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> dict:
    """One repository, the bad pointers staged, then committed, then only in history."""
    tmp = tmp_path_factory.mktemp("pointers")
    repo = tmp / "repo"
    bml(tmp, "init", str(repo))
    bml(repo, "track", "data/**")
    (repo / "data").mkdir()
    (repo / "data" / "real.bin").write_bytes(REAL)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "real")
    pointer = git(repo, "show", "HEAD:data/real.bin")
    oid = pointer.split("blake3:")[1].split()[0]
    for name, content in bad_pointers(oid, len(REAL)).items():
        stage(repo, f"data/{name}.bin", content)
    seen = {"index": reported(repo)}
    git(repo, "commit", "-qm", "bad pointers")
    bad_commit = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "rm", "-q", "--cached", *[f"data/{name}.bin" for name in ROWS])
    seen["head"] = reported(repo)  # in HEAD only, no longer in the index
    git(repo, "commit", "-qm", "drop them")
    seen["plain"] = reported(repo)
    seen["all"] = reported(repo, "--all")  # in history only
    return {"repo": repo, "seen": seen, "bad_commit": bad_commit}


@pytest.mark.parametrize("name", ROWS)
def test_fsck_reports_bad_pointer_in_index_head_and_history(table, name):
    path = f"data/{name}.bin"
    kind = "size-mismatch" if name == "wrong_size_for_known_oid" else "malformed-pointer"
    assert table["seen"]["index"].get(path) == kind
    assert table["seen"]["head"].get(path) == kind
    assert table["seen"]["all"].get(path) == kind
    assert path not in table["seen"]["plain"]  # without --all, history is not read


@pytest.mark.parametrize("name", ROWS)
def test_checkout_of_bad_pointer_fails_with_its_path(table, name):
    repo, path = table["repo"], f"data/{name}.bin"
    proc = run(["git", "checkout", table["bad_commit"], "--", path], repo, check=False)
    assert proc.returncode != 0 and path in proc.stderr.decode()
    assert not (repo / path).exists()


@pytest.fixture
def big_tracked(repo: Path) -> Path:
    """Files over 100 kB are written by the post-checkout hook, not by Git."""
    (repo / "branchml.toml").write_text("[branchml]\nversion = 1\n\n[store]\ncheckout_in_git_max = 100000\n")
    bml(repo, "track", "data/**")
    (repo / "data").mkdir()
    (repo / "data" / "small.txt").write_text("small\n" * 10)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "base")
    return repo


def switch_back_fails_naming(repo: Path, path: str) -> None:
    git(repo, "switch", "-qc", "empty")
    git(repo, "rm", "-q", path)
    git(repo, "commit", "-qm", "rm")
    proc = run(["git", "switch", "-q", "main"], repo, check=False)
    assert proc.returncode != 0, "a checkout that could not write a file exited 0"
    assert path in proc.stderr.decode()
    assert not (repo / path).exists() or not (repo / path).read_bytes().startswith(b"branchml pointer") or proc.returncode


@pytest.mark.parametrize("size", [3 << 20, 10**18])
def test_checkout_of_large_file_whose_content_is_nowhere_fails(big_tracked, size):
    pointer = f"branchml pointer v1\noid blake3:{'ab' * 32}\nsize {size}\n".encode()
    stage(big_tracked, "data/huge.bin", pointer)
    git(big_tracked, "commit", "-qm", "huge")
    switch_back_fails_naming(big_tracked, "data/huge.bin")


def test_checkout_of_large_corrupt_file_fails_and_re_adding_it_repairs(big_tracked):
    data = random.Random(2).randbytes(3 << 20)
    (big_tracked / "data" / "big.bin").write_bytes(data)
    git(big_tracked, "add", ".")
    git(big_tracked, "commit", "-qm", "big")
    pack = max((big_tracked / ".git" / "branchml" / "packs").glob("*.pack"), key=lambda p: p.stat().st_size)
    pack.chmod(0o644)
    with open(pack, "r+b") as f:
        f.seek(pack.stat().st_size // 2)
        f.write(b"\x00" * 16)
    switch_back_fails_naming(big_tracked, "data/big.bin")
    # the hint: put the original file back and `git add` it
    (big_tracked / "data" / "big.bin").write_bytes(data)
    git(big_tracked, "add", "data/big.bin")
    (big_tracked / "data" / "big.bin").unlink()
    git(big_tracked, "checkout", "--", "data/big.bin")
    assert (big_tracked / "data" / "big.bin").read_bytes() == data
    assert git(big_tracked, "status", "--porcelain") == ""


def test_fsck_and_cat_in_a_plain_git_repository_create_nothing(tmp_path):
    git(tmp_path, "init", "-q", "plain")
    plain = tmp_path / "plain"
    for args in (["fsck"], ["fsck", "--read-data", "--all"], ["cat"]):
        pointer = f"branchml pointer v1\noid blake3:{'ab' * 32}\nsize 5\n".encode()
        proc = bml(plain, *args, check=False, input=pointer)
        assert proc.returncode == ExitCode.NO_STORE and "not set up" in proc.stderr.decode(), proc.stderr.decode()
        assert "branchml init" in proc.stderr.decode()
    assert not (plain / ".git" / "branchml").exists()


def test_cat_writes_nothing_when_an_index_entry_does_not_rebuild_the_file(repo):
    bml(repo, "track", "data/**")
    (repo / "data").mkdir()
    (repo / "data" / "f.bin").write_bytes(REAL)
    git(repo, "add", ".")
    pointer = git(repo, "show", ":data/f.bin")
    db = sqlite3.connect(repo / ".git" / "branchml" / "index.db")
    (ids,) = db.execute("SELECT chunks FROM files").fetchone()
    db.execute("UPDATE files SET chunks=?", (ids[32:64] + ids[:32] + ids[64:],))
    db.commit()
    db.close()
    proc = bml(repo, "cat", check=False, input=pointer.encode())
    assert proc.returncode == 6 and proc.stdout == b""
    assert "fsck --rebuild-index" in proc.stderr.decode()
    bml(repo, "fsck", "--rebuild-index")  # the hint, followed
    assert bml(repo, "cat", input=pointer.encode()).stdout == REAL


def test_fsck_hint_for_a_malformed_pointer_works(repo):
    """The hint: put the original file back and `git add` it."""
    bml(repo, "track", "data/**")
    (repo / "data").mkdir()
    stage(repo, "data/x.bin", f"branchml pointer v1\noid blake3:{'AB' * 32}\nsize 300000\n".encode())
    proc = bml(repo, "fsck", check=False)
    assert proc.returncode == 1 and "data/x.bin" in proc.stdout.decode()
    assert "put the original file back and `git add` it" in proc.stdout.decode().replace("\n", " ")
    (repo / "data" / "x.bin").write_bytes(REAL)
    git(repo, "add", "data/x.bin")
    assert "store OK" in bml(repo, "fsck").stdout.decode()


def test_fsck_problems_are_dataclasses_whose_as_dict_is_what_json_prints(table):
    import branchml
    from branchml.workflows.fsck import FsckProblem

    report = branchml.fsck(branchml.open_repo(table["repo"]), all_refs=True)
    assert report.problems and all(isinstance(p, FsckProblem) for p in report.problems)
    kinds = {path: p.kind for p in report.problems for path in p.paths}
    assert kinds["data/bad_hex.bin"] == "malformed-pointer" and kinds["data/wrong_size_for_known_oid.bin"] == "size-mismatch"
    printed = json.loads(bml(table["repo"], "fsck", "--all", "--json", check=False).stdout)
    assert [p.as_dict() for p in report.problems] == printed
