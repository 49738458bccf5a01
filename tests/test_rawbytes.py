"""Raw bytes where a pointer belongs (a tracked file committed from a clone without `branchml install`):
reported by `verify` and `fsck` with the fix, refused by the server's pre-receive hook."""

from __future__ import annotations

from pathlib import Path

from branchml.repo import Repo
from branchml.workflows.rawbytes import raw_in_tree, staged_raw
from conftest import bml, git, run


def plain_clone_with_raw_commit(repo: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A server, a project with `data/**` tracked, and a plain `git clone` (no install) that commits data."""
    server = tmp_path / "server.git"
    git(tmp_path, "init", "-q", "--bare", str(server))
    bml(server, "install", "--server")
    (server / "branchml").mkdir(exist_ok=True)  # a project without a blob remote: pointers only warn
    (server / "branchml" / "local.toml").write_text('[push]\nwithout_blob_remote = "warn"\n')
    bml(repo, "track", "data/**")
    git(repo, "switch", "-q", "-c", "data/clean")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "track data")
    git(repo, "remote", "add", "origin", str(server))
    git(repo, "push", "-q", "origin", "data/clean")
    plain = tmp_path / "plain"
    git(tmp_path, "clone", "-q", "-b", "data/clean", str(server), str(plain))
    (plain / "data").mkdir()
    (plain / "data/new.csv").write_text("id,v\n" + "".join(f"{i},{i * i}\n" for i in range(300)))
    (plain / "notes.txt").write_text("not tracked: raw bytes belong in Git here\n")
    git(plain, "add", "-A")
    git(plain, "commit", "-q", "-m", "data from a plain clone")
    return server, plain


def test_verify_fsck_and_the_server_name_raw_bytes_and_the_fix_works(repo, tmp_path):
    _server, plain = plain_clone_with_raw_commit(repo, tmp_path)
    found = bml(plain, "verify", "HEAD~1..HEAD", check=False)
    assert found.returncode == 1
    report = found.stdout.decode()
    assert "data/new.csv: should have been a pointer" in report and "notes.txt" not in report
    assert "git add --renormalize 'data/new.csv'" in report

    fsck = bml(plain, "fsck", "--all", check=False)
    assert fsck.returncode == 1 and "data/new.csv" in fsck.stdout.decode()
    assert "should have been a pointer" in fsck.stdout.decode().replace("\n", " ")

    pushed = run(["git", "push", "origin", "data/clean"], plain, check=False)
    assert pushed.returncode != 0
    assert "data/new.csv" in pushed.stderr.decode() and "should have been a pointer" in pushed.stderr.decode()

    # the fix the messages name
    bml(plain, "install")
    git(plain, "add", "--renormalize", "data/new.csv")
    git(plain, "commit", "-q", "--amend", "--no-edit")
    assert bml(plain, "verify", "HEAD~1..HEAD").returncode == 0
    (plain / ".git" / "branchml" / "local.toml").write_text('[push]\nwithout_blob_remote = "warn"\n')
    git(plain, "push", "-q", "origin", "data/clean")
    assert bml(plain, "fsck", "--all").returncode == 0


def test_detection_skips_pointers_empty_files_and_untracked_paths(repo):
    bml(repo, "track", "data/**")
    (repo / "data").mkdir()
    (repo / "data/big.bin").write_bytes(b"\x00" * 5000)
    (repo / "data/empty.csv").write_bytes(b"")
    (repo / "src/code.py").write_text("print('hi')\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "through the filter")
    r = Repo.find(repo)
    assert staged_raw(r) == [] and raw_in_tree(r, "HEAD") == []
    raw = git(repo, "hash-object", "-w", "--no-filters", "data/big.bin").strip()  # the raw blob, as a filterless clone stores it
    git(repo, "update-index", "--cacheinfo", f"100644,{raw},data/big.bin")
    assert [(f.path, f.size) for f in staged_raw(r)] == [("data/big.bin", 5000)]


def test_a_run_refuses_to_train_on_pointer_text_and_install_fixes_it(repo):
    """A clone without the filter has pointer text where the data belongs; `branchml run` says so
    instead of letting the training script read three lines of pointer as its data."""
    import sys

    from runs_helpers import stable_repo

    stable_repo(repo)
    bml(repo, "track", "data/**")
    (repo / "data").mkdir()
    (repo / "data/train.csv").write_text("x,y\n" + "".join(f"{i},{i % 2}\n" for i in range(500)))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--no-verify", "-m", "training data")
    (repo / "data/train.csv").write_bytes(run(["git", "cat-file", "blob", "HEAD:data/train.csv"], repo).stdout)
    assert git(repo, "diff", "--", "data/train.csv") == ""  # Git's diff sees nothing wrong
    refused = bml(repo, "run", "--", sys.executable, "train.py", "{tag}", check=False)
    assert refused.returncode != 0
    err = refused.stderr.decode()
    assert "data/train.csv" in err and "pointer, not their content" in err and "branchml install" in err
    assert git(repo, "tag", "--list") == ""
    bml(repo, "install")
    assert (repo / "data/train.csv").read_text().startswith("x,y\n0,0\n")
    bml(repo, "run", "--", sys.executable, "train.py", "{tag}")
