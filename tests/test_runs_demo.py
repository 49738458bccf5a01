"""`branchml demo` builds a real repository and tells the production story on real data: Seattle's
weather through data/raw -> clean -> split -> stable/acme, three-phase training, the real server,
drift alerts, retraining, forward and backward tests, and the A/B report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import bml, git
from demo_helpers import demo_repo

pytest.importorskip("sklearn", reason="the demo needs the `demo` extra (scikit-learn)")
pytest.importorskip("skops", reason="the demo needs the `demo` extra (skops)")
pytest.importorskip("vega_datasets", reason="the demo needs the `demo` extra (vega_datasets)")
pytest.importorskip("fastapi", reason="the demo serves its tags (the `serve` extra)")
pytest.importorskip("scipy", reason="the demo's alerts and A/B report need the `monitor` extra")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, dict, bytes]:
    return demo_repo(tmp_path_factory, "runs-demo")


def test_demo_trains_in_three_phases_on_the_split_branch_and_tags_each_run(demo):
    repo, summary, narration = demo
    assert summary["tags"] == ["acme-1", "acme-2", "globex-1", "acme-3"]
    assert git(repo, "tag", "--list").split() == ["acme-1", "acme-2", "acme-3", "globex-1"]
    assert git(repo, "branch", "--show-current").strip() == "main" and git(repo, "status", "--porcelain") == ""
    by_tag = {r["tag"]: r for r in json.loads(bml(repo, "runs", "--json").stdout)}
    assert by_tag["acme-1"]["params"]["model"] == "most_frequent"
    assert by_tag["acme-2"]["metrics"]["accuracy"] > by_tag["acme-1"]["metrics"]["accuracy"] + 0.1
    params = by_tag["acme-2"]["params"]
    assert params["window"] == "2012-01-02..2012-12-31" or params["window"].startswith("2012-")
    assert "compared on validation" in params["phase1_tune"] and "evaluated once on test" in params["phase2_test"]
    assert "trained on all" in params["phase3_final"]
    card = git(repo, "show", "acme-2:MODEL_CARD.md")
    assert "phase1_tune" in card and "phase2_test" in card and "phase3_final" in card
    # the data went raw -> clean -> split -> stable/acme, and the split folders are what training read
    split_files = git(repo, "ls-tree", "-r", "--name-only", "acme-2", "data/").split()
    assert {p.split("/")[1] for p in split_files} >= {"train", "val", "test"}
    lineage = json.loads(bml(repo, "lineage", "acme-3", "--json").stdout)
    text = json.dumps(lineage)
    assert "data/split@" in text and "data/clean@" in text and "2012" in text and "2013-2014" in text
    # acme-3 was retrained on the latest year once 2013-2014 arrived on data/raw
    assert by_tag["acme-3"]["params"]["window"].startswith("2014-")
    assert b"three phases" in narration


def test_demo_serves_raises_drift_alerts_and_reports_forward_and_backward_tests(demo):
    repo, summary, narration = demo
    story = summary["production"]
    alerts = " | ".join(story["alerts"])
    assert "temp_max: drifted" in alerts and "prediction (weather): drifted" in alerts and "wind:" not in alerts
    assert "labels (weather): drifted" in alerts  # the observed weather itself moved away from 2012's
    reports = [p for p in git(repo, "ls-tree", "--name-only", "monitor/prod", "reports/").split() if p.endswith(".json")]
    [report] = [json.loads(git(repo, "show", f"monitor/prod:{p}")) for p in reports]
    drifted = {f["feature"]: f["drifted"] for f in report["tags"][0]["features"]}
    assert drifted["temp_max"] and not drifted["wind"]
    # the logs of the real server: both tags, both variants, labels joined by request id
    ab = json.loads(bml(repo, "ab", "report", "--env", "prod", "--json").stdout)
    arms = {(a["variant"], a["tag"]): a for a in ab["arms"]}
    assert set(arms) == {("primary", "acme-2"), ("canary", "acme-3"), ("primary", "acme-3"), ("canary", "acme-2")}
    assert all(a["observed"] == a["records"] for a in ab["arms"])  # every answer got its label
    share = arms[("canary", "acme-3")]["records"] / (arms[("canary", "acme-3")]["records"] + 15000)
    assert 0.001 < share < 0.03  # 1% of the callers, sticky
    kinds = {e["kind"]: e for e in ab["experiments"]}
    forward, backward = kinds["forward"], kinds["backward"]
    assert (forward["reference"], forward["candidate"]) == ("acme-2", "acme-3")
    assert (backward["reference"], backward["candidate"]) == ("acme-3", "acme-2")
    assert forward["comparison"]["difference"] > 0.1 and forward["comparison"]["p_value"] < 0.01
    assert backward["comparison"]["difference"] < -0.1 and backward["comparison"]["p_value"] < 0.01
    assert [(c["before"], c["after"]) for c in ab["changes"]] == [("acme-2", "acme-3")]
    assert ab["arms"] and story["ab"]["experiments"][0]["candidate"] == ab["experiments"][0]["candidate"]
    assert b"forward test" in narration and b"backward test" in narration
    # B6: the analysis branch pulled the logs and keeps the report
    assert "Data-From: monitor/prod@" in git(repo, "log", "-2", "--format=%B", "ds/acme")
    kept = json.loads(git(repo, "show", "ds/acme:analysis/ab-prod.json"))
    assert [e["kind"] for e in kept["experiments"]] == [e["kind"] for e in ab["experiments"]]
    assert git(repo, "ls-tree", "-r", "--name-only", "ds/acme", "logs/acme-3/").strip()


def test_demo_tags_can_be_served_from_any_branch(demo):
    from serve_helpers import Server

    repo, _, _ = demo
    server = Server(repo, "acme-3", "--no-log")
    try:
        meta = server.client.get("/metadata").json()
        columns = [c["name"] for c in meta["input_schema"]["columns"]]
        assert meta["tag"] == "acme-3" and columns == ["precipitation", "temp_max", "temp_min", "wind"]
        answer = server.client.post("/invocations", json={"dataframe_split": {"columns": columns,
                                                                               "data": [[12.0, 9.0, 4.0, 5.0], [0.0, 25.0, 13.0, 2.0]]}})
        assert answer.status_code == 200, answer.text
        assert all(p in {"drizzle", "fog", "rain", "snow", "sun"} for p in answer.json()["predictions"])
    finally:
        server.stop()
    # the README's next step on data/clean, `data pull data/raw`, changes nothing: everything is pulled
    git(repo, "switch", "-q", "data/clean")
    bml(repo, "data", "pull", "data/raw")
    assert git(repo, "status", "--porcelain") == ""
