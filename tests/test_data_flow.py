"""End to end: three raw uploads -> clean -> split -> a fourth upload and re-split -> stable -> lineage."""

from __future__ import annotations

import json

from branchml.data.split import view
from branchml.repo import Repo
from conftest import bml, git
from data_helpers import (
    bml_json,
    broken_png,
    csv_bytes,
    data_repo,
    head,
    jsonl,
    manifest,
    parquet,
    png,
    status,
    write_files,
)

SOURCES = ["camera roll, site A", "crm export 2026-11-20", "partner csv drop", "camera roll, site B"]


def upload_files(tmp_path, n: int) -> list[str]:
    folder = tmp_path / f"incoming{n}"
    if n == 0:
        files = {f"cat{i}.png": png(i) for i in range(6)} | {"broken.png": broken_png(99), "empty.png": b""}
    elif n == 1:
        rows = [{"id": f"t{i}", "text": f"ticket {i}"} for i in range(30)]
        body = jsonl(rows[:15]) + b"{not json\n" + jsonl(rows[15:])
        files = {"tickets.jsonl": body, "note.txt": b"a real note\n", "blank.txt": b"  \n\t\n", "empty.txt": b""}
    elif n == 2:
        rows = [[f"p{i}", str(i * 1.5)] for i in range(40)]
        files = {"prices.csv": csv_bytes(["id", "price"], rows[:20]) + b"p-bad,1,extra\n" + csv_bytes(["id", "price"], rows[20:])[len(b"id,price\n"):],
                 "more.parquet": parquet([{"id": f"q{i}", "value": i} for i in range(50)])}
    else:
        files = {f"dog{i}.png": png(100 + i) for i in range(6)} | {"tickets2.jsonl": jsonl([{"id": f"u{i}", "text": f"new {i}"} for i in range(20)])}
    return write_files(folder, files)


def test_raw_to_stable_keeps_split_and_names_every_upload(repo, tmp_path):
    data_repo(repo)
    git(repo, "switch", "-q", "-c", "data/raw")
    uploads = []
    for n in range(3):
        bml(repo, "data", "add", *upload_files(tmp_path, n), "--source", SOURCES[n])
        uploads.append(head(repo))
        assert git(repo, "log", "-1", "--format=%(trailers:key=Data-Source,valueonly)").strip() == SOURCES[n]
    assert len(set(git(repo, "ls-tree", "-d", "--name-only", "HEAD", "data/uploads/").split())) == 3

    # clean: broken/empty files and bad rows go, each one in the committed report
    git(repo, "switch", "-q", "-c", "data/clean", "main")
    bml(repo, "data", "pull", "data/raw")
    assert git(repo, "log", "-1", "--format=%(trailers:key=Data-From,valueonly)").strip() == f"data/raw@{uploads[2]}"
    cleaned = bml_json(repo, "data", "clean")
    dropped = {d["path"].rsplit("/", 1)[1]: d["rule"] for d in cleaned["dropped_files"]}
    assert dropped == {"broken.png": "broken-image", "empty.png": "zero-byte", "blank.txt": "empty-text", "empty.txt": "zero-byte"}
    assert sorted((d["path"].rsplit("/", 1)[1], d["row"]) for d in cleaned["dropped_rows"]) == [("prices.csv", 22), ("tickets.jsonl", 16)]
    report = json.loads(git(repo, "show", f"HEAD:{cleaned['report']}"))
    assert len(report["dropped_files"]) == 4 and len(report["dropped_rows"]) == 2
    tree = git(repo, "ls-tree", "-r", "--name-only", "HEAD")
    assert "broken.png" not in tree and "note.txt" in tree and "cat0.png" in tree
    assert b"not json" not in (repo / cleaned["dropped_rows"][1]["path"]).read_bytes()
    assert bml_json(repo, "data", "clean")["commit"] is None  # cleaning clean data changes nothing
    assert bml_json(repo, "data", "clean", "--all")["checked_files"] == 6 + 1 + 3  # all left: images, note, rows

    # split: folders per split, manifest, settings saved; images copied as the same pointer blobs
    git(repo, "switch", "-q", "-c", "data/split", "main")
    bml(repo, "data", "pull", "data/clean")
    first = bml_json(repo, "data", "split", "--ratios", "0.6,0.2,0.2", "--seed", "7", "--key", "id")
    assert sum(first["counts"].values()) == 6 + 1 + 30 + 40 + 50  # images + note + rows
    assert "[split]" in (repo / "branchml.toml").read_text()
    before = manifest(repo)
    cat = next(p for (p, _), s in before.items() if p.endswith("cat0.png"))
    split_of_cat = before[(cat, cat.split("data/uploads/", 1)[1])]
    assert git(repo, "rev-parse", f"HEAD:{cat}") == git(repo, "rev-parse", f"HEAD:data/{split_of_cat}/{cat.split('data/uploads/', 1)[1]}")
    assert git(repo, "cat-file", "-p", f"HEAD:{cat}").startswith("branchml pointer v1")
    assert (repo / "data" / split_of_cat / cat.split("data/uploads/", 1)[1]).read_bytes() == png(0)
    views = {name: view(Repo.find(repo), name) for name in ("train", "val", "test", "train+val")}
    views["all"] = bml_json(repo, "data", "view", "all")
    assert sorted(views["train+val"]) == sorted(views["train"] + views["val"])
    assert sorted(views["all"]) == sorted(views["train+val"] + views["test"])

    # a fourth upload flows through; the re-split (saved settings) moves nothing
    git(repo, "switch", "-q", "data/raw")
    bml(repo, "data", "add", *upload_files(tmp_path, 3), "--source", SOURCES[3])
    uploads.append(head(repo))
    git(repo, "switch", "-q", "data/clean")
    pulled = bml_json(repo, "data", "pull", "data/raw")  # only what is new since the last pull
    assert pulled["since"] == uploads[2] and len(pulled["added"]) == 7 and not pulled["updated"]
    assert "broken.png" not in git(repo, "ls-tree", "-r", "--name-only", "HEAD")
    again = bml_json(repo, "data", "clean")
    assert again["commit"] is None and again["checked_files"] == 7  # only the new upload: it is clean
    git(repo, "switch", "-q", "data/split")
    bml(repo, "data", "pull", "data/clean")
    second = bml_json(repo, "data", "split")
    assert second["commit"] and second["settings"] == first["settings"]
    after = manifest(repo)
    assert len(after) == len(before) + 6 + 20
    assert {k: after[k] for k in before} == before
    assert status(repo) == ""

    # stable pulls the split; lineage names every upload and its source
    git(repo, "switch", "-q", "-c", "stable/acme", "main")
    bml(repo, "data", "pull", "data/split")
    git(repo, "tag", "acme-1")
    result = bml_json(repo, "lineage", "acme-1")
    assert [s["commit"] for s in result["sources"]] == uploads
    assert [s["source"] for s in result["sources"]] == SOURCES
    assert result["chain"][0]["ref"] == "data/split" and result["chain"][0]["chain"][0]["ref"] == "data/clean"
    assert result["sources"][0]["files"] == 8
    assert result["entries"][0] == {"commit": head(repo), "key": "Data-From", "value": result["chain"][0]["ref"] + "@" + result["chain"][0]["commit"]}
    assert {e["value"] for e in result["entries"] if e["key"] == "Data-Source"} == set(SOURCES)
    text = bml(repo, "lineage", "stable/acme").stdout.decode()
    assert all(source in text for source in SOURCES)

    users = {u["name"]: u for u in bml_json(repo, "used-by", uploads[0])["users"]}
    assert users["stable/acme"]["how"] == "pulled" and users["acme-1"]["kind"] == "tag"
    assert [v.split("@")[0] for v in users["stable/acme"]["via"]] == ["data/split", "data/clean", "data/raw"]
    assert users["data/raw"]["how"] == "contains" and "main" not in users
