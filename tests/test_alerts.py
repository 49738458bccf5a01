"""Alerts on monitor/<env>: the drift baseline `branchml run` commits with a tag, `monitor check`
against it on real seattle-weather data (2012 trains, 2014 arrives), the committed rules and their
trust, bad input, `monitor watch`, and the server's post-receive hook."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import pytest
from conftest import bml, git

from branchml.monitor import Logger

scipy_stats = pytest.importorskip("scipy.stats", reason="the monitor extra (scipy) is not installed")
vega = pytest.importorskip("vega_datasets", reason="the monitor extra (vega_datasets) is not installed")

FEATURES = ["precipitation", "temp_max", "temp_min", "wind"]
TRAIN = """\
import json, os
os.makedirs("models", exist_ok=True)
json.dump({"predict": "sun"}, open("models/model.json", "w"))
json.dump({"rows": 366}, open("metrics.json", "w"))
"""
MONITOR = """
[monitor]
data = "data/train.csv"
features = ["precipitation", "temp_max", "temp_min", "wind"]
target = "weather"
"""


def weather(year: int) -> list[dict[str, str]]:
    path = Path(vega.__file__).parent / "_data" / "seattle-weather.csv"
    with path.open(newline="") as f:
        return [row for row in csv.DictReader(f) if row["date"].startswith(str(year))]


def log_rows(repo: Path, env: str, tag: str, rows: list[dict[str, object]], prefix: str) -> None:
    with Logger(env=env, tag=tag, repo=repo, batch_records=500) as log:
        for n, row in enumerate(rows):
            features = {k: (float(v) if isinstance(v, str) else v) for k, v in row.items() if k in FEATURES}
            log.log(features, row.get("weather"), request_id=f"{prefix}{n}")


def check(repo: Path, *args: str) -> tuple[int, dict]:
    proc = bml(repo, "monitor", "check", "--json", *args, check=False)
    assert proc.returncode in (0, 1), proc.stderr.decode()
    return proc.returncode, json.loads(proc.stdout)


def feature(report: dict, tag: str, name: str) -> dict:
    [found] = [f for t in report["tags"] if t["tag"] == tag for f in t["features"] if f["feature"] == name]
    return found


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """stable/w trained on seattle-weather 2012 (tag w-1, with its baseline); monitor/prod got 2014's days."""
    base = tmp_path_factory.mktemp("alerts")
    bml(base, "init", "repo")
    repo = base / "repo"
    (repo / "README.md").write_text("weather\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    git(repo, "switch", "-qc", "stable/w")
    (repo / "data").mkdir()
    rows = weather(2012)
    with (repo / "data/train.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (repo / "train.py").write_text(TRAIN)
    (repo / "branchml.toml").write_text((repo / "branchml.toml").read_text().split("[monitor]")[0] + MONITOR)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "training code and 2012 data")
    bml(repo, "run", "--", sys.executable, "train.py")
    log_rows(repo, "prod", "w-1", weather(2014), "d")
    return repo


def test_run_commits_the_baseline_of_the_training_features_with_the_tag(trained):
    baseline = json.loads(git(trained, "show", "w-1:models/baseline.json"))
    assert baseline["format"] == 1 and baseline["tag"] == "w-1" and baseline["rows"] == 366
    assert sorted(baseline["features"]) == FEATURES and baseline["target"]["name"] == "weather"
    temp = baseline["features"]["temp_max"]
    values = [float(r["temp_max"]) for r in weather(2012)]
    assert temp["kind"] == "numeric" and temp["count"] == 366 and temp["max"] == max(values)
    assert sorted(temp["sample"]) == sorted(values)  # 366 values: the whole column is the KS sample
    assert sum(temp["bin_counts"]) == 366 and len(temp["bin_counts"]) == len(temp["bin_edges"]) + 1
    assert baseline["target"]["frequencies"] == {"drizzle": 31, "fog": 5, "rain": 191, "snow": 21, "sun": 118}


def test_check_finds_the_2014_temperature_drift_and_not_the_wind(trained):
    code, report = check(trained, "--env", "prod")
    assert code == 1 and report["alert"] and report["window"]["records"] == 365
    old, new = weather(2012), weather(2014)
    for name, drifted in (("temp_max", True), ("wind", False)):
        found = feature(report, "w-1", name)
        expected = scipy_stats.ks_2samp([float(r[name]) for r in old], [float(r[name]) for r in new])
        assert found["test"] == "ks" and math.isclose(found["p_value"], expected.pvalue, rel_tol=1e-9)
        assert found["alpha"] == pytest.approx(0.05 / 4)  # Bonferroni over the four features
        assert found["drifted"] is drifted, found
    assert any("temp_max: drifted" in a for a in report["alerts"])
    assert not any(a.startswith("w-1: wind: drifted") for a in report["alerts"])
    [tag] = report["tags"]
    assert tag["prediction"]["drifted"] and tag["baseline"] == "models/baseline.json"
    assert "w-1: prediction (weather): drifted" in " ".join(report["alerts"])  # sun and fog took over from rain
    tree = git(trained, "ls-tree", "-r", "--name-only", "monitor/prod").split()
    assert "alerts/rules.py" in tree and report["rules"]["source"] == "committed"
    committed = [p for p in tree if p.startswith("reports/") and p.endswith(".json")]
    assert json.loads(git(trained, "show", f"monitor/prod:{committed[-1]}"))["alerts"] == report["alerts"]
    assert "temp_max: DRIFT" in git(trained, "show", f"monitor/prod:{committed[-1][:-5]}.md")
    assert bml(trained, "verify", "--branch", "monitor/prod", check=False).returncode == 0


def test_same_distribution_raises_no_alert(trained):
    log_rows(trained, "stable", "w-1", weather(2012), "s")
    code, report = check(trained, "--env", "stable", "--no-commit")
    assert code == 0 and report["alerts"] == [] and not any(f["drifted"] for t in report["tags"] for f in t["features"])
    assert not [p for p in git(trained, "ls-tree", "-r", "--name-only", "monitor/stable").split() if p.startswith("reports/")]
