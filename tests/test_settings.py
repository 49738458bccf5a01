"""branchml.toml's [store], [checkout], [merge], [serve], [diff] and [rerun]: a wrong type, an unknown value or an
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
                                ("diff", "rows_max_bytes", 1 << 20), ("rerun", "metrics", {"accuracy": 0.01})]:
        set_setting(repo / "branchml.toml", section, key, value)
    assert bml(repo, "status").returncode == 0
