"""The Git remote as the default blob store: chunks under refs/branchml/ of the same Git remote.

Real bare repositories over file:// (and ssh:// on loopback when sshd can start), real `git push`
through the real pre-push hook, real `branchml clone`; no blob remote is ever added here.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import blake3

from branchml.repo import Repo
from branchml.store.pointer import parse_pointer
from conftest import bml, git, run
from remote_support import TRACKED, commit_all, digests, no_wrong_bytes, write_random
from sshd_support import sshd  # noqa: F401  (the module-scoped fixture)

NS = "refs/branchml/"


def _project(tmp: Path, url: str | None = None) -> tuple[Path, Path, str]:
    """A branchml project with a data branch forked before any remote exists, and a bare server."""
    src, server = tmp / "proj", tmp / "server.git"
    bml(tmp, "init", str(src))
    bml(src, "track", *TRACKED)
    commit_all(src, "scaffold: no `remote add`, no blob remote at all")
    git(src, "switch", "-qc", "dev/data")
    write_random(src / "data" / "a.bin", 700_000, 1)
    commit_all(src, "data a")
    git(src, "switch", "-q", "main")
    git(tmp, "init", "-q", "--bare", "-b", "main", str(server))
    url = url or server.resolve().as_uri()
    git(src, "remote", "add", "origin", url)
    return src, server, url


def _namespace(server: Path) -> dict[str, str]:
    out = git(server, "for-each-ref", "--format=%(refname) %(objectname)", NS)
    return dict(line.split() for line in out.splitlines())


def _oid(repo: Path, rev_path: str) -> str:
    return parse_pointer(run(["git", "cat-file", "blob", rev_path], repo).stdout).oid


def test_push_without_remote_add_carries_the_chunks_and_clone_materialises_the_branch(tmp_path):
    src, server, url = _project(tmp_path)
    pushed = run(["git", "push", "origin", "main", "dev/data"], src)
    assert b"uploaded" in pushed.stderr
    refs = _namespace(server)
    packs = [r for r in refs if r.startswith(NS + "packs/")]
    assert packs and len([r for r in refs if r.startswith(NS + "indexes/")]) == len(packs)
    for ref in packs:  # each pack is whole and named by its BLAKE3
        name = ref.rsplit("/", 1)[1]
        data = run(["git", "cat-file", "blob", f"{refs[ref]}:{name}.pack"], server).stdout
        assert blake3.blake3(data).hexdigest() == name

    copy = tmp_path / "copy"
    bml(tmp_path, "clone", "-b", "dev/data", url, str(copy))
    git(src, "switch", "-q", "dev/data")
    assert digests(copy) == digests(src)
    assert not any((copy / ".git" / "branchml" / "tmp").glob("gitref-*"))  # transfers leave nothing behind

    plain = tmp_path / "plain"  # a plain clone never downloads the chunks
    git(tmp_path, "clone", "-q", "--no-checkout", url, str(plain))
    pack_commit = refs[packs[0]]
    assert run(["git", "cat-file", "-e", pack_commit], plain, check=False).returncode != 0
    # nor does branchml's clone keep them in Git's object store: the store holds the only copy
    assert run(["git", "cat-file", "-e", pack_commit], copy, check=False).returncode != 0


def test_clone_fetches_only_the_packs_its_branch_needs_and_switch_fetches_the_rest(tmp_path):
    src, server, url = _project(tmp_path)
    git(src, "switch", "-qc", "dev/other", "main")
    write_random(src / "data" / "b.bin", 400_000, 2)
    commit_all(src, "data b")
    git(src, "push", "-q", "origin", "main", "dev/data")
    git(src, "push", "-q", "origin", "dev/other")
    a, b = _oid(src, "dev/data:data/a.bin"), _oid(src, "dev/other:data/b.bin")

    copy = tmp_path / "copy"
    bml(tmp_path, "clone", "-b", "dev/data", url, str(copy))
    store = Repo.find(copy).store
    assert store.file_record(a) is not None and store.file_record(b) is None
    git(copy, "switch", "-q", "dev/other")  # plain git: the filter fetches on demand
    assert digests(copy) == digests(src)


def test_push_killed_between_two_publishes_leaves_whole_objects_and_resumes(tmp_path):
    src, server, url = _project(tmp_path)
    git(src, "push", "-q", "origin", "main")
    env = {**os.environ, "BRANCHML_TEST_KILL_AFTER_UPLOADS": "3", "BRANCHML_TEST_PUBLISH_BYTES": "1"}
    killed = subprocess.run(["git", "push", "origin", "dev/data"], cwd=src, env=env, capture_output=True)
    assert killed.returncode != 0
    assert git(server, "branch", "--list", "dev/data").strip() == ""  # the branch did not move
    refs = _namespace(server)
    assert any(r.startswith(NS + "packs/") for r in refs)  # the chunks' pack and index were published
    for ref, commit in refs.items():
        if ref.startswith(NS + "packs/"):
            name = ref.rsplit("/", 1)[1]
            data = run(["git", "cat-file", "blob", f"{commit}:{name}.pack"], server).stdout
            assert blake3.blake3(data).hexdigest() == name
    assert bml(src, "verify-remote", "dev/data", check=False).returncode == 1  # file records not there yet

    resumed = run(["git", "push", "origin", "dev/data"], src)
    assert b"uploaded" in resumed.stderr
    assert json.loads(bml(src, "verify-remote", "--json", "dev/data").stdout)["missing"] == []
    copy = tmp_path / "copy"
    bml(tmp_path, "clone", "-b", "dev/data", url, str(copy))
    git(src, "switch", "-q", "dev/data")
    assert digests(copy) == digests(src)


def _replace_object(server: Path, ref: str, file_name: str, data: bytes) -> None:
    """What a hostile or damaged server does: the ref now names other bytes."""
    blob = run(["git", "hash-object", "-w", "--stdin"], server, input=data).stdout.decode().strip()
    tree = run(["git", "mktree"], server, input=f"100644 blob {blob}\t{file_name}\n".encode()).stdout.decode().strip()
    commit = run(["git", "commit-tree", tree, "-m", "tampered"], server).stdout.decode().strip()
    git(server, "update-ref", ref, commit)


def test_wrong_bytes_from_the_git_remote_are_refused_and_nothing_is_written(tmp_path):
    src, server, url = _project(tmp_path)
    git(src, "push", "-q", "origin", "main", "dev/data")
    refs = _namespace(server)
    ref = max((r for r in refs if r.startswith(NS + "packs/")),
              key=lambda r: int(git(server, "cat-file", "-s", f"{refs[r]}:{r.rsplit('/', 1)[1]}.pack")))
    name = ref.rsplit("/", 1)[1]
    data = bytearray(run(["git", "cat-file", "blob", f"{refs[ref]}:{name}.pack"], server).stdout)
    data[len(data) // 2] ^= 1
    _replace_object(server, ref, f"{name}.pack", bytes(data))

    proc = bml(tmp_path, "clone", "-b", "dev/data", url, str(tmp_path / "copy"), check=False)
    assert proc.returncode == 6, proc.stderr.decode()  # CorruptObject's exit code
    assert "does not match its name" in proc.stderr.decode() and "data/a.bin" in proc.stderr.decode()
    assert no_wrong_bytes(tmp_path / "copy" / "data" / "a.bin")


def test_hostile_ref_names_are_ignored_and_a_ref_without_branchml_content_is_named(tmp_path):
    src, server, url = _project(tmp_path)
    git(src, "push", "-q", "origin", "main", "dev/data")
    junk = run(["git", "hash-object", "-w", "--stdin"], server, input=b"junk").stdout.decode().strip()
    for ref in (NS + "indexes/evil", NS + "indexes/" + "A" * 64, NS + "packs/--upload-pack=touch", NS + "indexes/1/2"):
        git(server, "update-ref", ref, git(server, "rev-parse", "main").strip())
    git(server, "update-ref", NS + "packs/" + "0" * 64, junk)  # a pack nobody's index names: never read
    copy = tmp_path / "copy"
    bml(tmp_path, "clone", "-b", "dev/data", url, str(copy))  # ignored: not names branchml writes
    git(src, "switch", "-q", "dev/data")
    assert digests(copy) == digests(src)

    bad = NS + "indexes/" + "f" * 64  # a well-formed name whose commit holds no such index
    git(server, "update-ref", bad, git(server, "rev-parse", "main").strip())
    proc = bml(tmp_path, "clone", "-b", "dev/data", url, str(tmp_path / "copy2"), check=False)
    assert proc.returncode == 6 and bad in proc.stderr.decode()

    bml(server, "install", "--server")  # the server takes only the names branchml writes
    refused = run(["git", "push", "origin", "main:refs/branchml/evil"], src, check=False)
    assert refused.returncode != 0 and "refs/branchml/ holds only" in refused.stderr.decode()


def test_server_check_sees_the_chunks_in_the_same_repository(tmp_path):
    src, server, url = _project(tmp_path)
    bml(server, "install", "--server")
    git(src, "push", "-q", "origin", "main", "dev/data")  # chunks first, then the branch: accepted
    git(src, "switch", "-q", "dev/data")
    write_random(src / "data" / "c.bin", 300_000, 3)
    commit_all(src, "data c")
    skipped = run(["git", "push", "--no-verify", "origin", "dev/data"], src, check=False)  # no pre-push upload
    assert skipped.returncode != 0 and "data/c.bin" in skipped.stderr.decode()
    assert "data/a.bin" not in skipped.stderr.decode().split("refusing")[-1]
    run(["git", "push", "origin", "dev/data"], src)  # with the hook: chunks go first, the server agrees


def test_remote_gc_drops_the_packs_of_deleted_branches_and_keeps_the_rest(tmp_path):
    src, server, url = _project(tmp_path)
    git(src, "switch", "-qc", "dev/gone", "main")
    write_random(src / "data" / "g.bin", 400_000, 4)
    commit_all(src, "data to drop")
    git(src, "push", "-q", "origin", "main", "dev/data")
    git(src, "push", "-q", "origin", "dev/gone")  # packs of its own
    before = _namespace(server)
    git(src, "switch", "-q", "dev/data")
    git(src, "push", "-q", "origin", ":dev/gone")
    git(src, "branch", "-qD", "dev/gone")
    git(src, "reflog", "expire", "--expire=now", "--all")
    report = json.loads(bml(src, "remote", "gc", "--grace", "0", "--json").stdout)
    assert report["deleted_packs"] >= 1
    after = _namespace(server)
    assert set(after) < set(before) and not any(r.startswith(NS + "locks/") for r in after)
    assert json.loads(bml(src, "verify-remote", "--json", "dev/data").stdout)["missing"] == []
    copy = tmp_path / "copy"
    bml(tmp_path, "clone", "-b", "dev/data", url, str(copy))
    assert digests(copy) == digests(src)


def test_push_and_clone_over_ssh_on_loopback(tmp_path, sshd, monkeypatch):  # noqa: F811
    monkeypatch.setenv("GIT_SSH_COMMAND", sshd.ssh_command)
    server = tmp_path / "server.git"
    src, _, url = _project(tmp_path, sshd.url(server))
    git(src, "push", "-q", "origin", "main", "dev/data")
    assert any(r.startswith(NS + "packs/") for r in _namespace(server))
    copy = tmp_path / "copy"
    bml(tmp_path, "clone", "-b", "dev/data", url, str(copy))
    git(src, "switch", "-q", "dev/data")
    assert digests(copy) == digests(src)


def test_a_push_to_a_url_sends_the_chunks_where_the_commits_go(tmp_path):
    """No named Git remote at all: `git push URL` still carries the chunks to that URL."""
    src, server, url = _project(tmp_path)
    git(src, "remote", "remove", "origin")
    git(src, "push", "-q", url, "main", "dev/data")
    assert any(r.startswith(NS + "indexes/") for r in _namespace(server))
    copy = tmp_path / "copy"
    bml(tmp_path, "clone", "-b", "dev/data", url, str(copy))
    git(src, "switch", "-q", "dev/data")
    assert digests(copy) == digests(src)


def test_migrate_from_the_git_remote_to_a_folder_and_back_to_a_fresh_git_server(tmp_path):
    """A team that outgrows the Git remote moves its content to object storage (and could move back)."""
    src, server, url = _project(tmp_path)
    git(src, "push", "-q", "origin", "main", "dev/data")
    blobs = tmp_path / "blobs"
    moved = json.loads(bml(src, "remote", "migrate", "origin", str(blobs), "--json").stdout)
    assert moved["copied_files"] >= 1 and moved["verified_records"] > 0
    assert list((blobs / "indexes").glob("*.idx")) and list((blobs / "packs").glob("*.pack"))
    again = json.loads(bml(src, "remote", "migrate", "origin", str(blobs), "--json").stdout)
    assert again["copied_files"] == 0 and again["packs"] == 0

    other = tmp_path / "other.git"  # back: from the folder into another Git server's refs/branchml/
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(other))
    git(src, "remote", "add", "mirror", other.resolve().as_uri())
    back = json.loads(bml(src, "remote", "migrate", str(blobs), "mirror", "--json").stdout)
    assert back["copied_files"] >= 1 and any(r.startswith(NS + "indexes/") for r in _namespace(other))
    git(src, "push", "-q", "--no-verify", "mirror", "main", "dev/data")  # commits only: the chunks are there
    copy = tmp_path / "copy"
    bml(tmp_path, "clone", "-b", "dev/data", other.resolve().as_uri(), str(copy))
    git(src, "switch", "-q", "dev/data")
    assert digests(copy) == digests(src)
