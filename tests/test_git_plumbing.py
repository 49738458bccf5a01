"""The plumbing module against real Git, with paths built to break naive parsers.

Every hostile name below is a real file in a real commit: a tab, a newline, quotes, a backslash,
a space at the end, non-ASCII UTF-8, and bytes that are not UTF-8 at all.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from branchml.errors import GitCommandError, GitTooOld, NotARepository, RefChanged
from branchml.git import plumbing
from branchml.repo import Repo
from conftest import git, run

HOSTILE = [
    "tab\there.txt",
    "new\nline.txt",
    'double"quote.txt',
    "single'quote.txt",
    "back\\slash.txt",
    "trailing space ",
    "caf\u00e9/na\u00efve.txt",
    os.fsdecode(b"latin1-\xe9\xff.bin"),
    "plain/ok.txt",
]


@pytest.fixture
def hostile_repo(tmp_path: Path) -> tuple[Path, str]:
    repo = tmp_path / "r"
    git(tmp_path, "init", "-q", str(repo))
    for name in HOSTILE:
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"content of " + os.fsencode(name))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "hostile names")
    return repo, git(repo, "rev-parse", "HEAD").strip()


def test_ls_tree_returns_every_hostile_path_byte_for_byte(hostile_repo):
    repo, head = hostile_repo
    entries = plumbing.ls_tree(repo, head, long=True)
    assert sorted(e.path for e in entries) == sorted(HOSTILE)
    by_path = {e.path: e for e in entries}
    for name in HOSTILE:
        assert by_path[name].size == len(b"content of " + os.fsencode(name))
        assert by_path[name].type == "blob" and by_path[name].mode == "100644"
    assert os.fsencode(by_path[HOSTILE[7]].path) == b"latin1-\xe9\xff.bin"


def test_ls_tree_limits_to_literal_paths_from_the_root(hostile_repo):
    repo, head = hostile_repo
    only = plumbing.ls_tree(repo / "plain", head, ["tab\there.txt", "caf\u00e9"])
    assert sorted(e.path for e in only) == ["caf\u00e9/na\u00efve.txt", "tab\there.txt"]
    top = plumbing.ls_tree(repo, head, recursive=False)
    assert {e.type for e in top if e.path == "plain"} == {"tree"}


def test_diff_tree_reports_hostile_paths_unquoted(hostile_repo):
    repo, head = hostile_repo
    (repo / "new\nline.txt").write_bytes(b"changed")
    (repo / "tab\there.txt").unlink()
    git(repo, "commit", "-q", "-am", "change")
    changes = plumbing.diff_tree(repo, head, "HEAD")
    assert {(c.status, c.path) for c in changes} == {("M", "new\nline.txt"), ("D", "tab\there.txt")}
    added = plumbing.diff_tree(repo, plumbing.empty_tree(repo), head, diff_filter="A")
    assert sorted(c.path for c in added) == sorted(HOSTILE)
    assert all(c.old_oid.strip("0") == "" for c in added)


def test_cat_file_reads_many_objects_over_one_process(hostile_repo):
    repo, head = hostile_repo
    entries = plumbing.ls_tree(repo, head)
    with plumbing.CatFile(repo) as cat:
        found = dict(cat.contents_many([e.oid for e in entries] * 300))  # several round trips
        proc = cat._proc
        assert cat.info("0" * 40) is None
        assert cat.contents(f"{head}:plain/ok.txt") == b"content of plain/ok.txt"
        assert cat._proc is proc  # still the same long-lived process
        commit = cat.info(head)
        assert commit is not None and commit.type == "commit"
    for e in entries:
        assert found[e.oid][1] == b"content of " + os.fsencode(e.path)
    assert cat._proc is None


def test_cat_file_lists_a_tree_like_ls_tree_with_hostile_names_and_a_gitlink(hostile_repo):
    repo, head = hostile_repo
    top = plumbing.ls_tree(repo, head, recursive=False)
    gitlink = plumbing.TreeEntry("160000", "commit", head, "sub module")  # a submodule's commit
    tree = plumbing.mktree(repo, [*top, gitlink])
    with plumbing.CatFile(repo) as cat:
        listed = cat.tree(tree)
        assert listed == plumbing.ls_tree(repo, tree, recursive=False)  # modes, types, ids, paths
        assert cat.tree(f"{head}^{{tree}}") == top and cat.tree(f"{head}:caf\u00e9") == [
            e for e in plumbing.ls_tree(repo, f"{head}:caf\u00e9", recursive=False)]
        with pytest.raises(GitCommandError, match="does not exist"):
            cat.tree(f"{head}:plain/ok.txt")  # a blob, not a tree
    assert {e.type for e in listed} == {"blob", "tree", "commit"}


def test_cat_file_abandoned_iteration_does_not_leak_answers(hostile_repo):
    repo, head = hostile_repo
    oids = [e.oid for e in plumbing.ls_tree(repo, head)]
    with plumbing.CatFile(repo) as cat:
        for _name, _found in cat.contents_many(oids):
            break
        assert cat.contents(f"{head}:plain/ok.txt") == b"content of plain/ok.txt"
        with pytest.raises(ValueError):
            cat.contents(f"{head}:new\nline.txt")


def test_update_ref_is_compare_and_swap(hostile_repo):
    repo, head = hostile_repo
    ref = "refs/branchml/test"
    plumbing.update_ref(repo, ref, head, old=None)
    with pytest.raises(RefChanged):
        plumbing.update_ref(repo, ref, head, old=None)  # exists already
    tree = plumbing.ls_tree(repo, head, recursive=False)
    new = plumbing.commit_tree(repo, plumbing.mktree(repo, tree), [head], "second\n\nRun-Tag: x-1\n")
    with pytest.raises(RefChanged):
        plumbing.update_ref(repo, ref, new, old=new)  # stale expectation
    plumbing.update_ref(repo, ref, new, old=head, message="move")
    assert plumbing.rev_parse(repo, ref) == new
    assert plumbing.rev_list(repo, [ref]) == [new, head]
    assert plumbing.rev_list(repo, ["--first-parent"], stdin=[new]) == [new, head]
    plumbing.delete_ref(repo, ref)
    plumbing.delete_ref(repo, ref)  # gone already: nothing to do
    assert plumbing.rev_parse(repo, ref) is None


def test_mktree_and_hash_object_round_trip_hostile_names(hostile_repo):
    repo, _ = hostile_repo
    blob = plumbing.hash_object(repo, b"x\0y")
    names = ["a\tb", "c\nd", os.fsdecode(b"\xff\xfe")]
    tree = plumbing.mktree(repo, [plumbing.TreeEntry("100644", "blob", blob, n) for n in names])
    assert sorted(e.path for e in plumbing.ls_tree(repo, tree)) == sorted(names)
    assert plumbing.CatFile(repo).blob(blob) == b"x\0y"
    assert plumbing.hash_object(repo, b"", kind="tree", write=False) == plumbing.empty_tree(repo)


def test_commit_message_and_trailers_survive_byte_for_byte(hostile_repo):
    repo, head = hostile_repo
    message = plumbing.with_trailers("Track run \"a\"\tb\n\nbody: not a trailer", [("Run-Tag", "acme-1"), ("Data", "d")])
    tree = plumbing.ls_tree(repo, head, recursive=False)
    commit = plumbing.commit_tree(repo, plumbing.mktree(repo, tree), [], message)
    raw = plumbing.CatFile(repo).blob(commit)
    assert raw.endswith(message.encode())
    assert plumbing.trailers(repo, message.encode()) == [("Run-Tag", "acme-1"), ("Data", "d")]
    assert plumbing.trailers(repo, b"no trailers here\n") == []


def test_for_each_ref_and_reachable_objects(hostile_repo):
    repo, head = hostile_repo
    assert plumbing.for_each_ref(repo, "refs/heads/*") == ["refs/heads/main"]
    reachable = plumbing.reachable_objects(repo, ["--all"])
    assert head in reachable and len(reachable) == 1 + 3 + len(HOSTILE)  # commit, trees, blobs


def test_staged_entries_keep_hostile_paths(hostile_repo):
    repo, _ = hostile_repo
    assert sorted(e.path for e in plumbing.ls_files_staged(repo)) == sorted(HOSTILE)


def test_repo_find_from_a_subfolder_a_bare_repo_and_outside(tmp_path, hostile_repo):
    repo, _ = hostile_repo
    found = Repo.find(repo / "plain")
    assert found.root == repo.resolve() and found.git_dir == (repo / ".git").resolve()
    run(["git", "clone", "-q", "--bare", str(repo), str(tmp_path / "b.git")], tmp_path)
    bare = Repo.find(tmp_path / "b.git")
    assert bare.root is None and bare.common_dir == (tmp_path / "b.git").resolve()
    outside = tmp_path / "outside"
    outside.mkdir()
    with pytest.raises(NotARepository, match="not a git repository"):
        plumbing.repo_paths(outside)


def test_repo_find_in_a_linked_worktree_shares_the_common_dir(hostile_repo):
    repo, _ = hostile_repo
    git(repo, "worktree", "add", "-q", str(repo.parent / "wt"), "-b", "side")
    found = Repo.find(repo.parent / "wt")
    assert found.root == (repo.parent / "wt").resolve()
    assert found.common_dir == (repo / ".git").resolve() != found.git_dir


def test_head_ref_read_from_the_head_file_is_what_git_says_in_every_state(hostile_repo, monkeypatch):
    """The hooks read HEAD's branch from the file: the same answer as `git symbolic-ref` on a branch,
    in a linked worktree, detached and on an unborn branch, and it needs no `git` (PATH emptied)."""
    repo, _ = hostile_repo
    wt = repo.parent / "wt"
    git(repo, "worktree", "add", "-q", str(wt), "-b", "data/raw")
    no_git = str(repo.parent / "no-git-here")

    def read_without_git(cwd: Path) -> str | None:
        git_dir = Repo.find(cwd).git_dir
        with monkeypatch.context() as m:
            m.setenv("PATH", no_git)
            return plumbing.head_ref_at(git_dir, cwd)

    seen = [read_without_git(repo), read_without_git(wt)]
    assert seen == [plumbing.head_ref(repo), "refs/heads/data/raw"] and seen[0]
    git(wt, "checkout", "-q", "--detach")
    git(repo, "checkout", "-q", "--orphan", "unborn/x")
    assert [read_without_git(wt), read_without_git(repo)] == [None, "refs/heads/unborn/x"]
    assert [plumbing.head_ref(wt), plumbing.head_ref(repo)] == [None, "refs/heads/unborn/x"]


def test_a_head_file_git_did_not_write_loose_is_asked_of_git(hostile_repo):
    """A HEAD the file reader cannot vouch for (a reftable repository's placeholder, two lines,
    no newline) goes to `git symbolic-ref`, which gives Git's own answer."""
    repo, head = hostile_repo
    git_dir = repo / ".git"
    for text in (b"ref: refs/heads/.invalid\n", b"ref: refs/heads/a\nref: refs/heads/b\n", b"ref: refs/heads/a"):
        (git_dir / "HEAD").write_bytes(text)
        assert plumbing.head_ref_at(git_dir, repo) == plumbing.head_ref(repo)
    (git_dir / "HEAD").write_bytes(head.encode() + b"\n")
    assert plumbing.head_ref_at(git_dir, repo) is None


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("git version 2.39.5\n", (2, 39, 5)),
        ("git version 2.45.2.windows.1", (2, 45, 2)),
        ("git version 2.37.1 (Apple Git-137.1)", (2, 37, 1)),
        ("git version 2.40", (2, 40, 0)),
    ],
)
def test_git_version_is_parsed_from_every_vendor_spelling(text, version):
    assert plumbing.parse_version(text) == version


def test_old_git_is_refused_with_both_versions_named():
    with pytest.raises(GitTooOld, match=r"needs Git 2\.36 or newer; found Git 2\.30\.1"):
        plumbing.check_version((2, 30, 1))
    plumbing.check_version((2, 36, 0))
    plumbing.require_git()  # the Git this suite runs on is supported
    assert plumbing.git_version() >= plumbing.MIN_GIT


def test_the_documents_state_the_minimum_git_version_the_code_checks():
    needed = "Git {}.{} or newer".format(*plumbing.MIN_GIT)
    root = Path(__file__).resolve().parents[1]
    for doc in ("README.md", "docs/architecture.md"):
        assert needed in (root / doc).read_text().replace("\n", " "), doc
