"""status, doctor, migrate: the commands a Git LFS or DVC user reaches for first."""

from __future__ import annotations

from typing import Any

import click

from branchml.cli.output import get_output, human_size, json_option, out_console
from branchml.errors import BranchmlError
from branchml.repo import Repo
from branchml.workflows import doctor as checks
from branchml.workflows.status import status as get_status


@click.command()
@json_option
def status(as_json: bool) -> None:
    """The set-up at a glance: versions, filter and hooks, store, remotes, branch role, problems."""
    get_output().result(get_status(Repo.find()).as_dict(), as_json, _render_status)


def _render_status(s: dict[str, Any]) -> None:
    line = out_console.print
    line(f"branchml {s['version']} (git {s['git_version']}, python {s['python']})")
    line(f"repository:   {s['root'] or '(bare)'}")
    line(f"branch:       {s['branch'] or '(detached)'}  role: {s['role'] or '-'}")
    line(f"filter:       {s['filter'] or '[red]not registered[/]'}" + (f" ({s['filter_scope']})" if s["filter"] else ""))
    if s["skip_smudge"]:
        line("checkout:     pointers only (BRANCHML_SKIP_SMUDGE is set)")
    store = s["store"]
    if store:
        line(f"store:        {s['store_dir']}: {store['files']} file(s), {human_size(store['file_bytes'])} logical, "
             f"{human_size(store['stored_bytes'])} stored")
    line(f"settings:     {s['settings_from']}")
    for remote in s["remotes"] or [{"name": "-", "url": "no blob remote", "source": "", "status": ""}]:
        line(f"remote:       {remote['name']} {remote['url']} {remote['source']} {remote['status']}".rstrip())
    for problem in s["problems"]:
        line(f"[red]problem:[/]      {problem['kind']}: {problem['detail']}")
    line("no problems" if not s["problems"] else "run `branchml doctor --fix`")


@click.command()
@click.option("--fix", "apply_fix", is_flag=True, help="Repair what can be repaired (install, renormalise, stale locks).")
@json_option
def doctor(apply_fix: bool, as_json: bool) -> None:
    """Check this clone: missing install, raw bytes where pointers belong, hooks, stale locks. Exit 1 if any."""
    repo = Repo.find()
    problems = checks.diagnose(repo)
    actions = checks.fix(repo, problems) if apply_fix and problems else []
    remaining = checks.diagnose(repo) if actions else problems
    report = {"problems": [p.as_dict() for p in problems], "fixed": actions, "remaining": [p.as_dict() for p in remaining]}
    get_output().result(report, as_json, _render_doctor)
    if remaining:
        raise BranchmlError(f"doctor found {len(remaining)} problem(s)", hint="run `branchml doctor --fix`"
                            if not apply_fix else "see the fix named for each problem above")


def _render_doctor(report: dict[str, Any]) -> None:
    for problem in report["problems"]:
        out_console.print(f"{problem['kind']}: {problem['detail']}" + (f" (fix: {problem['fix']})" if problem["fix"] else ""))
    for action in report["fixed"]:
        out_console.print(f"fixed: {action}")
    if not report["remaining"]:
        out_console.print("no problems")
