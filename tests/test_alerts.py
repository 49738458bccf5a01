"""Alerts on monitor/<env>: the drift baseline `branchml run` commits with a tag, `monitor check`
against it on real seattle-weather data (2012 trains, 2014 arrives), the committed rules and their
trust, bad input, `monitor watch`, and the server's post-receive hook."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

import branchml
from branchml.errors import ExitCode
from branchml.monitor import Logger
from branchml.repo import Repo
from branchml.ui.monitoring import environment
from conftest import bml, git

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
    # --json prints the committed file, and names the commit that holds it (set by the library)
    assert {**json.loads(git(trained, "show", f"monitor/prod:{committed[-1]}")), "committed": report["committed"]} == report
    assert report["committed"] == git(trained, "rev-parse", "monitor/prod").strip()
    assert "temp_max: DRIFT" in git(trained, "show", f"monitor/prod:{committed[-1][:-5]}.md")
    [shown] = environment(Repo.find(trained), "prod")["reports"]  # the dashboard's monitoring page
    assert shown["path"] == committed[-1] and shown["alert"] is True
    assert bml(trained, "verify", "--branch", "monitor/prod", check=False).returncode == 0


def test_labels_that_arrive_are_checked_against_the_training_target(trained, tmp_path):
    """The world moved (2014's weather labels) while the answers did not: label drift, named as such."""
    for env, year in (("labels14", 2014), ("labels12", 2012)):
        rows = weather(year)
        with Logger(env=env, tag="w-1", repo=trained, batch_records=500) as log:
            for n, row in enumerate(rows):
                log.log({k: float(row[k]) for k in FEATURES}, "rain", request_id=f"{env}-{n}")
        labels = tmp_path / f"{env}.csv"
        labels.write_text("request_id,label\n" + "".join(f"{env}-{n},{row['weather']}\n" for n, row in enumerate(rows)))
        bml(trained, "monitor", "label", "--env", env, str(labels))
    _, moved = check(trained, "--env", "labels14", "--no-commit")
    [tag] = moved["tags"]
    old = weather(2012)
    expected = scipy_stats.chisquare(*frequencies(weather(2014), old))
    assert tag["label_drift"]["drifted"] and math.isclose(tag["label_drift"]["p_value"], expected.pvalue, rel_tol=1e-6)
    assert any("w-1: labels (weather): drifted" in a for a in moved["alerts"]), moved["alerts"]
    _, same = check(trained, "--env", "labels12", "--no-commit")
    [tag] = same["tags"]
    assert tag["label_drift"]["drifted"] is False and tag["label_drift"]["count"] == len(old)
    assert not any("labels (weather)" in a for a in same["alerts"])


def frequencies(new: list[dict[str, str]], old: list[dict[str, str]]) -> tuple[list[int], list[float]]:
    """Observed counts of `new`'s weather and the counts `old`'s shares expect (scipy's chi-square inputs)."""
    names = sorted({r["weather"] for r in old})
    seen = [sum(r["weather"] == name for r in new) for name in names]
    expected = [sum(r["weather"] == name for r in old) / len(old) * len(new) for name in names]
    return seen, expected


def test_same_distribution_raises_no_alert(trained):
    log_rows(trained, "stable", "w-1", weather(2012), "s")
    code, report = check(trained, "--env", "stable", "--no-commit")
    assert branchml.check_monitor(branchml.open_repo(trained), branchml.CheckOptions(env="stable")).alerts == []
    assert code == 0 and report["alerts"] == [] and not any(f["drifted"] for t in report["tags"] for f in t["features"])
    assert not [p for p in git(trained, "ls-tree", "-r", "--name-only", "monitor/stable").split() if p.startswith("reports/")]


def test_bad_input_gives_findings_and_messages_not_crashes(trained, tmp_path):
    git(trained, "tag", "plain-1", "main")  # a tag trained before baselines: no models/baseline.json
    rows = weather(2014)[:40]
    with Logger(env="bad", tag="w-1", repo=trained) as log:
        for n, row in enumerate(rows):
            features: dict[str, object] = {"precipitation": float(row["precipitation"]), "temp_max": float(row["temp_max"]),
                                           "temp_min": row["temp_min"]}  # no wind at all
            if n % 4 == 0:
                features["temp_max"] = float("nan") if n % 8 else None
            log.log(features, "hail" if n < 10 else row["weather"], request_id=f"b{n}")
        log.log([1.0, 2.0], "sun", request_id="unnamed")  # features not named
        log.log({"temp_max": 10.0}, "sun", request_id="ghost", tag="ghost-1")  # no such tag here
        log.log({"temp_max": 10.0}, "sun", request_id="plain", tag="plain-1")
    labels = tmp_path / "labels.csv"
    labels.write_text("request_id,label\nb1,rain\nb2,sun\nnobody-1,sun\nnobody-2,rain\n")
    bml(trained, "monitor", "label", "--env", "bad", str(labels))
    proc = bml(trained, "monitor", "check", "--env", "bad", "--json", check=False)
    assert proc.returncode == 1 and b"Traceback" not in proc.stderr and b"crash" not in proc.stderr
    report = json.loads(proc.stdout)
    messages = [f["message"] for f in report["findings"]]
    assert "w-1: feature wind is in the baseline but in no logged record" in report["alerts"]
    temp = feature(report, "w-1", "temp_max")
    assert temp["missing"] == 10 and temp["count"] == 30  # None and NaN both count as missing
    assert any("temp_max: 25.0% missing or NaN" in a for a in report["alerts"])
    assert feature(report, "w-1", "temp_min")["test"] == "ks"  # numbers logged as text still compare
    [tag] = [t for t in report["tags"] if t["tag"] == "w-1"]
    assert tag["prediction"]["unseen"] == ["hail"]
    assert any("categories training never saw ('hail')" in m for m in messages)
    assert any("1 record(s) without named features" in m for m in messages)
    assert any("no tag ghost-1 in this repository" in m for m in messages)
    assert any("plain-1 has no drift baseline (models/baseline.json)" in m for m in messages)
    assert report["labels"] == {"joined": 2, "unknown_request_ids": 2}
    assert tag["calibration"]["labelled"] == 2 and tag["calibration"]["ece"] is None  # classes, not probabilities
    empty = bml(trained, "monitor", "check", "--env", "bad", "--since", "2099-01-01", "--json", "--no-commit")
    assert json.loads(empty.stdout)["window"]["records"] == 0
    assert "no records in the window since 2099-01-01" in empty.stdout.decode()


def test_a_tags_own_monitor_settings_are_checked_and_named_by_the_tag(trained):
    """The tag's [monitor] is read from its commit: a refused threshold there is one line naming
    `<tag>:branchml.toml`, even though the work tree's settings are fine."""
    git(trained, "switch", "-qc", "dev/typo", "stable/w")
    settings = (trained / "branchml.toml").read_text()
    (trained / "branchml.toml").write_text(settings + "\n[monitor.thresholds.wind]\npvalue = 0.01\n")
    git(trained, "commit", "-qam", "a typo in a threshold", "--no-verify")  # the hook would refuse it too
    git(trained, "tag", "typo-1")
    git(trained, "switch", "-q", "stable/w")
    log_rows(trained, "typo", "typo-1", weather(2014)[:5], "t")
    proc = bml(trained, "monitor", "check", "--env", "typo", "--no-commit", check=False)
    first = proc.stderr.decode().splitlines()[0]
    assert proc.returncode == ExitCode.SETTING_WRONG, proc.stderr
    assert first == "error: typo-1:branchml.toml: [monitor.thresholds.wind] has no threshold 'pvalue'", first


def test_calibration_error_of_predicted_probabilities(trained, tmp_path):
    confidences = [0.9, 0.9, 0.6, 0.6, 0.8]
    truth = ["rain", "sun", "rain", "rain", "sun"]  # predicted class is always rain
    with Logger(env="cal", tag="w-1", repo=trained) as log:
        for n, p in enumerate(confidences):
            log.log({"temp_max": 10.0}, {"rain": p, "sun": 1 - p}, request_id=f"c{n}")
    labels = tmp_path / "cal.csv"
    labels.write_text("request_id,label\n" + "".join(f"c{n},{t}\n" for n, t in enumerate(truth)))
    bml(trained, "monitor", "label", "--env", "cal", str(labels))
    _code, report = check(trained, "--env", "cal", "--no-commit")
    [tag] = report["tags"]
    # bins: 0.6 (2 right, conf 0.6: gap 0.4), 0.8 (0 of 1: gap 0.8), 0.9 (1 of 2: gap 0.4) -> 0.4*2/5 + 0.8/5 + 0.4*2/5
    assert tag["calibration"]["ece"] == pytest.approx(0.48) and tag["calibration"]["accuracy"] == pytest.approx(0.6)
    assert "w-1: expected calibration error 0.480 (threshold 0.1)" in " ".join(report["alerts"])


RULES = '''
THRESHOLDS = {"correction": "none"}


def alerts(report):
    return ["custom: " + f["message"] for f in report["findings"]
            if f["feature"] == "wind" and f["check"] == "drift" and f["status"] == "alert"]
'''


def _commit_rules(repo: Path, env: str, text: str) -> None:
    git(repo, "switch", "-q", f"monitor/{env}")
    (repo / "alerts/rules.py").write_text(text)
    git(repo, "commit", "-qam", "our alert rules")
    assert bml(repo, "verify", "--branch", f"monitor/{env}", check=False).returncode == 0  # the rules are editable
    git(repo, "switch", "-q", "stable/w")


def test_committed_rules_run_only_once_trusted_here(trained):
    log_rows(trained, "rules", "w-1", weather(2014), "r")
    _commit_rules(trained, "rules", RULES)
    refused = bml(trained, "monitor", "check", "--env", "rules", check=False)
    assert refused.returncode == 1 and b"is code nobody trusted in this clone yet" in refused.stderr
    assert b"branchml monitor trust --env rules" in refused.stderr
    assert "reports/" not in git(trained, "ls-tree", "-r", "--name-only", "monitor/rules")
    shown = bml(trained, "monitor", "trust", "--env", "rules", "--yes")
    assert b"custom: " in shown.stdout  # the file is shown before consent is recorded
    git(trained, "switch", "-q", "monitor/rules")  # checked out: the report appears in the work tree too
    code, report = check(trained)
    assert git(trained, "status", "--porcelain") == "" and len(list((trained / "reports").glob("*.json"))) == 1
    git(trained, "switch", "-q", "stable/w")
    assert code == 0 and report["alerts"] == [] and report["rules"]["source"] == "committed"  # temp drift: not an alert here
    assert feature(report, "w-1", "temp_max")["alpha"] == 0.05  # THRESHOLDS: no correction
    _commit_rules(trained, "rules", RULES + "\ndef alerts(report):\n    return 1 / 0\n")
    bml(trained, "monitor", "trust", "--env", "rules", "--yes")
    broken = bml(trained, "monitor", "check", "--env", "rules", check=False)
    assert broken.returncode == 1 and b"alerts/rules.py: alerts(report) failed: ZeroDivisionError" in broken.stderr
    assert b"(line 10)" in broken.stderr and b"crash" not in broken.stderr


def test_watch_checks_each_new_batch_of_logs(trained):
    log_rows(trained, "watched", "w-1", weather(2012)[::3], "w")  # every third day of the training year
    proc = subprocess.Popen([sys.executable, "-m", "branchml", "monitor", "watch", "--env", "watched", "--interval", "0.2",
                             "--max-checks", "2"], cwd=trained, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = proc.stdout.readline().decode()
        assert "monitor/watched" in first and "no alert" in first, first
        log_rows(trained, "watched", "w-1", weather(2014), "x")
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 1, err.decode()  # the second check saw 2014's days
    assert "ALERT w-1: prediction (weather): drifted" in out.decode() and f"n = {122 + 365}" in out.decode()
    reports = [p for p in git(trained, "ls-tree", "-r", "--name-only", "monitor/watched").split() if p.endswith(".json")]
    assert len(reports) == 2


def test_server_post_receive_checks_pushed_logs_and_never_runs_untrusted_rules(trained, tmp_path):
    server = tmp_path / "server.git"
    git(tmp_path, "init", "-q", "--bare", str(server))
    bml(server, "install", "--server")
    (server / "branchml").mkdir(exist_ok=True)
    (server / "branchml/local.toml").write_text("[monitor]\ncheck_on_push = true\n")
    push = run_push(trained, server, "w-1", "monitor/prod")
    assert "remote: branchml monitor: # monitor/prod check" in push and "temp_max: drifted" in push
    log_rows(trained, "pushed", "w-1", weather(2014)[:30], "p")
    _commit_rules(trained, "pushed", RULES)
    bml(trained, "monitor", "trust", "--env", "pushed", "--yes")  # trusted in the clone, not on the server
    push = run_push(trained, server, "monitor/pushed")
    assert "is not trusted here: the built-in rules ran instead" in push
    kept = sorted((server / "branchml/monitor/reports").rglob("*.json"))
    assert sorted(p.parent.name for p in kept) == ["prod", "pushed"]
    kept.sort(key=lambda p: p.parent.name != "pushed")
    assert json.loads(kept[0].read_text())["rules"]["source"] == "built-in"
    assert git(server, "rev-parse", "monitor/prod") == git(trained, "rev-parse", "monitor/prod")  # nothing committed there


def run_push(repo: Path, server: Path, *refs: str) -> str:
    proc = subprocess.run(["git", "push", str(server), *refs], cwd=repo, capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stderr.decode()
