"""`branchml demo` builds a real repository: tags, records on main, lineage, a skops model."""

from __future__ import annotations

import json

import pytest
from conftest import bml, git

pytest.importorskip("sklearn", reason="the demo needs the `demo` extra (scikit-learn)")
pytest.importorskip("skops", reason="the demo needs the `demo` extra (skops)")


def test_demo_builds_tagged_runs_with_records_on_main(tmp_path):
    proc = bml(tmp_path, "demo", "--json", str(tmp_path / "demo"))
    summary = json.loads(proc.stdout)
    repo = tmp_path / "demo"
    assert summary["tags"] == ["acme-1", "acme-2", "globex-1"]
    assert b"byte-identical to the upload: True" in proc.stderr
    assert git(repo, "tag", "--list").split() == ["acme-1", "acme-2", "globex-1"]
    assert git(repo, "branch", "--show-current").strip() == "main"
    records = json.loads(bml(repo, "runs", "--json").stdout)
    by_tag = {r["tag"]: r for r in records}
    assert set(by_tag) == {"acme-1", "acme-2", "globex-1"}
    # the baseline is the most frequent class (about 1 in 10 right); the linear model is far better
    assert by_tag["acme-1"]["params"]["model"] == "most_frequent" and by_tag["acme-1"]["metrics"]["accuracy"] < 0.2
    assert by_tag["acme-2"]["params"]["model"] == "logistic_regression" and by_tag["acme-2"]["metrics"]["accuracy"] > 0.9
    assert by_tag["globex-1"]["branch"] == "stable/globex"
    # show answers where acme-2 came from: the merged code, and data traced back to the raw upload
    shown = summary["show"]
    assert shown["tag"] == "acme-2" and shown["code_commit"] == by_tag["acme-2"]["code_commit"]
    keys = [(e["key"], e["value"].split("@")[0]) for e in shown["data_lineage"]["entries"]]
    assert ("Data-From", "data/clean") in keys and ("Data-From", "data/raw") in keys
    assert any(k == "Data-Source" for k, _ in keys)
    # the model is a skops file in the store, committed with the tag
    files = {f["path"]: f for f in shown["files"]}
    assert files["models/model.skops"]["store"] and files["data/train.csv"]["store"]
    assert git(repo, "cat-file", "-p", "acme-2:models/model.skops").startswith("branchml pointer v1")
    assert git(repo, "status", "--porcelain") == ""
    # the README's next step on data/clean, `data pull data/raw`, keeps the demo's cleaning edit
    git(repo, "switch", "-q", "data/clean")
    cleaned = (repo / "data/digits.csv").read_bytes()
    bml(repo, "data", "pull", "data/raw")
    assert (repo / "data/digits.csv").read_bytes() == cleaned
    assert git(repo, "status", "--porcelain") == ""
    # the demo's tags can be served (skops model, predict.py and [serve] committed), from any branch
    from serve_helpers import Server

    rows = [line.split(",") for line in cleaned.decode().splitlines()[1:6]]
    server = Server(repo, "acme-2", "--no-log")
    try:
        meta = server.client.get("/metadata").json()
        assert meta["tag"] == "acme-2" and len(meta["input_schema"]["columns"]) == 64
        answer = server.client.post("/invocations", json={"dataframe_split": {
            "columns": [c["name"] for c in meta["input_schema"]["columns"]], "data": [[int(v) for v in r[:-1]] for r in rows]}})
        assert answer.status_code == 200, answer.text
        predictions = answer.json()["predictions"]
        assert sum(p == int(r[-1]) for p, r in zip(predictions, rows)) >= 4  # a model with accuracy > 0.9
    finally:
        server.stop()
