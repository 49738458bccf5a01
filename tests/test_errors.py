"""The error policy: every exit code lives in errors.ExitCode, the README's table says the same,
no module exits with a bare number, and an unexpected error ends as one line and a crash log."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from branchml import errors
from branchml.errors import BranchmlError, ExitCode
from conftest import git

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "branchml"


def readme_codes() -> dict[int, str]:
    text = (ROOT / "README.md").read_text()
    return {int(code): meaning for code, meaning in re.findall(r"^\| (\d+) \| (.+) \|$", text, re.M)}


def test_readme_table_lists_exactly_the_exit_codes_of_errors_py():
    assert sorted(readme_codes()) == sorted(int(c) for c in ExitCode)


def _error_classes() -> list[type[BranchmlError]]:
    import importlib

    for path in PACKAGE.rglob("*.py"):
        module = ".".join(("branchml", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        if "class " in path.read_text():
            try:
                importlib.import_module(module)
            except ImportError:  # an optional extra not installed here
                continue
    found, todo = [], [BranchmlError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return found


def test_every_error_class_uses_an_exit_code_from_errors_py():
    for cls in _error_classes():
        assert cls.exit_code in set(ExitCode), f"{cls.__module__}.{cls.__name__} exits {cls.exit_code}, not an ExitCode"


def _bare_exits(tree: ast.AST) -> list[int]:
    """Lines of sys.exit(N) / SystemExit(N) / ctx.exit(N) / exit_code = N with a literal N other than 0."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = ast.unparse(node.func)
            if name.endswith(("sys.exit", "SystemExit", ".exit")) and node.args[0].value not in (0, None):
                lines.append(node.lineno)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, int):
            if any(isinstance(t, ast.Name) and t.id == "exit_code" for t in node.targets):
                lines.append(node.lineno)
    return lines


def test_no_module_exits_with_a_bare_number():
    bad = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in PACKAGE.rglob("*.py")
        if path.name != "errors.py"
        for line in _bare_exits(ast.parse(path.read_text()))
    ]
    assert not bad, "use branchml.errors.ExitCode:\n" + "\n".join(bad)


def test_bare_exit_finder_sees_one():
    assert _bare_exits(ast.parse("import sys\nsys.exit(3)\nsys.exit(0)\nclass E:\n    exit_code = 12\n")) == [2, 5]


def test_known_error_is_one_line_with_a_hint_and_its_code(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "branchml", "fsck"], cwd=tmp_path, capture_output=True)
    err = proc.stderr.decode()
    assert proc.returncode == ExitCode.NOT_A_REPOSITORY
    assert err.splitlines()[0].startswith("error: not a git repository") and "hint:" in err
    assert "Traceback" not in err


def test_unexpected_error_is_one_line_naming_a_crash_log(tmp_path):
    """The store's format marker replaced by a folder: an OSError that no code path expects."""
    repo = tmp_path / "r"
    git(tmp_path, "init", "-q", str(repo))
    subprocess.run([sys.executable, "-m", "branchml", "init"], cwd=repo, capture_output=True, check=True)
    marker = repo / ".git" / "branchml" / "format"
    marker.unlink()
    marker.mkdir()
    proc = subprocess.run([sys.executable, "-m", "branchml", "stats"], cwd=repo, capture_output=True)
    err = proc.stderr.decode()
    assert proc.returncode == ExitCode.CRASH, err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2, err
    log = Path(re.search(r"details in (\S+\.log)", err.replace("\n", ""))[1])
    assert log.parent == repo / ".git" / "branchml" / "logs"
    report = log.read_text()
    assert "Traceback" in report and "IsADirectoryError" in report
    assert re.search(r"^branchml: \d", report, re.M) and re.search(r"^git: 2\.", report, re.M)
    assert re.search(r"^python: 3\.", report, re.M)


def test_an_unexpected_error_in_a_hook_is_one_line_naming_a_crash_log(tmp_path):
    """Hooks run under the same handler: a pre-push line that is not `<ref> <oid> <ref> <oid>` (Git never
    sends one) is a bug the handler meets for real, in the process Git would start."""
    repo = tmp_path / "r"
    git(tmp_path, "init", "-q", str(repo))
    subprocess.run([sys.executable, "-m", "branchml", "init"], cwd=repo, capture_output=True, check=True)
    proc = subprocess.run([sys.executable, "-m", "branchml", "hook", "pre-push", "origin", str(tmp_path / "x.git")],
                          cwd=repo, input=b"garbage\n", capture_output=True)
    err = proc.stderr.decode()
    assert proc.returncode == ExitCode.CRASH, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and "ValueError" in err, err
    log = Path(re.search(r"details in (\S+\.log)", err)[1])
    assert log.parent == repo / ".git" / "branchml" / "logs"
    assert "Traceback" in log.read_text() and "hook pre-push" in log.read_text()


def test_errors_module_names_every_code_once():
    values = [int(c) for c in ExitCode]
    assert len(values) == len(set(values)) and errors.CheckFailed.exit_code == ExitCode.FAILED
