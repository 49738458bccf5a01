"""Pull by copy and lineage: path mapping, tags and commits as sources, runs, missing commits."""

from __future__ import annotations

from conftest import bml, git
from data_helpers import bml_json, data_repo, head, png, write_files


def two_uploads(repo, tmp_path) -> list[str]:
    data_repo(repo)
    git(repo, "switch", "-q", "-c", "data/raw")
    commits = []
    for n, source in enumerate(["vendor A", "vendor B"]):
        files = write_files(tmp_path / f"in{n}", {f"img{n}.png": png(n), f"n{n}.txt": b"note\n"})
        bml(repo, "data", "add", *files, "--source", source, "--to", f"data/uploads/{n}")
        commits.append(head(repo))
    return commits


def test_pull_maps_paths_and_lineage_follows_tags_commits_runs_and_missing_commits(repo, tmp_path):
    uploads = two_uploads(repo, tmp_path)
    git(repo, "tag", "raw-v2")
    git(repo, "switch", "-q", "-c", "ds/acme", "main")
    first = bml_json(repo, "data", "pull", uploads[0], "--path", "data/uploads/0", "--to", "inputs/first")
    assert first["added"] == ["inputs/first/img0.png", "inputs/first/n0.txt"]
    assert (repo / "inputs/first/img0.png").read_bytes() == png(0)
    second = bml_json(repo, "data", "pull", "raw-v2", "--path", "data/uploads/1/n1.txt", "--to", "notes")
    assert second["added"] == ["notes/n1.txt"] and second["source"] == f"raw-v2@{uploads[1]}"
    assert bml_json(repo, "data", "pull", "raw-v2", "--path", "data/uploads/1/n1.txt", "--to", "notes")["commit"] is None
    other = bml_json(repo, "data", "pull", "raw-v2", "--path", "data/uploads/0", "--to", "notes")  # other paths: all copied
    assert other["added"] == ["notes/img0.png", "notes/n0.txt"] and other["since"] is None

    result = bml_json(repo, "lineage", "ds/acme")
    assert [s["source"] for s in result["sources"]] == ["vendor A", "vendor B"]
    assert {c["ref"] for c in result["chain"]} == {uploads[0], "raw-v2"}

    # used-by names runs (tags on a commit with Run-Tag); lineage survives commits missing here
    git(repo, "switch", "-q", "-c", "stable/acme", "main")
    bml(repo, "data", "pull", "data/raw")
    code = head(repo)
    git(repo, "commit", "-q", "--allow-empty", "-m", "Train acme-1", "--trailer", "Run-Tag: acme-1", "--trailer", f"Code-From: {code}")
    git(repo, "tag", "acme-1")
    users = {u["name"]: u for u in bml_json(repo, "used-by", uploads[0])["users"]}
    assert users["acme-1"]["kind"] == "run" and users["stable/acme"]["kind"] == "branch"
    assert users["acme-1"]["via"] == [f"data/raw@{uploads[1]}"]
    assert "main" not in users and users["ds/acme"]["how"] == "pulled"
    assert bml_json(repo, "lineage", "acme-1")["code_commit"] == code

    ghost = "0123456789abcdef0123456789abcdef01234567"
    git(repo, "commit", "-q", "--allow-empty", "-m", "Pulled elsewhere", "--trailer", f"Data-From: data/other@{ghost}")
    result = bml_json(repo, "lineage", "HEAD")
    missing = [c for c in result["chain"] if c["ref"] == "data/other"]
    assert missing and missing[0]["missing"] is True
    assert len(result["sources"]) == 2
    assert "not in this clone" in bml(repo, "lineage", "HEAD").stdout.decode()


def test_a_later_pull_applies_only_changes_and_removes_copies_the_source_deleted(repo, tmp_path):
    data_repo(repo)
    git(repo, "switch", "-q", "-c", "data/clean")
    write_files(repo / "data/u", {"a.txt": b"a\n", "b.txt": b"b\n", "c.txt": b"c\n"})
    git(repo, "add", "data")
    git(repo, "commit", "-q", "-m", "Clean data")
    git(repo, "switch", "-q", "-c", "data/split", "main")
    bml(repo, "data", "pull", "data/clean")
    (repo / "data/u/c.txt").write_bytes(b"changed here\n")
    git(repo, "commit", "-q", "-am", "Local edit")

    git(repo, "switch", "-q", "data/clean")
    git(repo, "rm", "-q", "data/u/b.txt", "data/u/c.txt")
    write_files(repo / "data/u", {"d.txt": b"d\n"})
    git(repo, "add", "data")
    git(repo, "commit", "-q", "-m", "Drop b and c, add d")
    git(repo, "switch", "-q", "data/split")
    result = bml_json(repo, "data", "pull", "data/clean")
    assert result["added"] == ["data/u/d.txt"] and result["removed"] == ["data/u/b.txt"]
    assert git(repo, "ls-files", "data").split() == ["data/u/a.txt", "data/u/c.txt", "data/u/d.txt"]
    assert (repo / "data/u/c.txt").read_bytes() == b"changed here\n"


def test_lineage_and_used_by_are_dataclasses_whose_as_dict_is_what_json_prints(repo, tmp_path):
    import branchml
    from branchml.data.lineage import Lineage, Usage

    uploads = two_uploads(repo, tmp_path)
    git(repo, "switch", "-q", "-c", "ds/acme", "main")
    bml(repo, "data", "pull", uploads[0], "--path", "data/uploads/0", "--to", "inputs")
    ghost = "0123456789abcdef0123456789abcdef01234567"
    git(repo, "commit", "-q", "--allow-empty", "-m", "Pulled elsewhere",
        "--trailer", f"Data-From: data/other@{ghost}", "--trailer", "Data-From: no-commit-named")

    found = branchml.lineage(branchml.open_repo(repo), "HEAD")
    assert isinstance(found, Lineage)
    pulls = {pull.ref: pull for pull in found.chain}
    assert pulls["data/other"].missing and pulls["data/other"].commit == ghost and not pulls["data/other"].uploads
    assert pulls["no-commit-named"].malformed and pulls["no-commit-named"].commit is None
    assert [(u.source, u.files) for u in pulls[uploads[0]].uploads] == [("vendor A", 2)]
    assert [e.key for e in found.entries].count("Data-From") == 3
    printed = bml_json(repo, "lineage", "HEAD")
    assert found.as_dict() == printed
    assert {c["ref"]: ("missing" in c, "malformed" in c) for c in printed["chain"]} == {
        uploads[0]: (False, False), "data/other": (True, False), "no-commit-named": (False, True)}

    usage = branchml.used_by(branchml.open_repo(repo), uploads[0])
    assert isinstance(usage, Usage)
    assert {u.name: u.how for u in usage.users}["ds/acme"] == "pulled"
    assert usage.as_dict() == bml_json(repo, "used-by", uploads[0])
