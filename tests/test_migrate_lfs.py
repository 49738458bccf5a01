"""`branchml migrate` against real Git LFS repositories (git-lfs from Debian, installed by .ci/run).

The LFS server is a bare repository reached through git-lfs's standalone file transfer agent
(file:// remotes): the migrated clone starts without any LFS content and the migration fetches it.
Every file of every ref must come back byte for byte, through the branchml filter after the
import and through git-lfs again after `migrate export --to lfs`, which must restore the very same
commits.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import bml, git, run

pytestmark = pytest.mark.skipif(shutil.which("git-lfs") is None, reason="git-lfs is not installed (.ci/run installs it)")


def _write(path: Path, size: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(random.Random(seed).randbytes(size))


def _commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


def _lfs_project(tmp: Path) -> tuple[Path, str]:
    """An LFS repository with two branches, an annotated and a light tag, a note; pushed to a bare repo."""
    src = tmp / "lfs-src"
    git(tmp, "init", "-q", "-b", "main", str(src))
    git(src, "lfs", "install", "--local")
    git(src, "lfs", "track", "*.bin", "models/**")
    (src / "README.md").write_text("plain text stays plain\n")
    _write(src / "data" / "a.bin", 70_000, 1)
    _write(src / "models" / "m.pt", 50_000, 2)
    _commit(src, "first")
    git(src, "notes", "add", "-m", "reviewed", "HEAD")
    _write(src / "data" / "a.bin", 71_000, 3)  # a second version of a.bin
    _write(src / "data" / "b.bin", 20_000, 4)
    _commit(src, "second")
    git(src, "tag", "-a", "v1", "-m", "release 1")
    git(src, "switch", "-qc", "dev/x")
    _write(src / "models" / "m.pt", 52_000, 5)
    (src / "data" / "b.bin").unlink()
    _commit(src, "dev: new model, b.bin deleted")
    git(src, "tag", "light")
    git(src, "switch", "-q", "main")
    server = tmp / "server.git"
    git(tmp, "init", "-q", "--bare", "-b", "main", str(server))
    git(src, "push", "-q", server.as_uri(), "main", "dev/x", "v1", "light", "refs/notes/commits")
    return src, server.as_uri()


REFS = ("main", "dev/x", "v1", "light")


def _digests_at(repo: Path, ref: str) -> dict[str, str]:
    """Check `ref` out (through whatever filter the repo has) and hash every file but .gitattributes."""
    git(repo, "checkout", "-q", "--detach", ref)
    out = {}
    for path in sorted(repo.rglob("*")):
        rel = path.relative_to(repo).as_posix()
        if path.is_file() and not rel.startswith(".git/") and rel != ".gitattributes":
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _all_digests(repo: Path, home: str) -> dict[str, dict[str, str]]:
    digests = {ref: _digests_at(repo, ref) for ref in REFS}
    git(repo, "checkout", "-q", home)
    return digests


def _clone_without_lfs_content(tmp: Path, url: str) -> Path:
    work = tmp / "work"
    subprocess.run(["git", "clone", "-q", url, str(work)], cwd=tmp, env={**os.environ, "GIT_LFS_SKIP_SMUDGE": "1"}, check=True)
    git(work, "branch", "dev/x", "origin/dev/x")
    git(work, "fetch", "-q", "origin", "refs/notes/commits:refs/notes/commits")
    assert not (work / ".git" / "lfs" / "objects").exists() or not any((work / ".git" / "lfs" / "objects").rglob("*"))
    return work


def _refs(repo: Path) -> dict[str, str]:
    out = git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/tags")
    return dict(line.split() for line in out.splitlines())


def test_lfs_history_imports_round_trips_and_exports_back_to_the_same_commits(tmp_path):
    src, url = _lfs_project(tmp_path)
    expected = _all_digests(src, "main")
    original = _refs(src)
    work = _clone_without_lfs_content(tmp_path, url)
    before = _refs(work)
    assert before == original

    dry = json.loads(bml(work, "migrate", "import", "--from", "lfs", "--everything", "--dry-run", "--json").stdout)
    assert dry["dry_run"] and dry["format"] == 1
    assert sorted(c["path"] for c in dry["changes"]) == ["data/a.bin", "data/a.bin", "data/b.bin", "models/m.pt", "models/m.pt"]
    assert _refs(work) == before and not git(work, "for-each-ref", "refs/original/")

    report = json.loads(bml(work, "migrate", "import", "--from", "lfs", "--everything", "--json").stdout)
    assert len(report["changes"]) == 5 and report["verified_files"] == 5 and report["notes_copied"] == 1
    backups = git(work, "for-each-ref", "--format=%(refname) %(objectname)", "refs/original/")
    assert {line.split()[0].removeprefix("refs/original/"): line.split()[1] for line in backups.splitlines()
            if "/remotes/" not in line} == before
    after = _refs(work)
    assert all(after[ref] != before[ref] for ref in before)
    assert git(work, "cat-file", "-t", "v1").strip() == "tag"  # still an annotated tag, on the new commit
    first = git(work, "rev-list", "--max-parents=0", "main").strip()
    assert git(work, "notes", "show", first).strip() == "reviewed"
    attrs = git(work, "show", "main:.gitattributes")
    assert "filter=branchml diff=branchml" in attrs and "lfs" not in attrs
    assert git(work, "show", "dev/x:models/m.pt").startswith("branchml pointer v1\n")
    assert git(work, "status", "--porcelain") == ""
    bml(work, "fsck", "--all", "--read-data")
    assert _all_digests(work, "main") == expected  # every file of every ref, byte for byte

    drop = git(work, "for-each-ref", "--format=delete %(refname)", "refs/original/")
    run(["git", "update-ref", "--stdin"], work, input=drop.encode())
    bml(work, "migrate", "export", "--to", "lfs", *REFS)
    assert _refs(work) == original  # the very same commits and tags as before the import
    assert _all_digests(work, "main") == expected


def test_import_refuses_missing_lfs_content_rewriting_nothing(tmp_path):
    _src, url = _lfs_project(tmp_path)
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", url, str(work)], cwd=tmp_path, env={**os.environ, "GIT_LFS_SKIP_SMUDGE": "1"}, check=True)
    objects = [p for p in (tmp_path / "server.git" / "lfs" / "objects").rglob("*") if p.is_file()]
    assert len(objects) == 5
    for obj in objects:
        obj.unlink()  # the LFS server lost everything
    before = _refs(work)
    proc = bml(work, "migrate", "import", check=False)
    assert proc.returncode == 5 and "Git LFS object" in proc.stderr.decode() and "data/a.bin" in proc.stderr.decode()
    assert _refs(work) == before and not git(work, "for-each-ref", "refs/original/")
    assert bml(work, "migrate", "export").returncode == 0  # nothing to export: no branchml pointers
    assert _refs(work) == before
