"""Property: on data/raw, `check` flags exactly the commits and paths that touch an existing file.

Random histories of adds, edits, deletes, renames and mode changes are committed with real Git;
the checker must report every non-add (no miss) and nothing else (no false refusal).
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from branchml import config
from branchml.repo import Repo
from branchml.roles.rules import Policy, RefUpdate, check
from conftest import git

NAMES = [f"data/{c}.csv" for c in "abcdefgh"]
ops = st.lists(st.lists(st.tuples(st.sampled_from(["add", "edit", "delete", "rename", "chmod"]),
                                  st.integers(0, 7), st.integers(0, 7)), min_size=1, max_size=3),
               min_size=1, max_size=4)


def apply(root: Path, op: str, i: int, j: int, n: int) -> None:
    """Apply one operation to the work tree."""
    existing = sorted(str(p.relative_to(root)) for p in (root / "data").glob("*.csv"))
    free = [p for p in NAMES if p not in existing]
    if op == "add" or not existing:
        if free:
            (root / free[i % len(free)]).write_text(f"new {n}\n")
        return
    path = existing[i % len(existing)]
    if op == "edit":
        (root / path).write_text(f"edited {n}\n")
    elif op == "delete":
        (root / path).unlink()
    elif op == "rename" and free:
        os.rename(root / path, root / free[j % len(free)])
    elif op == "chmod":
        os.chmod(root / path, 0o755 if not os.access(root / path, os.X_OK) else 0o644)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=ops)
def test_raw_checker_flags_exactly_the_changed_files(tmp_path_factory, history):
    root = tmp_path_factory.mktemp("raw")
    git(root, "init", "-q", "-b", "data/raw")
    (root / "data").mkdir()
    (root / "data/seed.csv").write_text("seed\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Seed", "-m", "Data-Source: test")
    base = git(root, "rev-parse", "HEAD").strip()
    expected = set()
    for n, commit_ops in enumerate(history):
        before = files(root)
        for op, i, j in commit_ops:
            apply(root, op, i, j, n)
        after = files(root)
        git(root, "add", "-A")
        git(root, "commit", "-q", "--allow-empty", "-m", f"Step {n}", "-m", "Data-Source: test")
        sha = git(root, "rev-parse", "HEAD").strip()
        expected |= {(sha, path) for path, state in before.items() if after.get(path) != state}
    repo = Repo.find(root)
    update = RefUpdate("refs/heads/data/raw", base, git(root, "rev-parse", "HEAD").strip())
    found = check(repo, [update], Policy.from_config(config.DEFAULTS), {})
    assert {(v.commit, v.path) for v in found} == expected
    assert all(v.rule == "append-only" for v in found)


def files(root: Path) -> dict[str, tuple[bytes, bool]]:
    """The oracle's view, from the file system: path -> (content, executable)."""
    return {str(p.relative_to(root)): (p.read_bytes(), os.access(p, os.X_OK)) for p in (root / "data").glob("*.csv")}
