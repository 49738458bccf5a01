"""branch / branches / verify: branches with roles, and their rules."""

from __future__ import annotations

from typing import Any

import click

from branchml import api
from branchml.cli.complete import complete_branches, complete_refs
from branchml.cli.output import get_output, json_option, out_console
from branchml.errors import CheckFailed


@click.command()
@click.argument("name", shell_complete=complete_branches)
@click.option("--from", "start", metavar="REF", shell_complete=complete_refs, help="Start the branch here (default: the current commit).")
@click.option("--force-role", "any_role", is_flag=True, help="Allow a name that no [roles.branches] glob gives a role.")
def branch(name: str, start: str | None, any_role: bool) -> None:
    """Create branch NAME of a role (data/raw, dev/x, stable/x, monitor/x, ds/x...) and switch to it."""
    role = api.create_branch(api.open_repo(), name, start, any_role=any_role)
    get_output().info(f"switched to new branch {name} (role: {role or 'none'})")


@click.command()
@json_option
def branches(as_json: bool) -> None:
    """Every branch with its role, head, last activity and latest tag."""
    infos = api.list_branches(api.open_repo())
    get_output().result([i.to_json() for i in infos], as_json, _render_branches)


def _render_branches(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table  # rich's renderers load only when output needs them

    table = Table(box=None)
    for column in ("branch", "role", "head", "last activity", "latest tag"):
        table.add_column(column, no_wrap=True)
    for r in rows:
        tag = ", ".join(r["tags_at_head"]) + " (at head)" if r["tags_at_head"] else r["latest_tag"] or ""
        name = ("* " if r["current"] else "  ") + r["branch"]
        table.add_row(name, r["role"] or "-", r["head"][:12], r["date"][:16].replace("T", " "), tag)
    out_console.print(table)


@click.command()
@click.argument("revision", required=False, metavar="[RANGE]")
@click.option("--branch", "branch_name", help="Judge the commits as commits of this branch (for detached CI checkouts).")
@click.option("--all", "all_branches", is_flag=True, help="Every local branch that has a role.")
@json_option
def verify(revision: str | None, branch_name: str | None, all_branches: bool, as_json: bool) -> None:
    """Check the role rules, unresolved merges and raw bytes on RANGE (A..B, or a branch: its commits since it
    forked). Exit 1 on violations."""
    repo = api.open_repo()
    found = api.verify_all(repo) if all_branches else api.verify(repo, revision, branch_name)
    if as_json:
        get_output().result([v.as_dict() for v in found], True, lambda _: None)
    else:
        for v in found:
            click.echo(v.line())
        if not found:
            get_output().info("no role rule violations")
    if found:
        raise CheckFailed(f"{len(found)} role rule violation(s)", hint="see the lines above; `branchml verify --json` lists them")
