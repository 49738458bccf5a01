"""The house plan, checked: layers only import downward, no import cycles, no private names shared.

Every `import` in every module is read from its syntax tree, the ones inside functions included,
so a cycle cannot hide behind a function-local import. The layer order is docs/architecture.md's.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "branchml"

# The one list: lowest layer first. A package or module name (the part after `branchml.`) per entry;
# a new package goes here (and in docs/architecture.md) in the change that adds it.
LAYERS: list[set[str]] = [
    {"errors", "config", "settings", "version", "files", "listen"},  # 1 leaf helpers
    {"store"},  # 2 bytes on disk
    {"git"},  # 3 the git binary
    {"repo", "pointers", "checkout", "crash"},  # 4 a repository: paths, pointers, checkout, crash logs
    {"remote", "roles", "data", "merge", "runs"},  # 5 domain packages
    {"monitor", "serve", "fs", "audit", "experiments"},  # 6 product packages
    {"workflows", "migrate"},  # 7 multi-step operations (a migration installs branchml: workflows.setup)
    {"demo", "ui", "gateway"},  # 8 applications
    {"api"},  # 9 the public API (`branchml.api`, docs/api.md): what the CLI and library users call
    {"cli", "__main__", "__init__"},  # 10 the command line, and `branchml` re-exporting the API lazily
]

# Third-party packages heavy enough to import inside the function that needs them (with a comment).
HEAVY = {
    "pyarrow", "pandas", "numpy", "sklearn", "skops", "PIL", "fsspec", "s3fs", "mlflow", "sqlalchemy",
    "alembic", "httpx", "uvicorn", "fastapi", "starlette", "jinja2", "playwright", "onnx", "onnxruntime",
    "scipy", "matplotlib", "vega_datasets", "rich", "plotly", "markdown_it", "boto3", "botocore", "moto", "git_filter_repo", "fuse", "torch", "aiohttp",
    "paramiko", "safetensors",
}

# branchml modules that need an optional extra at import time: the CLI loads them lazily, inside a
# try that turns a missing extra into a clear error (like the heavy packages above).
OPTIONAL_MODULES = {
    "branchml.serve.app", "branchml.serve.server", "branchml.ui.server", "branchml.ui.app",
    "branchml.gateway.app", "branchml.gateway.server",  # starlette and uvicorn (extra `gateway`)
    "branchml.remote.sftp",  # paramiko (extra `remote`): loaded only for ssh:// and sftp:// remotes
    "branchml.serve.launch",  # fastapi, uvicorn: `branchml.api` loads it on first use of serve_model
}

# Violations accepted: none (the house plan keeps it so; test_no_violation_is_accepted). The mechanism
# stays so that a temporary exception is written down where the tests read it, not hidden.
KNOWN: set[str] = set()


def test_no_violation_is_accepted():
    assert KNOWN == set(), "the house plan accepts no layer, cycle or private-name violation (PROTOCOL.md)"


@dataclass(frozen=True)
class Import:
    source: str  # importing module, dotted
    target: str  # imported module, dotted
    names: tuple[str, ...]  # names taken with `from target import ...`
    line: int
    local: bool  # inside a function
    commented: bool  # a comment on its line or the line above says why


def module_name(path: Path) -> str:
    parts = ("branchml", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_key(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer_of(module: str) -> int:
    key = layer_key(module)
    for number, names in enumerate(LAYERS, start=1):
        if key in names:
            return number
    raise AssertionError(f"{module}: package {key!r} is in no layer; add it to LAYERS and docs/architecture.md")


def _resolve(source: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    is_package = MODULES[source].name == "__init__.py"
    base = source.split(".")[: len(source.split(".")) - node.level + is_package]
    return ".".join(base + ([node.module] if node.module else []))


def _function_nodes(tree: ast.Module) -> set[int]:
    inside: set[int] = set()
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            inside.update(id(n) for n in ast.walk(fn) if n is not fn)
    return inside


def _import_block(lines: list[str], node: ast.stmt) -> list[str]:
    """The statement, the imports right above it (one comment may explain a group), and one more line."""
    start = node.lineno - 1
    while start > 0 and lines[start - 1].strip().startswith(("import ", "from ")):
        start -= 1
    return lines[max(start - 1, 0) : node.end_lineno]


def imports_of(module: str) -> Iterator[Import]:
    source = MODULES[module].read_text()
    lines = source.splitlines()
    tree = ast.parse(source)
    local = _function_nodes(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        commented = any("#" in line for line in _import_block(lines, node))
        is_local = id(node) in local
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, (), node.lineno, is_local, commented)
        else:
            target = _resolve(module, node)
            names = tuple(a.name for a in node.names)
            submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
            for sub in submodules:
                yield Import(module, sub, (), node.lineno, is_local, commented)
            rest = tuple(n for n in names if f"{target}.{n}" not in MODULES)
            if rest or not submodules:
                yield Import(module, target, rest, node.lineno, is_local, commented)


ALL_IMPORTS = [imp for module in MODULES for imp in imports_of(module)]
INTERNAL = [imp for imp in ALL_IMPORTS if imp.target.split(".")[0] == "branchml"]


def where(imp: Import) -> str:
    return f"{MODULES[imp.source].relative_to(PACKAGE.parent)}:{imp.line}"


def test_every_package_has_a_layer():
    for module in MODULES:
        layer_of(module)


def check(kind: str, found: dict[str, str]) -> None:
    """Fail on a violation not in KNOWN, and on a KNOWN one that is gone (so the list only shrinks)."""
    known = {k for k in KNOWN if k.startswith(kind + " ")}
    new = [f"{found[k]}  [{k}]" for k in sorted(set(found) - known)]
    fixed = sorted(known - set(found))
    assert not new, f"{kind} violations:\n" + "\n".join(new)
    assert not fixed, "fixed, remove from KNOWN in tests/test_architecture.py:\n" + "\n".join(fixed)


def test_no_module_imports_a_higher_layer():
    check("upward", {
        f"upward {i.source} -> {i.target}": f"{where(i)}: {i.source} (layer {layer_of(i.source)}) imports {i.target} (layer {layer_of(i.target)})"
        for i in INTERNAL
        if i.target in MODULES and layer_of(i.target) > layer_of(i.source)
    })


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def _graph(key: type[str] | None = None) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in INTERNAL:
        if imp.target in MODULES and imp.target != imp.source and not _is_package_of(imp.target, imp.source):
            graph[imp.source].add(imp.target)
    return graph


def reachable(start: str, graph: dict[str, set[str]]) -> set[str]:
    """Every module `start` imports, directly or through others (function-local imports included)."""
    seen, todo = set(), [start]
    while todo:
        for child in graph[todo.pop()] - seen:
            seen.add(child)
            todo.append(child)
    return seen


def test_the_gateway_imports_nothing_of_the_dashboard():
    """`pip install branchml[gateway]` must run the gateway: the `ui` extra (jinja2, plotly) is not there."""
    graph = _graph()
    for module in ("branchml.gateway.server", "branchml.gateway.app", "branchml.cli.gateway_cmds"):
        pulled = sorted(m for m in reachable(module, graph) if m.startswith("branchml.ui"))
        assert not pulled, f"{module} imports {pulled}"
    assert "branchml.ui.app" in reachable("branchml.ui.server", graph)  # the walk does follow imports


def _is_package_of(package: str, module: str) -> bool:
    """`branchml.store` imported by `branchml.store.pack`: the package's __init__, not a cycle risk."""
    return module.startswith(package + ".")


def test_no_import_cycles_between_modules():
    check("cycle", {f"cycle {' <-> '.join(c)}": "import cycle (function-local imports included)" for c in _cycles(_graph())})


def test_no_import_cycles_between_packages():
    packages: dict[str, set[str]] = {}
    for imp in INTERNAL:
        if imp.target in MODULES:
            a, b = layer_key(imp.source), layer_key(imp.target)
            packages.setdefault(a, set())
            if a != b:
                packages[a].add(b)
    check("packages", {f"packages {' <-> '.join(c)}": "package cycle" for c in _cycles(packages)})


def _private_definitions(module: str) -> set[str]:
    """Private names a module defines: functions, classes, assignments, and `self._x` attributes."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
            names.add(node.value)  # setattr(self, "_x", ...) on a frozen dataclass
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def test_no_private_name_is_used_across_modules():
    defined = {m: _private_definitions(m) for m in MODULES}
    everywhere = set().union(*defined.values())
    problems = {}
    for module, path in MODULES.items():
        for imp in (i for i in INTERNAL if i.source == module):
            for n in imp.names:
                if n.startswith("_") and not n.startswith("__"):
                    problems[f"private {module} {n}"] = f"{where(imp)}: imports private {imp.target}.{n}"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                if node.attr in everywhere and node.attr not in defined[module]:
                    problems[f"private {module} {node.attr}"] = f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: uses another module's private .{node.attr}"
    check("private", problems)


def test_function_local_imports_are_only_heavy_third_party_packages_with_a_reason():
    check("local", {
        f"local {i.source} -> {i.target}": f"{where(i)}: import of {i.target} inside a function"
        + ("" if i.target.split(".")[0] in HEAVY or i.target in OPTIONAL_MODULES else " (only heavy optional packages may be imported lazily)")
        + ("" if i.commented else " (needs a comment saying why)")
        for i in ALL_IMPORTS
        if i.local and (not (i.target.split(".")[0] in HEAVY or i.target in OPTIONAL_MODULES) or not i.commented)
    })


@pytest.mark.parametrize(
    ("module", "target", "allowed"),
    [
        ("branchml.store.pack", "branchml.errors", True),
        ("branchml.store.pack", "branchml.repo", False),
        ("branchml.roles.rules", "branchml.git.plumbing", True),
        ("branchml.git.filter", "branchml.repo", False),
        ("branchml.cli.entry", "branchml.workflows.setup", True),
    ],
)
def test_layer_table_orders_known_pairs(module, target, allowed):
    assert (layer_of(target) <= layer_of(module)) is allowed


def test_cycle_finder_finds_a_planted_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_type_gate_covers_the_whole_package():
    """`mypy` (a CI gate in .ci/run) checks the package, not a list of its modules, under --strict:
    a new module is checked from its first commit, and no branchml module is exempted by an override."""
    settings = tomllib.loads((PACKAGE.parents[1] / "pyproject.toml").read_text())["tool"]["mypy"]
    assert settings["files"] == ["src/branchml"]
    assert settings["strict"] is True
    for override in settings.get("overrides", []):
        modules = override["module"] if isinstance(override["module"], list) else [override["module"]]
        assert not [m for m in modules if m.split(".")[0] == "branchml"], f"mypy override exempts {modules}"


def test_the_package_ships_its_type_marker():
    """py.typed (PEP 561) is in the package and in the wheel's package data: users' type checkers read our types."""
    setuptools = tomllib.loads((PACKAGE.parents[1] / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert (PACKAGE / "py.typed").is_file() and "py.typed" in setuptools["package-data"]["branchml"]


def test_the_lint_gate_covers_the_package_and_the_tests():
    """`.ci/run` lints src and tests alike (an unsorted import in a test fails CI, as in src)."""
    gates = [line.split("#")[0].split() for line in (PACKAGE.parents[1] / ".ci" / "run").read_text().splitlines()]
    assert ["ruff", "check", "src", "tests"] in gates



# -- git argument lists live in git/ ----------------------------------------------------------------

GIT_RUNNERS = {"git", "git_text", "git_ok"}  # git.cmd's runners and Repo's shortcuts to them
SUBPROCESS = {"run", "Popen", "check_output", "check_call", "call"}

# Modules outside git/ that still spell git argument lists, and how many; a module leaves this table
# when it goes through named operations of git/plumbing.py. The counts may only go down.
RAW_GIT_LEFT: dict[str, int] = {}


def raw_git_calls(path: Path) -> list[int]:
    """Lines where a module runs git with an argument list of its own: a call of one of the
    GIT_RUNNERS, or a subprocess call whose list or tuple starts with "git" (subprocess.run(["git", ...]))."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        first = node.args[0] if node.args else None
        starts_with_git = (
            isinstance(first, ast.List | ast.Tuple) and bool(first.elts)
            and isinstance(first.elts[0], ast.Constant) and first.elts[0].value == "git"
        )
        if name in GIT_RUNNERS or (name in SUBPROCESS and starts_with_git):
            lines.append(node.lineno)
    return sorted(lines)


def test_git_argument_lists_are_spelled_only_in_the_git_package():
    found = {
        str(path.relative_to(PACKAGE)): raw_git_calls(path)
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).parts[0] != "git"
    }
    found = {module: lines for module, lines in found.items() if lines}
    grown = [
        f"src/branchml/{m}:{','.join(map(str, lines))}: {len(lines)} git argument list(s) (allowed {RAW_GIT_LEFT.get(m, 0)}); "
        "add a named operation to branchml/git/plumbing.py and call it"
        for m, lines in found.items() if len(lines) > RAW_GIT_LEFT.get(m, 0)
    ]
    shrunk = [f"{m}: {RAW_GIT_LEFT[m]} -> {len(found.get(m, []))}" for m in RAW_GIT_LEFT if len(found.get(m, [])) < RAW_GIT_LEFT[m]]
    assert not grown, "\n".join(grown)
    assert not shrunk, "fewer raw git lists now: lower RAW_GIT_LEFT in tests/test_architecture.py:\n" + "\n".join(shrunk)


def test_raw_git_finder_sees_runner_calls_and_literal_argument_lists(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text(
        "import subprocess\n"
        "def f(repo, cmd):\n"
        "    repo.git(['log', '-1'])\n"
        "    cmd.git_ok(['rev-parse', 'HEAD'], repo.cwd)\n"
        "    subprocess.run(('git', 'status'))\n"
        "    plumbing.rev_parse(repo.cwd, 'HEAD')\n"
        "    click.Choice(['git', 'lfs'])\n"
    )
    assert raw_git_calls(planted) == [3, 4, 5]


IGNORE_WITH_REASON = re.compile(r"# type: ignore\[[a-z-]+(,[a-z-]+)*\]\s+#\s*\S")


def test_every_type_ignore_names_its_error_code_and_says_why():
    bare = [
        f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if "type: ignore" in line and not IGNORE_WITH_REASON.search(line)
    ]
    assert not bare, "a `# type: ignore` needs [its-code] and a comment saying why:\n" + "\n".join(bare)


def test_the_type_ignore_check_tells_a_bare_ignore_from_an_explained_one():
    assert IGNORE_WITH_REASON.search("x = f()  # type: ignore[attr-defined]  # set by fsspec")
    assert not IGNORE_WITH_REASON.search("x = f()  # type: ignore[attr-defined]")
    assert not IGNORE_WITH_REASON.search("x = f()  # type: ignore  # why")


# -- the CLI is thin: it calls branchml.api ----------------------------------------------------------

# What every cli/ module may import from branchml: the public API, the errors it raises, and cli/ itself.
CLI_MAY_IMPORT = ("branchml.api", "branchml.errors", "branchml.cli")

# The few cli/ modules that legitimately reach below the API, and why (docs/architecture.md lists them).
CLI_ALLOWED: dict[str, set[str]] = {
    # The filter and hook paths start before click, on every Git command: loading branchml.api (the
    # whole library) there would slow every `git status`. entry.py also wires the store's fetchers.
    "branchml.cli.entry": {"branchml.repo"},
    "branchml.cli.filter_start": {"branchml.crash", "branchml.git.filter", "branchml.repo"},
    "branchml.cli.hook_start": {"branchml.crash", "branchml.git.hooks", "branchml.git.rss", "branchml.repo"},
    # The error handler of every command, and `branchml --version`: they must not load the library either.
    "branchml.cli.app": {"branchml.crash", "branchml.version"},
    # The `gateway` extra alone must run the gateway; branchml.api also reaches the dashboard's server
    # (the `ui` extra), see test_the_gateway_imports_nothing_of_the_dashboard.
    "branchml.cli.gateway_cmds": {"branchml.gateway.credentials", "branchml.gateway.server", "branchml.repo"},
}


def cli_violations(imports: list[Import]) -> list[Import]:
    """cli/ imports of branchml modules other than the API, the errors, cli/ and the allow-list."""
    return [
        imp for imp in imports
        if imp.source.startswith("branchml.cli") and imp.target.split(".")[0] == "branchml"
        and not imp.target.startswith(CLI_MAY_IMPORT) and imp.target not in CLI_ALLOWED.get(imp.source, set())
    ]


def test_cli_modules_call_only_the_public_api():
    """cli/ parses, calls `branchml.api`, prints: a report a command shows is one a script can import."""
    found = sorted(f"{where(imp)}: {imp.source} imports {imp.target}" for imp in cli_violations(INTERNAL))
    assert not found, "cli/ must go through branchml.api (export what it needs there, docs/api.md):\n" + "\n".join(found)
    assert not [m for m in CLI_ALLOWED if m not in MODULES], "CLI_ALLOWED names a module that is gone"


def test_cli_check_sees_function_local_imports_and_honours_the_allow_list():
    planted = [
        Import("branchml.cli.x", "branchml.runs.show", ("show",), 3, True, True),  # inside a function
        Import("branchml.cli.x", "branchml.api", ("show",), 4, False, False),
        Import("branchml.cli.x", "branchml.cli.output", ("get_output",), 5, False, False),
        Import("branchml.cli.x", "branchml.errors", ("CheckFailed",), 6, False, False),
        Import("branchml.cli.filter_start", "branchml.git.filter", ("run_filter_process",), 7, False, False),
        Import("branchml.cli.x", "branchml.git.filter", ("run_filter_process",), 8, False, False),
        Import("branchml.cli.x", "click", ("command",), 9, False, False),
    ]
    assert [(i.source, i.target) for i in cli_violations(planted)] == [
        ("branchml.cli.x", "branchml.runs.show"), ("branchml.cli.x", "branchml.git.filter")]


def test_branchml_reexports_exactly_the_public_api():
    """`branchml.X` works for every name of `branchml.api.__all__`, and for no other (docs/api.md);
    the package derives its names from the API, and a submodule's name does not load the API."""
    code = ("import sys, branchml; from branchml import config, errors; loaded = 'branchml.api' in sys.modules; "
            "import branchml.api as api; star = {}; exec('from branchml import *', star); "
            "print(loaded, sorted(branchml.__all__) == sorted(api.__all__) == sorted(k for k in star if k != '__builtins__'), "
            "all(getattr(branchml, n) is getattr(api, n) for n in api.__all__), hasattr(branchml, 'not_a_name'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(PACKAGE.parent)})
    assert out.stdout.split() == ["False", "True", "True", "False"]


def test_docs_api_names_every_public_name():
    """docs/api.md describes the API once: every name of `branchml.api.__all__` appears there, in backticks."""
    import branchml.api as api

    documented = set(re.findall(r"`([A-Za-z_]\w*)", (PACKAGE.parents[1] / "docs" / "api.md").read_text()))
    assert sorted(set(api.__all__) - documented) == []


def _api_imports() -> dict[str, tuple[str, str]]:
    """What api.py's `if TYPE_CHECKING:` block makes public: name -> (module, attribute), from its
    `from m import X as X` re-exports and its `name = _private` assignments of private imports."""
    tree = ast.parse((PACKAGE / "api.py").read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING")
    imported = {a.asname or a.name: (node.module or "", a.name)
                for node in block.body if isinstance(node, ast.ImportFrom) for a in node.names}
    assigned = {node.targets[0].id: imported[node.value.id]
                for node in block.body if isinstance(node, ast.Assign)}
    return {name: where for name, where in imported.items() if not name.startswith("_")} | assigned


def test_the_lazy_api_loads_what_type_checkers_read():
    """`branchml.api` imports name by name (`_WHERE`), type checkers read its TYPE_CHECKING imports:
    the two must name the same objects, and every public name must load."""
    import branchml.api as api

    assert _api_imports() == api._WHERE
    assert set(api.__all__) == set(api._WHERE) | {"BranchmlError", "CheckFailed", "ExitCode", "__version__"}
    for name in api.__all__:
        assert getattr(api, name) is not None, name
    with pytest.raises(AttributeError):
        api.not_a_name  # noqa: B018 -- the attribute access is the test


def test_a_command_loads_only_what_it_calls():
    """The CLI imports branchml.api for every command; a name loads its own module only."""
    code = ("import sys; from branchml import api; api.lineage; "
            "print(sorted(m for m in sys.modules if m.startswith(('branchml.monitor', 'branchml.serve', 'branchml.audit'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(PACKAGE.parent)})
    assert out.stdout.strip() == "[]"


TESTS = PACKAGE.parents[2] / "tests"
CHECKS = {"raises", "warns", "fail", "deprecated_call"}  # pytest.raises(...) and the like check too


def _called_names(node: ast.AST) -> set[str]:
    calls = [n.func for n in ast.walk(node) if isinstance(n, ast.Call)]
    return {c.id if isinstance(c, ast.Name) else c.attr for c in calls if isinstance(c, ast.Name | ast.Attribute)}


def unchecked_tests(sources: dict[str, str]) -> list[str]:
    """Test functions with no assert, no pytest.raises, and no call of a helper (by name, in `sources`)
    that asserts, directly or through another helper."""
    functions: dict[str, list[ast.FunctionDef]] = {}
    for text in sources.values():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef):
                functions.setdefault(node.name, []).append(node)
    checking = {name for name, defs in functions.items()
                if any(isinstance(n, ast.Assert) for d in defs for n in ast.walk(d))} | CHECKS
    grown = True
    while grown:  # helpers that call helpers that assert
        more = {name for name, defs in functions.items() if any(_called_names(d) & checking for d in defs)}
        grown, checking = bool(more - checking), checking | more
    return sorted(f"{path}:{node.lineno} {node.name}" for path, text in sources.items()
                  for node in ast.walk(ast.parse(text))
                  if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
                  and not any(isinstance(n, ast.Assert) for n in ast.walk(node)) and not _called_names(node) & checking)


def test_every_test_checks_something():
    """A test that asserts nothing cannot fail (the house plan: every test asserts)."""
    sources = {str(p.relative_to(TESTS)): p.read_text() for p in sorted(TESTS.rglob("*.py"))}
    assert not unchecked_tests(sources)


def test_the_assert_finder_sees_a_test_that_checks_nothing():
    planted = {"a.py": "def helper(x):\n    assert x\n\ndef runs(x):\n    return x\n\n"
                       "def test_direct():\n    assert 1\n\ndef test_through_helper():\n    helper(1)\n\n"
                       "def test_raises():\n    with pytest.raises(E):\n        runs(1)\n\n"
                       "def test_nothing():\n    runs(1)\n"}
    assert unchecked_tests(planted) == ["a.py:17 test_nothing"]
