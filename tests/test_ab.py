"""`branchml ab report`: intervals checked by simulation and against published values, experiments
recognised from logs committed on a real monitor branch, and clear messages for bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from conftest import bml

np = pytest.importorskip("numpy", reason="A/B statistics need the `monitor` extra")
stats = pytest.importorskip("scipy.stats", reason="A/B statistics need the `monitor` extra")

from branchml.experiments import stats as ab  # noqa: E402

EXPERIMENTS = 2000


def _covered(low: float, high: float, truth: float) -> bool:
    return low <= truth <= high


def test_wilson_interval_covers_95_percent_of_2000_simulated_experiments():
    rng = np.random.default_rng(17)
    hits = 0
    for _ in range(EXPERIMENTS):
        n = int(rng.integers(40, 400))
        truth = float(rng.uniform(0.2, 0.8))
        est = ab.proportion(int(rng.binomial(n, truth)), n)
        hits += _covered(est.low, est.high, truth)
    assert 0.93 <= hits / EXPERIMENTS <= 0.97, hits / EXPERIMENTS


def test_difference_intervals_cover_95_percent_of_2000_simulated_99_1_experiments():
    """The small arm of a forward test: 1% of the traffic. Newcombe's interval for accuracy, Welch's
    for a mean (skewed latencies), each over 2,000 seeded experiments."""
    rng = np.random.default_rng(6)
    prop_hits = mean_hits = 0
    for _ in range(EXPERIMENTS):
        p_ref, p_cand = rng.uniform(0.3, 0.7, size=2)
        n_ref, n_cand = 9900, 100
        comp = ab.compare_proportions((int(rng.binomial(n_ref, p_ref)), n_ref), (int(rng.binomial(n_cand, p_cand)), n_cand))
        prop_hits += _covered(comp.low, comp.high, p_cand - p_ref)
        ref, cand = rng.gamma(2.0, 10.0, size=990), rng.gamma(2.0, 12.0, size=60)
        welch = ab.compare_means(ref.tolist(), cand.tolist())
        mean_hits += _covered(welch.low, welch.high, 24.0 - 20.0)
    assert 0.93 <= prop_hits / EXPERIMENTS <= 0.97, prop_hits / EXPERIMENTS
    assert 0.93 <= mean_hits / EXPERIMENTS <= 0.97, mean_hits / EXPERIMENTS


def test_known_values_wilson_newcombe_welch_chi_square_and_sample_size():
    # Wilson for 81/263 by its formula
    p, n, z = 81 / 263, 263, stats.norm.ppf(0.975)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    est = ab.proportion(81, 263)
    assert est.low == pytest.approx(centre - half, abs=1e-9) and est.high == pytest.approx(centre + half, abs=1e-9)
    for k, total in ((0, 12), (3, 40), (99, 100), (81, 263)):
        low, high = stats.binomtest(k, total).proportion_ci(method="wilson")
        assert (ab.proportion(k, total).low, ab.proportion(k, total).high) == (pytest.approx(low), pytest.approx(high))
    # Newcombe (1998), Statistics in Medicine 17:873, table II, 56/70 vs 48/80, method 10: 0.0524 to 0.3339
    comp = ab.compare_proportions((48, 80), (56, 70))
    assert comp.difference == pytest.approx(0.2) and (round(comp.low, 4), round(comp.high, 4)) == (0.0524, 0.3339)
    table = [[48, 32], [56, 14]]
    assert comp.p_value == pytest.approx(stats.chi2_contingency(table, correction=False).pvalue)
    assert ab.pooled_p_value((3, 10), (900, 1000)) == pytest.approx(
        stats.chi2_contingency([[3, 7], [900, 100]], correction=False).pvalue)
    # Welch: scipy's own test, candidate minus reference
    a, b = [3.1, 2.9, 3.5, 4.0, 2.2, 3.3], [4.1, 3.8, 5.2, 4.4, 3.9]
    welch = ab.compare_means(a, b)
    reference = stats.ttest_ind(b, a, equal_var=False)
    assert welch.p_value == pytest.approx(reference.pvalue) and welch.low == pytest.approx(reference.confidence_interval().low)
    # 0.5 -> 0.6 with equal arms: the classic unpooled normal approximation, 385 per arm
    need = ab.needed(ab.proportion(500, 1000), ab.proportion(600, 1000), 0.1, 0.05)
    assert need == (770, 385)


def _logs(path: Path, rows: list[tuple[str, str, object]]) -> Path:
    """JSON lines for `monitor log`: request id, variant, prediction (timestamps in order)."""
    lines = [json.dumps({"request_id": rid, "variant": variant, "prediction": pred, "features": {"x": i},
                         "ts": f"2026-03-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z", "latency_ms": 5.0 + i % 7})
             for i, (rid, variant, pred) in enumerate(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _experiment_repo(repo: Path) -> Path:
    """monitor/prod with a forward test (acme-1 99% / acme-2 1%... here 1000 / 200 records), then a
    backward one after the promotion (acme-2 / acme-1), committed by `monitor log`, labels by `monitor label`."""
    rng = np.random.default_rng(3)
    accuracy = {"acme-1": 0.55, "acme-2": 0.85}
    labels = ["request_id,label"]
    for phase, primary, canary, offset in (("fwd", "acme-1", "acme-2", 0), ("bwd", "acme-2", "acme-1", 2000)):
        for tag, variant, count in ((primary, "primary", 1000), (canary, "canary", 200)):
            step = 1000 // count  # the canary's records spread over the same window as the primary's
            rows = []
            for i in range(count):
                rid, second = f"{phase}-{variant}-{i}", offset + i * step
                rows.append(json.dumps({"request_id": rid, "variant": variant, "features": {"x": i}, "latency_ms": 5.0 + i % 7,
                                        "prediction": "sun" if rng.random() < accuracy[tag] else "rain",
                                        "ts": f"2026-03-01T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z"}))
                labels.append(f"{rid},sun")
            path = repo.parent / f"{phase}-{variant}.jsonl"
            path.write_text("\n".join(rows) + "\n")
            bml(repo, "monitor", "log", "--env", "prod", "--tag", tag, str(path))
    (repo.parent / "labels.csv").write_text("\n".join(labels + ["ghost-1,sun"]) + "\n")
    bml(repo, "monitor", "label", "--env", "prod", str(repo.parent / "labels.csv"))
    return repo


@pytest.fixture(scope="module")
def experiment_repo(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("ab")
    bml(where, "init", str(where / "repo"))
    return _experiment_repo(where / "repo")


def test_report_recognises_forward_and_backward_tests_and_names_the_tag_behind_each_change(experiment_repo):
    repo = experiment_repo
    data = json.loads(bml(repo, "ab", "report", "--env", "prod", "--json").stdout)
    assert data["format"] == 1 and data["metric"] == "accuracy" and data["records"] == 2400
    arms = {(a["variant"], a["tag"]): a for a in data["arms"]}
    assert set(arms) == {("primary", "acme-1"), ("canary", "acme-2"), ("primary", "acme-2"), ("canary", "acme-1")}
    assert arms[("canary", "acme-2")]["observed"] == 200
    low, high = arms[("primary", "acme-1")]["estimate"]["low"], arms[("primary", "acme-1")]["estimate"]["high"]
    assert low < 0.55 < high
    kinds = {(e["kind"], e["reference"], e["candidate"]): e for e in data["experiments"]}
    assert set(kinds) == {("forward", "acme-1", "acme-2"), ("backward", "acme-2", "acme-1")}
    forward, backward = kinds[("forward", "acme-1", "acme-2")], kinds[("backward", "acme-2", "acme-1")]
    assert 990 < forward["reference_n"] <= 1000 and forward["candidate_n"] == 200  # the primary while the canary ran
    assert forward["comparison"]["difference"] > 0.15 and forward["comparison"]["p_value"] < 1e-6
    assert backward["comparison"]["difference"] < -0.15 and backward["comparison"]["p_value"] < 1e-6
    assert forward["comparison"]["needed_candidate"] < 200
    # the promotion: acme-2 replaced acme-1 as the primary, and the change is attributed to acme-2
    [change] = data["changes"]
    assert (change["before"], change["after"]) == ("acme-1", "acme-2") and change["comparison"]["difference"] > 0.15
    assert data["labels_unmatched"] == 1  # ghost-1
    people = bml(repo, "ab", "report", "--env", "prod").stdout.decode()
    assert "forward test" in people and "backward test" in people and "caused by acme-2" in people
    import branchml

    api = branchml.ab_report(branchml.open_repo(repo), "prod")
    assert [(e.kind, e.candidate, e.candidate_n) for e in api.experiments] == \
        [(e["kind"], e["candidate"], e["candidate_n"]) for e in data["experiments"]]
    latency = json.loads(bml(repo, "ab", "report", "--env", "prod", "--metric", "latency_ms", "--json").stdout)
    assert latency["experiments"][0]["comparison"]["method"] == "welch"


def test_report_draws_a_plot(experiment_repo, tmp_path):
    pytest.importorskip("matplotlib", reason="the plot needs the `plot` extra")
    repo = experiment_repo
    bml(repo, "ab", "report", "--env", "prod", "--plot", str(tmp_path / "ab.png"))
    assert (tmp_path / "ab.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = bml(repo, "ab", "report", "--env", "prod", "--plot", str(tmp_path / "ab.gif"), check=False)
    assert bad.returncode == 1 and b"ab.gif" in bad.stderr and b".png" in bad.stderr


def test_peeking_is_warned_when_an_early_look_was_significant_and_the_end_is_not():
    from branchml.experiments.arms import Observation
    from branchml.experiments.peeking import warnings

    # the candidate starts lucky (all right), then regresses to the reference's 50%
    reference = [Observation(f"t{i:05d}", "a-1", "primary", float(i // 2 % 2)) for i in range(0, 4000, 2)]
    candidate = [Observation(f"t{i:05d}", "a-2", "canary", 1.0 if i < 120 else float(i // 2 % 2)) for i in range(1, 4000, 2)]
    final = ab.compare_proportions((int(sum(o.value for o in reference)), len(reference)),
                                   (int(sum(o.value for o in candidate)), len(candidate)))
    assert final.p_value > 0.05
    said = warnings(reference, candidate, "accuracy", 0.95, final)
    assert said and said[0].startswith("peeking: significant at an earlier look")


def test_bad_input_gives_a_clear_message(repo, tmp_path):
    none = bml(repo, "ab", "report", "--env", "prod", check=False)
    assert none.returncode == 1 and b"no branch monitor/prod" in none.stderr
    _logs(tmp_path / "one.jsonl", [(f"r{i}", "primary", "sun") for i in range(20)])
    bml(repo, "monitor", "log", "--env", "prod", "--tag", "acme-1", str(tmp_path / "one.jsonl"))
    unlabelled = bml(repo, "ab", "report", "--env", "prod", check=False)
    assert unlabelled.returncode == 1 and b"has a label yet" in unlabelled.stderr
    assert b"branchml monitor label --env prod" in unlabelled.stderr
    empty = bml(repo, "ab", "report", "--env", "prod", "--since", "2030-01-01", check=False)
    assert empty.returncode == 1 and b"no logged queries on monitor/prod since" in empty.stderr
    (tmp_path / "labels.csv").write_text("request_id,label\n" + "".join(f"r{i},sun\n" for i in range(20)))
    bml(repo, "monitor", "label", "--env", "prod", str(tmp_path / "labels.csv"))
    one = json.loads(bml(repo, "ab", "report", "--env", "prod", "--json").stdout)
    assert one["experiments"] == [] and "nothing to compare: one tag answered" in one["warnings"][0]
    assert one["arms"][0]["estimate"]["value"] == 1.0
    mae = bml(repo, "ab", "report", "--env", "prod", "--metric", "mae", check=False)
    assert mae.returncode == 1 and b"is not a number" in mae.stderr and b"--metric accuracy" in mae.stderr
