"""The drivers under real Git: merge, rebase, cherry-pick, criss-cross; plain and tracked (pointer) files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from branchml.store.pointer import looks_like_pointer
from conftest import bml, git, run


def write(repo: Path, path: str, data: bytes | str) -> None:
    target = repo / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data.encode() if isinstance(data, str) else data)


def commit(repo: Path, message: str, **files: bytes | str) -> None:
    for path, data in files.items():
        write(repo, path.replace("__", "/"), data)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def branch_from_main(repo: Path, name: str) -> None:
    git(repo, "branch", name, "main")


def csv_lines(repo: Path, path: str) -> list[str]:
    return (repo / path).read_text().splitlines()


def test_init_writes_default_merge_attributes_once(repo):
    text = (repo / ".gitattributes").read_text()
    assert "data/**/*.csv merge=branchml-rows" in text
    assert "models/** merge=branchml-replace" in text
    assert "*.sqlite merge=branchml-sqlite" in text
    bml(repo, "init", ".")
    assert (repo / ".gitattributes").read_text() == text
    attr = git(repo, "check-attr", "merge", "--", "tracking/runs.json", "data/raw/x.csv", "models/m.bin")
    assert "tracking/runs.json: merge: branchml-jsonlist" in attr
    assert "data/raw/x.csv: merge: branchml-rows" in attr
    assert "models/m.bin: merge: branchml-replace" in attr
    driver = git(repo, "config", "--get", "merge.branchml-rows.driver")
    assert driver.strip().endswith("-m branchml merge-driver rows %O %A %B %P %L")


def test_track_keeps_or_sets_the_merge_driver_on_the_same_line(repo):
    bml(repo, "track", "data/**/*.csv")
    bml(repo, "track", "--merge", "sqlite", "*.db")
    bml(repo, "track", "--merge", "replace", "weights/*.pt")
    lines = (repo / ".gitattributes").read_text().splitlines()
    assert "data/**/*.csv filter=branchml diff=branchml merge=branchml-rows -text" in lines
    assert "*.db filter=branchml diff=branchml merge=branchml-sqlite -text" in lines
    assert "weights/*.pt filter=branchml diff=branchml merge=branchml-replace -text" in lines
    bml(repo, "track", "data/raw/*.jsonl")  # its own line; the default line still gives the driver
    attrs = git(repo, "check-attr", "filter", "merge", "--", "data/raw/a.jsonl")
    assert "filter: branchml" in attrs and "merge: branchml-rows" in attrs
    bad = bml(repo, "track", "--merge", "union", "x/*", check=False)
    assert bad.returncode != 0 and "union" in bad.stderr.decode()


def test_merge_appends_rows_and_json_records_of_both_branches(repo):
    commit(repo, "base", **{"data__raw__labels.csv": "id,label\n1,cat\n", "tracking__runs.json": '[{"run": "a-1"}]\n'})
    branch_from_main(repo, "dev/x")
    commit(repo, "main adds", **{"data__raw__labels.csv": "id,label\n1,cat\n2,dog\n", "tracking__runs.json": '[{"run": "a-1"}, {"run": "a-2"}]\n'})
    git(repo, "switch", "-q", "dev/x")
    commit(repo, "dev adds", **{"data__raw__labels.csv": "id,label\n1,cat\n3,owl\n", "tracking__runs.json": '[{"run": "a-1"}, {"run": "b-1"}]\n'})
    git(repo, "switch", "-q", "main")
    git(repo, "merge", "-q", "--no-edit", "dev/x")
    assert csv_lines(repo, "data/raw/labels.csv") == ["id,label", "1,cat", "2,dog", "3,owl"]
    assert json.loads((repo / "tracking/runs.json").read_text()) == [{"run": "a-1"}, {"run": "a-2"}, {"run": "b-1"}]
    assert git(repo, "status", "--porcelain") == ""


@pytest.mark.parametrize("tracked", [False, True], ids=["plain", "pointer"])
def test_rebase_and_cherry_pick_replay_appended_rows(repo, tracked):
    if tracked:
        bml(repo, "track", "data/**/*.jsonl")
    commit(repo, "base", **{"data__rows.jsonl": '{"t": 0}\n'})
    branch_from_main(repo, "dev/a")
    commit(repo, "main 1", **{"data__rows.jsonl": '{"t": 0}\n{"t": "m1"}\n'})
    git(repo, "switch", "-q", "dev/a")
    commit(repo, "dev 1", **{"data__rows.jsonl": '{"t": 0}\n{"t": "d1"}\n'})
    commit(repo, "dev 2", **{"data__rows.jsonl": '{"t": 0}\n{"t": "d1"}\n{"t": "d2"}\n'})
    git(repo, "branch", "dev/b", "dev/a")
    git(repo, "rebase", "-q", "main")
    assert (repo / "data/rows.jsonl").read_text().splitlines() == ['{"t": 0}', '{"t": "m1"}', '{"t": "d1"}', '{"t": "d2"}']
    git(repo, "switch", "-q", "main")
    git(repo, "cherry-pick", "dev/b~0")  # only "dev 2": its own appended row comes over
    rows = (repo / "data/rows.jsonl").read_text().splitlines()
    assert rows[:2] == ['{"t": 0}', '{"t": "m1"}'] and '{"t": "d2"}' in rows
    assert looks_like_pointer(run(["git", "cat-file", "-p", "HEAD:data/rows.jsonl"], repo).stdout) == tracked


def test_criss_cross_history_keeps_every_row_of_a_tracked_file(repo):
    """Two merge bases: Git merges them into a virtual base (running the driver), then merges."""
    bml(repo, "track", "data/**/*.csv")
    commit(repo, "base", **{"data__log.csv": "id,v\n0,base\n"})
    branch_from_main(repo, "dev/x")
    commit(repo, "m1", **{"data__log.csv": "id,v\n0,base\n1,main\n"})
    git(repo, "switch", "-q", "dev/x")
    commit(repo, "x1", **{"data__log.csv": "id,v\n0,base\n2,dev\n"})
    git(repo, "branch", "x-tip", "dev/x")
    git(repo, "merge", "-q", "--no-edit", "main")  # dev/x gets main's row
    git(repo, "switch", "-q", "main")
    git(repo, "merge", "-q", "--no-edit", "x-tip")  # main gets dev's row: two merge bases from here on
    commit(repo, "m2", **{"data__log.csv": (repo / "data/log.csv").read_text() + "3,main\n"})
    git(repo, "switch", "-q", "dev/x")
    commit(repo, "x2", **{"data__log.csv": (repo / "data/log.csv").read_text() + "4,dev\n"})
    git(repo, "switch", "-q", "main")
    bases = git(repo, "merge-base", "--all", "main", "dev/x").split()
    assert len(bases) == 2
    git(repo, "merge", "-q", "--no-edit", "dev/x")
    body = sorted(csv_lines(repo, "data/log.csv")[1:])
    assert body == ["0,base", "1,main", "2,dev", "3,main", "4,dev"]
    assert looks_like_pointer(run(["git", "cat-file", "-p", "HEAD:data/log.csv"], repo).stdout)


def test_keyed_rows_changed_on_both_sides_conflict_with_markers(repo):
    (repo / "branchml.toml").write_text((repo / "branchml.toml").read_text().replace(
        "[merge.rows.keys]", '[merge.rows.keys]\n"data/labels.csv" = "id"'))
    commit(repo, "base", **{"data__labels.csv": "id,label\n1,cat\n2,dog\n"})
    branch_from_main(repo, "dev/x")
    commit(repo, "main relabels", **{"data__labels.csv": "id,label\n1,lion\n2,dog\n"})
    git(repo, "switch", "-q", "dev/x")
    commit(repo, "dev relabels", **{"data__labels.csv": "id,label\n1,tiger\n2,wolf\n5,eel\n"})
    git(repo, "switch", "-q", "main")
    proc = run(["git", "merge", "--no-edit", "dev/x"], repo, check=False)
    assert proc.returncode == 1
    assert "row with id=1 changed differently on both sides" in proc.stderr.decode() + proc.stdout.decode()
    text = (repo / "data/labels.csv").read_text()
    assert "<<<<<<< ours (id=1)\n1,lion\n=======\n1,tiger\n>>>>>>> theirs (id=1)\n" in text
    assert "2,wolf\n" in text and "5,eel\n" in text  # the clean parts merged
    assert "UU data/labels.csv" in git(repo, "status", "--porcelain")


def test_replace_takes_the_incoming_model(repo):
    commit(repo, "base", **{"models__model.bin": b"\x00old model"})
    branch_from_main(repo, "stable/x")
    commit(repo, "main touches model", **{"models__model.bin": b"\x00main's model"})
    git(repo, "switch", "-q", "stable/x")
    commit(repo, "retrained", **{"models__model.bin": b"\x00stable's new model\xff"})
    git(repo, "switch", "-q", "main")
    git(repo, "merge", "-q", "--no-edit", "stable/x")
    assert (repo / "models/model.bin").read_bytes() == b"\x00stable's new model\xff"


def test_tracked_files_merge_through_the_store(repo):
    bml(repo, "track", "data/**/*.csv", "models/**")
    header = "id,text\n" + "".join(f"{i},{'x' * 50}\n" for i in range(2000))  # ~100 KB: several chunks
    commit(repo, "base", **{"data__big.csv": header, "models__m.bin": b"\x01" * 1000})
    assert looks_like_pointer(run(["git", "cat-file", "-p", "HEAD:data/big.csv"], repo).stdout)
    branch_from_main(repo, "dev/x")
    commit(repo, "main row", **{"data__big.csv": header + "main,row\n", "models__m.bin": b"\x02" * 1000})
    git(repo, "switch", "-q", "dev/x")
    commit(repo, "dev row", **{"data__big.csv": header + "dev,row\n", "models__m.bin": b"\x03" * 1000})
    git(repo, "switch", "-q", "main")
    git(repo, "merge", "-q", "--no-edit", "dev/x")
    assert (repo / "data/big.csv").read_text() == header + "main,row\ndev,row\n"
    assert (repo / "models/m.bin").read_bytes() == b"\x03" * 1000
    blob = run(["git", "cat-file", "-p", "HEAD:data/big.csv"], repo).stdout
    assert looks_like_pointer(blob)  # Git recorded a pointer; the content is in the store
    assert git(repo, "status", "--porcelain") == ""
    assert "big.csv" in bml(repo, "ls-files").stdout.decode() + bml(repo, "ls-files").stderr.decode()


def test_missing_content_stops_the_merge_and_keeps_ours(repo):
    from branchml.store.pointer import Pointer

    bml(repo, "track", "data/**/*.csv")
    commit(repo, "base", **{"data__a.csv": "id\n1\n"})
    branch_from_main(repo, "dev/x")
    commit(repo, "main row", **{"data__a.csv": "id\n1\n2\n"})
    git(repo, "switch", "-q", "dev/x")
    commit(repo, "a pointer to content nobody has", **{"data__a.csv": Pointer("ab" * 32, 9).encode()})
    git(repo, "switch", "-q", "main")
    proc = run(["git", "merge", "--no-edit", "dev/x"], repo, check=False)
    assert proc.returncode != 0
    assert "data/a.csv" in proc.stderr.decode() and "not in the store" in proc.stderr.decode()
    assert (repo / "data/a.csv").read_text() == "id\n1\n2\n"  # ours, whole; nothing merged by mistake
    assert git(repo, "rev-parse", "HEAD") == git(repo, "rev-parse", "main")
