"""`branchml migrate import --from dvc` on a real DVC project (dvc from PyPI) with a local DVC remote.

The migrated clone starts without DVC's cache; the migration fetches from the DVC remote. Every
output of every ref (single files, a folder, a pipeline stage's output in dvc.lock) must then
check out byte for byte through branchml, with no `.dvc` files left.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import bml, git

pytestmark = pytest.mark.skipif(shutil.which("dvc") is None, reason="dvc is not installed (the test extra installs it)")


def dvc(cwd: Path, *args: str) -> None:
    proc = subprocess.run(["dvc", *args, "-q"], cwd=cwd, capture_output=True, check=False)
    assert proc.returncode == 0, f"dvc {args}: {proc.stdout.decode()} {proc.stderr.decode()}"


def _commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


SKIP = {".gitignore", ".gitattributes", ".dvcignore"}


def _outputs(repo: Path) -> dict[str, str]:
    return {p.relative_to(repo).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(repo.rglob("*")) if p.is_file() and p.relative_to(repo).parts[0] not in (".git", ".dvc")
            and p.name not in SKIP and not p.name.endswith(".dvc")}


def _dvc_project(tmp: Path) -> Path:
    proj = tmp / "dvcproj"
    git(tmp, "init", "-q", "-b", "main", str(proj))
    dvc(proj, "init")
    dvc(proj, "remote", "add", "-d", "store", str(tmp / "dvc-remote"))
    (proj / "data").mkdir()
    (proj / "data" / "raw.csv").write_text("id,x\n" + "".join(f"{i},{i * i}\n" for i in range(2000)))
    (proj / "images").mkdir()
    for i in range(3):
        (proj / "images" / f"{i}.png").write_bytes(bytes([i]) * (3000 + i))
    dvc(proj, "add", "data/raw.csv", "images")
    _commit(proj, "data under dvc")
    with open(proj / "data" / "raw.csv", "a") as f:
        f.write("2000,4000000\n")
    (proj / "images" / "0.png").unlink()
    (proj / "images" / "9.png").write_bytes(b"\x09" * 5000)
    dvc(proj, "add", "data/raw.csv", "images")
    dvc(proj, "stage", "add", "-n", "prep", "-d", "data/raw.csv", "-o", "out/rows.txt",
        "python -c \"import os; os.makedirs('out', exist_ok=True); open('out/rows.txt','w').write(str(len(open('data/raw.csv').readlines())))\"")
    dvc(proj, "repro")
    _commit(proj, "more data, a pipeline")
    git(proj, "tag", "v1")
    dvc(proj, "push", "--all-commits")
    return proj


def _digests_by_ref(repo: Path, refs: list[str], *, with_dvc: bool) -> dict[str, dict[str, str]]:
    out = {}
    for ref in refs:
        git(repo, "checkout", "-q", "--detach", ref)
        if with_dvc:
            dvc(repo, "checkout", "--force")
        out[ref] = _outputs(repo)
    git(repo, "checkout", "-q", "main")
    return out


def test_dvc_project_imports_every_output_of_every_ref(tmp_path):
    proj = _dvc_project(tmp_path)
    first = git(proj, "rev-list", "--max-parents=0", "main").strip()
    expected = _digests_by_ref(proj, [first, "main"], with_dvc=True)
    assert "images/9.png" in expected["main"] and "out/rows.txt" in expected["main"]
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(proj), str(work))
    git(work, "tag", "-d", "v1")
    git(work, "fetch", "-q", "--tags")
    assert not (work / "data" / "raw.csv").exists()  # a plain clone of a DVC project: no data

    dry = json.loads(bml(work, "migrate", "import", "--from", "dvc", "--everything", "--dry-run", "--json").stdout)
    assert {c["path"] for c in dry["changes"]} == {"data/raw.csv.dvc", "images.dvc", "dvc.lock"}
    report = json.loads(bml(work, "migrate", "import", "--from", "dvc", "--everything", "--json").stdout)
    assert report["verified_files"] == 7  # raw.csv twice, images 0, 1, 2 and 9, rows.txt: each content once
    new_first = git(work, "rev-list", "--max-parents=0", "main").strip()
    assert _digests_by_ref(work, [new_first, "main"], with_dvc=False) == {new_first: expected[first], "main": expected["main"]}
    files = git(work, "ls-tree", "-r", "--name-only", "v1").split()
    assert not [f for f in files if f.endswith(".dvc")] and "dvc.lock" in files and "images/9.png" in files
    assert "/raw.csv" not in git(work, "show", "main:data/.gitignore")  # DVC's ignore lines are gone
    assert "/images" not in git(work, "show", "main:.gitignore")
    assert git(work, "show", "main:images/1.png").startswith("branchml pointer v1\n")
    assert git(work, "status", "--porcelain") == ""
