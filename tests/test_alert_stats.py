"""The drift statistics against scipy's own computations and hand-worked values, on fixed samples."""

from __future__ import annotations

import json
import math

import pytest

from branchml.errors import BranchmlError, SettingError
from branchml.monitor import stats
from branchml.monitor.drift import check_feature
from branchml.runs.baseline import Column, summarise, write_for_run
from branchml.settings import MonitorSettings, Thresholds

np = pytest.importorskip("numpy", reason="the monitor extra is not installed")
scipy_stats = pytest.importorskip("scipy.stats", reason="the monitor extra is not installed")
distance = pytest.importorskip("scipy.spatial.distance")


def test_small_numeric_windows_use_ks_and_large_ones_normalised_wasserstein():
    rng = np.random.default_rng(7)
    reference, shifted = rng.normal(0, 2, 1000), rng.normal(0.5, 2, 1500)
    small = stats.numeric_test(reference, shifted[:1000], float(reference.std()))
    expected = scipy_stats.ks_2samp(reference, shifted[:1000])
    assert small.test == "ks" and small.p_value == expected.pvalue and small.statistic == expected.statistic
    large = stats.numeric_test(reference, shifted, float(reference.std()))
    assert large.test == "wasserstein" and large.p_value is None
    assert large.statistic == pytest.approx(scipy_stats.wasserstein_distance(reference, shifted) / reference.std())
    assert 0.15 < large.statistic < 0.4  # a quarter of a standard deviation, give or take sampling


def test_small_categorical_windows_use_chi_square_and_large_ones_jensen_shannon():
    reference, window = {"a": 500, "b": 300, "c": 200}, {"a": 40, "b": 40, "c": 20}
    found = stats.categorical_test(reference, window)
    expected = scipy_stats.chisquare([40, 40, 20], [100 * 500.5 / 1001.5, 100 * 300.5 / 1001.5, 100 * 200.5 / 1001.5])
    assert found.test == "chi2" and found.p_value == pytest.approx(expected.pvalue)
    big = stats.categorical_test(reference, {"a": 800, "b": 800, "c": 400, "d": 1})
    assert big.test == "jensen_shannon"
    assert big.statistic == pytest.approx(distance.jensenshannon([0.5, 0.3, 0.2, 0], [800, 800, 400, 1], base=2))


def test_psi_matches_the_hand_computed_value():
    assert stats.psi([50, 50], [25, 75]) == pytest.approx(0.25 * math.log(2) + 0.25 * math.log(1.5))
    assert stats.psi([10, 20, 30], [10, 20, 30]) == 0.0
    assert stats.bin_counts([1.0, 2.0], [0.5, 1.0, 1.5, 2.0, 9.0]) == [1, 2, 2]  # an edge belongs to the bin above


def test_expected_calibration_error_of_a_fixed_sample():
    # 0.9 bin: half right (gap 0.4), 0.6 bin: all right (gap 0.4): weighted 0.4
    assert stats.expected_calibration_error([0.9, 0.9, 0.6, 0.6], [True, False, True, True]) == pytest.approx(0.4)
    assert stats.expected_calibration_error([1.0, 0.75], [True, True]) == pytest.approx(0.125)


def test_bonferroni_and_per_feature_thresholds_change_the_verdict():
    rng = np.random.default_rng(3)
    train = Column("x", list(rng.normal(0, 1, 800)))
    reference = summarise(train, MonitorSettings(data="t.csv"))
    window = list(rng.normal(0.12, 1, 400))
    p = scipy_stats.ks_2samp(reference["sample"], window).pvalue
    assert 0.05 / 10 < p < 0.05, p  # drifted alone, not among ten features
    assert check_feature("t-1", "x", reference, window, Thresholds(), tested=1).drifted
    assert not check_feature("t-1", "x", reference, window, Thresholds(), tested=10).drifted
    loose = Thresholds().for_feature({"x": {"correction": "none"}}, "x", "branchml.toml")
    assert check_feature("t-1", "x", reference, window, loose, tested=10).drifted


def test_thresholds_and_baseline_settings_that_are_wrong_say_where(tmp_path):
    with pytest.raises(SettingError, match=r"acme-2:branchml.toml: \[monitor.thresholds\] has no threshold 'p_vlaue'"):
        Thresholds().merged({"p_vlaue": 0.01}, "acme-2:branchml.toml")
    with pytest.raises(SettingError, match='rules.py: setting THRESHOLDS correction must be "bonferroni" or "none"'):
        Thresholds().merged({"correction": "holm"}, "rules.py", "THRESHOLDS")
    with pytest.raises(BranchmlError, match=r"\[monitor\] data = 'data/train.csv': no such file after training"):
        write_for_run(tmp_path, MonitorSettings(data="data/train.csv"), "t-1")
    (tmp_path / "train.jsonl").write_text('{"a": 1, "b": "x"}\n{"a": 2.5}\n')
    with pytest.raises(BranchmlError, match=r"no column 'c' \(columns: a, b\)"):
        write_for_run(tmp_path, MonitorSettings(data="train.jsonl", features=("a", "c")), "t-1")
    assert write_for_run(tmp_path, MonitorSettings(data="train.jsonl", baseline="out/b.json"), "t-1") == "out/b.json"
    written = json.loads((tmp_path / "out/b.json").read_text())
    assert written["features"]["a"]["count"] == 2 and written["features"]["b"] == {
        "kind": "categorical", "count": 1, "missing": 1, "frequencies": {"x": 1}}  # a JSON line without b: missing
