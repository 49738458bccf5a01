"""`branchml migrate import --above SIZE PATTERNS` on plain Git history, and `migrate export --to git`."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from conftest import bml, git, run


def _write(path: Path, size: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(random.Random(seed).randbytes(size))


def _commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


def _refs(repo: Path) -> dict[str, str]:
    out = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/tags")
    return dict(line.split() for line in out.splitlines())


def _digests(repo: Path, refs: list[str], home: str = "main") -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for ref in refs:
        git(repo, "checkout", "-q", "--detach", ref)
        out[ref] = {p.relative_to(repo).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                    for p in sorted(repo.rglob("*")) if p.is_file() and ".git" not in p.relative_to(repo).parts[:1]
                    and p.name != ".gitattributes"}
    git(repo, "checkout", "-q", home)
    return out


def test_above_imports_large_paths_everywhere_and_export_restores_the_same_commits(tmp_path):
    repo = tmp_path / "plain"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    _write(repo / "data" / "big.bin", 300_000, 1)
    (repo / "data" / "small.csv").write_text("a,b\n1,2\n")
    _write(repo / "other" / "huge.bin", 400_000, 2)  # large, but no pattern matches it
    _commit(repo, "first")
    _write(repo / "data" / "big.bin", 50_000, 3)  # a small version of a large path: converted too
    _commit(repo, "second")
    git(repo, "tag", "-a", "v1", "-m", "v1")
    git(repo, "switch", "-qc", "dev/y")
    _write(repo / "data" / "sub" / "weights.bin", 200_000, 4)
    _commit(repo, "dev")
    git(repo, "switch", "-q", "main")
    refs = ["main", "dev/y", "v1"]
    original, expected = _refs(repo), _digests(repo, refs)

    (repo / "data" / "small.csv").write_text("dirty\n")
    proc = bml(repo, "migrate", "import", "--above", "100kB", "data/**", "--everything", check=False)
    assert proc.returncode == 1 and "work tree has changes" in proc.stderr.decode() and _refs(repo) == original
    git(repo, "checkout", "--", "data/small.csv")

    dry = json.loads(bml(repo, "migrate", "import", "--above", "100kB", "data/**", "--everything", "--dry-run", "--json").stdout)
    assert sorted((c["path"], c["size"]) for c in dry["changes"]) == [
        ("data/big.bin", 50_000), ("data/big.bin", 300_000), ("data/sub/weights.bin", 200_000)]
    assert _refs(repo) == original

    report = json.loads(bml(repo, "migrate", "import", "--above", "100kB", "data/**", "--everything", "--json").stdout)
    assert report["verified_files"] == 3
    for ref in refs:
        assert git(repo, "show", f"{ref}:data/big.bin").startswith("branchml pointer v1\n")
        assert git(repo, "show", f"{ref}:data/small.csv") == "a,b\n1,2\n"
        assert len(git(repo, "cat-file", "-s", f"{ref}:other/huge.bin").strip()) == 6  # still raw: 400000
    root = git(repo, "rev-list", "--max-parents=0", "main").strip()
    assert "/data/big.bin filter=branchml diff=branchml -text" in git(repo, "show", f"{root}:.gitattributes")
    assert git(repo, "status", "--porcelain") == ""
    assert _digests(repo, refs) == expected
    ls = json.loads(bml(repo, "ls-files", "--all", "--json").stdout)
    assert {r["path"] for r in ls} == {"data/big.bin", "data/sub/weights.bin"} and all(r["present"] for r in ls)

    drop = git(repo, "for-each-ref", "--format=delete %(refname)", "refs/original/")
    run(["git", "update-ref", "--stdin"], repo, input=drop.encode())
    dry = json.loads(bml(repo, "migrate", "export", "--to", "git", "--everything", "--dry-run", "--json").stdout)
    assert len(dry["changes"]) == 3
    bml(repo, "migrate", "export", "--to", "git", "--everything")
    assert _refs(repo) == original  # no lock-in: the plain history comes back commit for commit
    assert _digests(repo, refs) == expected


def test_migrate_refuses_unknown_refs_and_an_earlier_backup(tmp_path):
    repo = tmp_path / "plain"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    _write(repo / "data" / "a.bin", 2000, 5)
    _commit(repo, "one")
    proc = bml(repo, "migrate", "import", "--above", "1kB", "data/**", "--ref", "nope", check=False)
    assert proc.returncode == 1 and "'nope'" in proc.stderr.decode()
    assert bml(repo, "migrate", "import", "--above", "ten", "x", check=False).returncode == 2
    bml(repo, "migrate", "import", "--above", "1kB", "data/**")
    _write(repo / "data" / "b.bin", 3000, 6)
    _commit(repo, "two")
    git(repo, "rm", "-q", "--cached", "data/b.bin")
    git(repo, "commit", "-qm", "b.bin out of the index again")
    git(repo, "reset", "-q", "--hard")
    before = _refs(repo)
    proc = bml(repo, "migrate", "export", check=False)
    assert proc.returncode == 1 and "refs/original/refs/heads/main" in proc.stderr.decode() and _refs(repo) == before


def test_a_bare_repository_migrates_in_place(tmp_path):
    repo = tmp_path / "plain"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    _write(repo / "data" / "a.bin", 20_000, 7)
    (repo / "notes.txt").write_text("small\n")
    _commit(repo, "one")
    bare = tmp_path / "server.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(bare))
    report = json.loads(bml(bare, "migrate", "import", "--above", "10kB", "data/**", "--json").stdout)
    assert [c["path"] for c in report["changes"]] == ["data/a.bin"] and report["verified_files"] == 1
    assert git(bare, "show", "main:data/a.bin").startswith("branchml pointer v1\n")
    assert git(bare, "rev-parse", "refs/original/refs/heads/main").strip() == git(repo, "rev-parse", "main").strip()
