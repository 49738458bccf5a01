"""branchml.toml's [store], [checkout], [merge], [serve], [diff], [rerun], [monitor] and [split]: a wrong type, an unknown value or an
unknown key is one line naming the file, the section and the key and what is accepted, with the
settings exit code; run through the real CLI on a real repository."""

from __future__ import annotations

import tomllib

import pytest
import tomli_w

from branchml.errors import ExitCode
from conftest import bml, git

WRONG = [  # section, key, value, what the one line says after "setting "
    ("store", "inline_below", -1, "[store] inline_below must be a size in bytes, 0 or more, not -1"),
    ("store", "checkout_in_git_max", "64M", "[store] checkout_in_git_max must be an integer, not a string '64M'"),
    ("checkout", "link", "fast", "[checkout] link must be \"copy\" or \"reflink\", not 'fast'"),
    ("checkout", "link_min_size", True, "[checkout] link_min_size must be an integer, not true or false True"),
    ("merge", "max_bytes", 0, "[merge] max_bytes must be a size in bytes, more than 0, not 0"),
    ("merge", "rows", {"key": "id", "keyz": {}}, "[merge] rows must be a table of `key`"),
    ("merge", "jsonlist", {"key": "", "keys": {"*.json": 3}}, "[merge] jsonlist must be a table whose `keys` map globs to key strings"),
    ("serve", "predict", "predict.py", "[serve] predict must be \"\" or an entry point \"file.py:function\""),
    ("serve", "trusted_types", "sklearn.tree._tree.Tree", "[serve] trusted_types must be a list, not a string"),
    ("serve", "trusted_types", [""], "[serve] trusted_types must be a list of type names (strings), not ['']"),
    ("diff", "rows_max_bytes", "big", "[diff] rows_max_bytes must be a size in bytes, 0 or more, not 'big'"),
    ("diff", "textconv_max_bytes", True, "[diff] textconv_max_bytes must be a size in bytes, 0 or more, not True"),
    ("rerun", "tolerance", -0.1, "[rerun] tolerance must be a number, 0 or more, not -0.1"),
    ("rerun", "metrics", {"accuracy": "1%"}, "[rerun] metrics must be a table of metric = tolerance"),
    ("monitor", "sample", 0, "[monitor] sample must be an integer, 1 or more, not 0"),
    ("monitor", "bins", 1, "[monitor] bins must be an integer, 2 or more, not 1"),
    ("monitor", "features", ["a", 3], "[monitor] features must be a list of names (strings), not ['a', 3]"),
    ("monitor", "store_above", "1M", "[monitor] store_above must be an integer, not a string '1M'"),
    ("monitor", "thresholds", 0.1, "[monitor] thresholds must be a table, not a number 0.1"),
    ("split", "ratios", [0.5, 0.5], "[split] ratios must be three numbers for train, val, test, 0 or more, that add up to 1"),
    ("split", "ratios", [0.0, 0.5, 0.5], "[split] ratios must be three numbers"),
    ("split", "seed", "7", "[split] seed must be an integer, not '7'"),
    ("split", "key", 3, "[split] key must be a string, not 3"),
]


def set_setting(path, section: str, key: str, value) -> None:
    settings = tomllib.loads(path.read_text()) if path.exists() else {}
    settings.setdefault(section, {})[key] = value
    path.write_text(tomli_w.dumps(settings))


@pytest.mark.parametrize(("section", "key", "value", "says"), WRONG, ids=[f"{w[0]}.{w[1]}={w[2]!r}" for w in WRONG])
def test_a_wrong_setting_is_one_line_naming_file_section_and_key(repo, section, key, value, says):
    set_setting(repo / "branchml.toml", section, key, value)
    proc = bml(repo, "status", check=False)
    first, *rest = proc.stderr.decode().strip().splitlines()
    assert proc.returncode == ExitCode.SETTING_WRONG, proc.stderr
    assert first.startswith(f"error: {repo / 'branchml.toml'}: setting ") and says in first, first
    assert all(line.lstrip().startswith("hint:") for line in rest) and f"[{section}] {key}" in rest[0], rest


def test_an_unknown_key_is_named_with_the_keys_the_section_knows(repo):
    set_setting(repo / "branchml.toml", "serve", "modle", "models/model.skops")
    proc = bml(repo, "status", check=False)
    err = proc.stderr.decode()
    assert proc.returncode == ExitCode.SETTING_WRONG
    assert f"{repo / 'branchml.toml'}: [serve] has no setting 'modle'" in err
    assert "[serve] knows predict, model, input_schema, trusted_types" in err


@pytest.mark.parametrize(("section", "key", "knows"), [
    ("serve", "modle", "predict, model, input_schema, trusted_types"),
    ("monitor", "store_abvoe", "data, features, categorical, target, baseline, sample, bins, thresholds, store_above"),
    ("split", "sead", "ratios, seed, key, source"),
])
def test_an_unknown_key_of_monitor_or_split_is_named_too(repo, section, key, knows):
    set_setting(repo / "branchml.toml", section, key, 1)
    proc = bml(repo, "status", check=False)
    err = proc.stderr.decode()
    assert proc.returncode == ExitCode.SETTING_WRONG, err
    assert err.startswith(f"error: {repo / 'branchml.toml'}: [{section}] has no setting {key!r}\n"), err
    assert f"[{section}] knows {knows}" in err


THRESHOLDS = [  # [monitor.thresholds] value, what the one line says after the file name
    ({"p_vlaue": 0.01}, "[monitor.thresholds] has no threshold 'p_vlaue'"),
    ({"p_value": -0.01}, "setting [monitor.thresholds] p_value must be a number, 0 or more, not -0.01"),
    ({"correction": "holm"}, 'setting [monitor.thresholds] correction must be "bonferroni" or "none", not \'holm\''),
    ({"temp": {"psi_moderate": "high"}}, "setting [monitor.thresholds.temp] psi_moderate must be a number, 0 or more"),
    ({"temp": {"wind": {"p_value": 0.1}}}, "[monitor.thresholds.temp] has no threshold 'wind'"),
]


@pytest.mark.parametrize(("table", "says"), THRESHOLDS, ids=[str(t[0]) for t in THRESHOLDS])
def test_a_wrong_threshold_is_one_line_naming_it(repo, table, says):
    set_setting(repo / "branchml.toml", "monitor", "thresholds", table)
    proc = bml(repo, "status", check=False)
    first = proc.stderr.decode().splitlines()[0]
    assert proc.returncode == ExitCode.SETTING_WRONG, proc.stderr
    assert first.startswith(f"error: {repo / 'branchml.toml'}: {says}"), first


@pytest.mark.parametrize("key", ["check_on_push", "trusted_rules"])
def test_a_committed_monitor_consent_key_is_refused_and_counts_only_in_local_settings(repo, key):
    value = True if key == "check_on_push" else ["0" * 40]
    set_setting(repo / "branchml.toml", "monitor", key, value)
    proc = bml(repo, "status", check=False)
    assert proc.returncode == ExitCode.SETTING_WRONG, proc.stderr
    assert f"{repo / 'branchml.toml'}: [monitor] {key} is read from local.toml only" in proc.stderr.decode()
    (repo / "branchml.toml").write_text("")
    local = repo / ".git" / "branchml" / "local.toml"
    set_setting(local, "monitor", key, value)
    assert bml(repo, "fsck").returncode == 0  # fsck reads local.toml too
    set_setting(local, "monitor", key, "yes")
    proc = bml(repo, "fsck", check=False)
    assert proc.returncode == ExitCode.SETTING_WRONG and f"{local}: setting [monitor] {key} must be" in proc.stderr.decode()


def test_local_settings_are_checked_and_named_as_such(repo):
    local = repo / ".git" / "branchml" / "local.toml"
    set_setting(local, "checkout", "link", "hardlink")
    proc = bml(repo, "fsck", check=False)
    err = proc.stderr.decode()
    assert proc.returncode == ExitCode.SETTING_WRONG
    assert f"{local}: [checkout] link = 'hardlink' is refused: an edit through a hardlink" in err


def test_a_tags_serve_settings_are_named_by_the_tag(repo):
    set_setting(repo / "branchml.toml", "serve", "model", "models/model.skops")
    set_setting(repo / "branchml.toml", "serve", "predict", "predict")
    git(repo, "add", "branchml.toml")
    git(repo, "commit", "-qm", "serve settings without a function", "--no-verify")  # the hook refuses it too
    git(repo, "tag", "acme-1")
    set_setting(repo / "branchml.toml", "serve", "predict", "")  # the work tree's own settings are fine again
    assert bml(repo, "status").returncode == 0
    proc = bml(repo, "serve", "acme-1", "--port", "0", check=False)
    assert proc.returncode == ExitCode.SETTING_WRONG, proc.stderr
    assert "acme-1:branchml.toml: setting [serve] predict must be" in proc.stderr.decode()


def test_good_values_of_every_section_pass(repo):
    for section, key, value in [("store", "inline_below", 4096), ("checkout", "link", "reflink"),
                                ("merge", "rows", {"key": "id", "keys": {"data/*.csv": "id,day"}}),
                                ("serve", "predict", "pkg.module:predict"), ("serve", "trusted_types", ["a.B"]),
                                ("diff", "rows_max_bytes", 1 << 20), ("rerun", "metrics", {"accuracy": 0.01}),
                                ("monitor", "features", ["temp"]), ("monitor", "store_above", 0),
                                ("monitor", "thresholds", {"p_value": 0.01, "correction": "none", "temp": {"ece": 1}}),
                                ("split", "ratios", [1, 0, 0]), ("split", "seed", 7), ("split", "source", "data/x")]:
        set_setting(repo / "branchml.toml", section, key, value)
    assert bml(repo, "status").returncode == 0
