"""run / runs / show / release / mlflow: thin click layer over branchml.api."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from branchml import api
from branchml.cli.complete import complete_customers, complete_tags
from branchml.cli.output import get_output, json_option, out_console


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--customer", help="Tag prefix: tags are <customer>-<n> (default: the part after stable/).")
@click.option("--tag", help="Use exactly this tag name instead of the next number.")
@json_option
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run(customer: str | None, tag: str | None, as_json: bool, command: tuple[str, ...]) -> None:
    """Train on this stable branch: reserve the tag, run COMMAND ({tag} and $BRANCHML_TAG give its
    name), commit models, metrics and MODEL_CARD.md, tag, and record the run on main."""
    if customer and tag:
        raise click.UsageError("give --customer or --tag, not both")
    result = api.run(api.open_repo(), list(command), customer=customer, tag=tag)
    out = get_output()
    out.info(f"[green]tagged {result.tag}[/] ({result.commit[:12]}); record on main; log: {result.log}")
    out.result(result.record.to_json(), as_json, lambda r: None)


@click.command()
@click.option("--sort", "sort_by", metavar="METRIC", help="Order by this metric (highest first).")
@click.option("--ascending", is_flag=True, help="With --sort: lowest first (losses, errors).")
@json_option
def runs(sort_by: str | None, ascending: bool, as_json: bool) -> None:
    """The run records on the tracking branch (main), from any branch."""
    records = api.list_runs(api.open_repo(), sort_by=sort_by, ascending=ascending)
    get_output().result([r.to_json() for r in records], as_json, lambda _: render_runs(records))


def render_runs(records: list[api.RunRecord]) -> None:
    from rich.table import Table  # rich's renderers load only when output needs them

    names = sorted({m for r in records for m in r.metrics})
    table = Table("tag", "branch", "commit", "started", *names)
    for r in records:
        metrics = r.metrics
        table.add_row(r.tag, r.branch, r.commit[:10], r.started,
                      *(_fmt(metrics.get(m)) for m in names))
    out_console.print(table if records else "no runs recorded yet (train one with `branchml run`)")


def _fmt(value: object) -> str:
    return "" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


@click.command()
@click.argument("tag", shell_complete=complete_tags)
@click.option("--monitor", "with_monitor", is_flag=True, help="Also TAG's production logs, per monitor/<env> branch.")
@click.option("--since", help="With --monitor: only records newer than this (7d, 12h or an ISO date).")
@json_option
def show(tag: str, with_monitor: bool, since: str | None, as_json: bool) -> None:
    """Where TAG came from: code commit, data lineage, metrics, files (and, with --monitor, its logs)."""
    info = api.show(api.open_repo(), tag, monitor=with_monitor, since=since).as_dict()
    get_output().result(info, as_json, _render_show)


def _render_show(info: dict[str, Any]) -> None:
    from rich.table import Table  # rich's renderers load only when output needs them

    out_console.print(f"[bold]{info['tag']}[/]  commit {info['commit']}  branch {info['branch'] or '?'}")
    out_console.print(f"code commit: {info['code_commit']}")
    out_console.print("metrics: " + (", ".join(f"{k}={_fmt(v)}" for k, v in sorted(info["metrics"].items())) or "none"))
    out_console.print("params: " + (", ".join(f"{k}={v}" for k, v in sorted(info["params"].items())) or "none"))
    lineage = info["data_lineage"]
    out_console.print("data lineage:")
    for e in lineage.get("entries", []) if isinstance(lineage, dict) else []:
        out_console.print(f"  {e['key']}: {e['value']}  (commit {e['commit'][:10]})")
    if not isinstance(lineage, dict) or "entries" not in lineage:
        out_console.print_json(data=lineage)
    table = Table("path", "size", "in store")
    for f in info["files"]:
        table.add_row(f["path"], str(f["size"]), "yes" if f["store"] else "")
    out_console.print(table)
    for env in info.get("monitor", []):
        out_console.print(f"monitor/{env['env']}: {env['count']} record(s) in {env['parts']} part(s), "
                          f"{env['first'] or '-'} .. {env['last'] or '-'}, variants {env['variants']}")
    if "monitor" in info and not info["monitor"]:
        out_console.print("monitor: no monitor/* branches")


@click.group()
def release() -> None:
    """What customers fetch: the <customer>-<n> tags."""


@release.command("list")
@click.argument("customer", required=False, shell_complete=complete_customers)
@json_option
def release_list(customer: str | None, as_json: bool) -> None:
    """Release tags (of CUSTOMER, or all), oldest first."""
    def render(rows: list[dict[str, Any]]) -> None:
        from rich.table import (
            Table,  # rich's renderers load only when output needs them
        )

        table = Table("tag", "customer", "commit", "date")
        for r in rows:
            table.add_row(r["tag"], r["customer"], r["commit"][:10], r["date"])
        out_console.print(table if rows else "no release tags")

    get_output().result([r.as_dict() for r in api.list_releases(api.open_repo(), customer)], as_json, render)


@release.command("get")
@click.argument("customer", shell_complete=complete_customers)
@click.option("--latest", "latest_", is_flag=True, help="The newest <customer>-<n> tag (the default).")
@click.option("--tag", help="This tag instead of the newest.")
@click.option("--to", "dest", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder to write the files into.")
@click.option("--remote", help="Fetch just that tag from this Git remote (a name here, or a URL: works in an empty folder).")
@click.option("--force", is_flag=True, help="Replace a non-empty --to folder.")
@json_option
def release_get(customer: str, latest_: bool, tag: str | None, dest: Path, remote: str | None, force: bool, as_json: bool) -> None:
    """Write the files of CUSTOMER's latest release into a folder (replaced as a whole)."""
    if latest_ and tag:
        raise click.UsageError("give --latest or --tag, not both")
    result = api.get_release(None, customer, dest, tag=tag, remote=remote, force=force)
    get_output().info(f"{result.tag}: {len(result.files)} file(s) written to {result.to}")
    get_output().result(result.as_dict(), as_json, lambda r: None)


@click.group()
def mlflow() -> None:
    """MLflow views of the run records (optional extra: pip install 'branchml[mlflow]')."""


@mlflow.command("export")
@click.option("--db", "db", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the database (default: <git common dir>/branchml/mlflow/mlflow.db, outside the work tree).")
@json_option
def mlflow_export(db: Path | None, as_json: bool) -> None:
    """Rebuild an MLflow SQLite database from the records; the message says how to open it with `mlflow ui`.

    Export again whenever runs were added: a running `mlflow ui` sees the new runs on its next page load."""
    result = api.export_mlflow(api.open_repo(), db)
    get_output().info(f"{result.runs} run(s) written to {result.db}; view them with "
                      f"`mlflow ui --backend-store-uri sqlite:///{result.db}` (then open http://127.0.0.1:5000); "
                      "re-run `branchml mlflow export` after new runs: a running `mlflow ui` sees them")
    get_output().result(result.as_dict(), as_json, lambda r: None)
