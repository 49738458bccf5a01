"""What the filter and hook paths import: Git starts them on every command, so their start-up is
paid by every `git status`. The lists below are exact; a new import there must be added on purpose
(and a heavy one, e.g. click, rich, pyarrow, fsspec, must not be)."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import SRC

# Third-party packages the entry point may load (top-level names; C-extension helpers included).
THIRD_PARTY = {"blake3", "pyfastcdc", "zstandard", "tomli_w", "typing_extensions", "_cython_3_3_0", "cython_runtime"}
NEVER = {"click", "rich", "pyarrow", "fsspec", "s3fs", "sklearn", "mlflow", "yaml", "PIL", "numpy"}
# branchml packages the filter and hook start-up may touch; hook handlers load their topic later
# (the store's fetchers in remote/ load when a fetch is needed, not at start-up).
PACKAGES = {"branchml", "branchml.cli", "branchml.git", "branchml.store"}


def imported_by(statement: str) -> list[str]:
    code = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        f"{statement}\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, env={"PYTHONPATH": str(SRC)})
    return json.loads(out.stdout)


def third_party(modules: list[str]) -> set[str]:
    tops = {m.split(".")[0] for m in modules}
    return {t for t in tops if t not in sys.stdlib_module_names and t != "branchml"}


def test_entry_point_loads_only_lean_modules():
    modules = imported_by("import branchml.cli.entry")
    assert third_party(modules) <= THIRD_PARTY, third_party(modules) - THIRD_PARTY
    assert not {m.split(".")[0] for m in modules} & NEVER
    ours = [m for m in modules if m.startswith("branchml")]
    assert {m.rpartition(".")[0] or m for m in ours} <= PACKAGES, ours
    assert "branchml.cli.app" not in ours  # click loads for commands only


def test_filter_module_alone_stays_below_the_repository_layer():
    modules = imported_by("import branchml.git.filter")
    assert not [m for m in modules if m.startswith(("branchml.repo", "branchml.remote", "branchml.cli"))]
    assert third_party(modules) <= THIRD_PARTY


def test_hook_handlers_do_not_load_click_or_rich():
    modules = imported_by(
        "import branchml.cli.entry, branchml.roles.hooks, branchml.remote.hooks, branchml.merge.hooks, branchml.checkout"
    )
    assert not {m.split(".")[0] for m in modules} & NEVER, sorted({m.split(".")[0] for m in modules} & NEVER)


def test_the_lists_catch_a_heavy_import():
    assert third_party(imported_by("import click")) - THIRD_PARTY == {"click"}


def test_the_filter_loads_the_remotes_only_when_a_checkout_lacks_content():
    """`git add` and `git status` start the filter too: it must not pay for the remotes' modules."""
    modules = imported_by("import branchml.cli.filter_start")
    assert not [m for m in modules if m.startswith("branchml.remote")]
    assert "branchml.git.filter" in modules


def test_the_pre_commit_hook_does_not_load_the_store():
    """Git starts pre-commit on every commit; it reads pointers but never opens a store, so neither
    store.py nor SQLite, zstd, BLAKE3 or FastCDC load (about 25 ms of each start)."""
    modules = imported_by("import branchml.cli.hook_start, branchml.roles.hooks")
    assert not {"branchml.store.store", "sqlite3", "zstandard", "blake3", "pyfastcdc"} & set(modules)
    assert "branchml.store.pointer" in modules  # what the role rules do read
    # the package's names still resolve, loading store.py on first use
    assert "branchml.store.store" in imported_by("from branchml.store import Store")
