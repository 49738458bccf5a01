"""`branchml` entry point.

Git starts `branchml filter-process` once per Git command that touches tracked files, so that path
skips click and every other import: start-up time is paid by every `git status`.
Other commands are loaded lazily from the table below, one module per topic.
"""

from __future__ import annotations

import importlib
import sys

from branchml.repo import use_fetcher

# The processes Git starts: the filter on every command that touches tracked files, the hooks on every
# commit. Each loads its own modules only (a hook does not load the store writer, nor the filter the
# hook handlers); "module:function", called with the arguments after the command's name.
GIT_STARTS: dict[str, str] = {
    "filter-process": "branchml.cli.filter_start:main",
    "hook": "branchml.cli.hook_start:main",
}

# command name -> "module:function"; each topic module owns its commands.
COMMANDS: dict[str, str] = {
    "init": "branchml.cli.setup_cmds:init",
    "install": "branchml.cli.setup_cmds:install",
    "track": "branchml.cli.setup_cmds:track",
    "add": "branchml.cli.setup_cmds:add",
    "untrack": "branchml.cli.setup_cmds:untrack",
    "ls-files": "branchml.cli.store_cmds:ls_files",
    "stats": "branchml.cli.store_cmds:stats",
    "fsck": "branchml.cli.store_cmds:fsck",
    "gc": "branchml.cli.store_cmds:gc",
    "cat": "branchml.cli.store_cmds:cat",
    "diff-summary": "branchml.cli.store_cmds:diff_summary",
    "hook": "branchml.cli.setup_cmds:hook",
    "merge-driver": "branchml.cli.merge_cmds:merge_driver",
    "demo": "branchml.cli.demo_cmd:demo",
    "remote": "branchml.cli.remote_cmds:remote",
    "push": "branchml.cli.remote_cmds:push",
    "fetch": "branchml.cli.remote_cmds:fetch",
    "verify-remote": "branchml.cli.remote_cmds:verify_remote",
    "clone": "branchml.cli.remote_cmds:clone",
    "switch": "branchml.cli.remote_cmds:switch",
    "branch": "branchml.cli.roles_cmds:branch",
    "branches": "branchml.cli.roles_cmds:branches",
    "verify": "branchml.cli.roles_cmds:verify",
    "run": "branchml.cli.runs_cmds:run",
    "runs": "branchml.cli.runs_cmds:runs",
    "show": "branchml.cli.runs_cmds:show",
    "release": "branchml.cli.runs_cmds:release",
    "mlflow": "branchml.cli.runs_cmds:mlflow",
    "data": "branchml.cli.data_cmds:data",
    "lineage": "branchml.cli.data_cmds:lineage",
    "used-by": "branchml.cli.data_cmds:used_by",
    "serve": "branchml.cli.serve_cmds:serve",
    "monitor": "branchml.cli.serve_cmds:monitor",
    "ab": "branchml.cli.ab_cmds:ab",
    "diff": "branchml.cli.audit_cmds:diff",
    "rerun": "branchml.cli.audit_cmds:rerun",
    "why": "branchml.cli.audit_cmds:why",
    "audit": "branchml.cli.audit_cmds:audit",
    "ui": "branchml.cli.ui_cmd:ui",
    "get": "branchml.cli.fs_cmds:get",
    "gateway": "branchml.cli.gateway_cmds:gateway",
    "completion": "branchml.cli.complete:completion",
    "status": "branchml.cli.adopt_cmds:status",
    "doctor": "branchml.cli.adopt_cmds:doctor",
    "migrate": "branchml.cli.adopt_cmds:migrate",
}


# Commands that only write to the store: the remotes' modules (25-45 ms to import) are not loaded.
NEVER_FETCH = {"add"}


def _command(argv: list[str]) -> str | None:
    """The command's name: the first argument after the group's options (`-q`, `-C DIR`)."""
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 2 if argv[i] == "-C" else 1
    return argv[i] if i < len(argv) else None


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["filter-process"] or (argv[:1] == ["hook"] and len(argv) >= 2):
        module, func = GIT_STARTS[argv[0]].split(":")
        sys.exit(getattr(importlib.import_module(module), func)(argv[1:]))
    # click and the command modules load only for commands, not for the filter and hooks above
    if _command(argv) not in NEVER_FETCH:
        make_fetcher = importlib.import_module("branchml.remote.ondemand").make_fetcher
        use_fetcher(make_fetcher)  # stores opened by this command fetch what they lack from blob remotes
    app = importlib.import_module("branchml.cli.app")
    app.build_cli(COMMANDS).main(args=argv, prog_name="branchml")
