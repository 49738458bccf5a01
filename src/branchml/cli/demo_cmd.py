"""`branchml demo [DIR]`: build the example repository and narrate it."""

from __future__ import annotations

import itertools
from pathlib import Path

import click

from branchml import api
from branchml.cli.output import get_output, json_option
from branchml.cli.runs_cmds import render_runs


@click.command()
@click.argument("directory", default="branchml-demo", type=click.Path(file_okay=False, path_type=Path))
@json_option
def demo(directory: Path, as_json: bool) -> None:
    """Build a small example project in DIRECTORY (needs the `demo` extra) and explain each step."""
    from rich.markup import escape  # rich's renderers load only when output needs them


    out = get_output()
    step = itertools.count(1)
    summary = api.build_demo(directory, lambda title, detail: out.info(f"[bold cyan]{next(step):>2}. {escape(title)}[/]: {escape(detail)}"))
    repo = api.open_repo(directory)
    if not as_json and not out.quiet:
        out.info("[bold cyan]branchml runs[/] (on main):")
        render_runs(api.list_runs(repo))
    latest = api.show(repo, summary.tags[-1]).as_dict()
    lineage = latest["data_lineage"]
    sources = [f"{e['key']} {e['value']}" for e in (lineage.get("entries", []) if isinstance(lineage, dict) else [])]
    out.info(f"[bold cyan]where did {latest['tag']} come from?[/] " + escape(
        f"code {latest['code_commit'][:12]}, data: {'; '.join(sources)}; metrics {latest['metrics']}"))
    out.info(f"\nNext: cd {directory} && branchml runs && branchml show {latest['tag']} --monitor && "
             "branchml ab report --env prod && branchml monitor check --env prod --no-commit")
    out.result({**summary.as_dict(), "show": latest}, as_json, lambda s: None)
