"""diff / rerun / why / audit: thin click layer over branchml.api (docs/audit.md)."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from branchml import api
from branchml.cli.output import get_output, json_option, out_console
from branchml.errors import CheckFailed


@click.command(context_settings={"ignore_unknown_options": False})
@click.argument("a")
@click.argument("b")
@click.argument("paths", nargs=-1)
@click.option("--key", help="Key column(s), comma-separated: rows with the same key are compared as changed.")
@click.option("--no-rows", is_flag=True, help="List changed files only; do not compare rows.")
@json_option
def diff(a: str, b: str, paths: tuple[str, ...], key: str | None, no_rows: bool, as_json: bool) -> None:
    """What changed from A to B: data files (rows added/removed/changed), code, models, params, metrics.

    Name PATHS (after `--`) to compare those files' rows whatever their size."""
    keys = [k for k in key.split(",") if k] if key else None
    result = api.diff_refs(api.open_repo(), a, b, list(paths) or None, key=keys, rows=not no_rows)
    get_output().result(asdict(result), as_json, lambda _: _render_diff(result))


def _render_diff(result: Any) -> None:
    out_console.print(f"[bold]{result.a}[/] ({result.commit_a[:10]}) -> [bold]{result.b}[/] ({result.commit_b[:10]})")
    if not result.files:
        out_console.print("no file changed")
    for kind, changes in sorted(result.by_kind().items()):
        out_console.print(f"[bold]{kind}[/] ({len(changes)} file(s))")
        for change in changes:
            out_console.print(f"  {change.status:<9} {change.path}  {_sizes(change)}")
            for rows in change.rows:
                out_console.print(f"    {_rows_line(rows, change.path)}")
            if change.note:
                out_console.print(f"    [dim]{change.note}[/]")
    for title, table in (("params", result.params), ("metrics", result.metrics)):
        changed = {k: v for k, v in table.items() if v[0] != v[1]}
        if table:
            out_console.print(f"[bold]{title}[/]: {len(changed)} of {len(table)} differ")
            for name, (old, new) in changed.items():
                out_console.print(f"  {name}: {old} -> {new}")


def _sizes(change: Any) -> str:
    def show(n: int | None) -> str:
        return "-" if n is None else f"{n:,} B"
    return f"[dim]{show(change.size_a)} -> {show(change.size_b)}{' (store)' if change.tracked else ''}[/]"


def _rows_line(rows: Any, path: str) -> str:
    name = "" if rows.table == path else f"table {rows.table}: "
    parts = [f"+{rows.added}", f"-{rows.removed}"] + ([f"~{rows.changed} changed"] if rows.key else [])
    line = f"{name}rows {rows.rows_a:,} -> {rows.rows_b:,} ({' '.join(parts)})"
    if rows.key:
        line += f" by key {','.join(rows.key)}"
    if rows.columns_added:
        line += f"; columns added: {', '.join(rows.columns_added)}"
    if rows.columns_removed:
        line += f"; columns removed: {', '.join(rows.columns_removed)}"
    return line


@click.command()
@click.argument("tag")
@click.option("--in", "directory", type=click.Path(file_okay=False, path_type=Path), help="Run in this new folder and keep it.")
@click.option("--yes", is_flag=True, help="Run the recorded command without asking (it comes from the committed record).")
@json_option
def rerun(tag: str, directory: Path | None, yes: bool, as_json: bool) -> None:
    """Run TAG's recorded training again from its code commit; compare metrics and output files.

    Exit 1 when it does not reproduce. Nothing is committed or tagged."""

    repo = api.open_repo()
    run = api.rerun_plan(repo, tag)
    out = get_output()
    shown = "\n".join("  $ " + " ".join(step) for step in run.steps)
    out.info(f"rerun of {tag} at code commit {run.code_commit[:12]}:\n{shown}")
    if not yes and not click.confirm("run these commands (from the committed run record)?", err=True):
        raise click.Abort()
    result = api.rerun(repo, run, directory, sys.stderr.buffer)
    out.result(result.as_dict(), as_json, _render_rerun)
    if not result.reproduced:
        raise CheckFailed(f"{tag} did not reproduce", hint="see the differences above; tolerances are [rerun] in branchml.toml")


def _render_rerun(data: dict[str, Any]) -> None:
    for title in ("metrics", "files"):
        for name, row in data[title].items():
            mark = "[green]same[/]" if row["ok"] else "[red]differs[/]"
            out_console.print(f"{title[:-1]:<7} {name}: {row['recorded']} -> {row['rerun']} {mark}")
    out_console.print("[green]reproduced[/]" if data["reproduced"] else "[red]not reproduced[/]")


@click.command()
@click.argument("tag")
@json_option
def why(tag: str, as_json: bool) -> None:
    """The whole story of TAG: raw uploads and sources, pulls, cleaning, split, code, run, metrics,
    where it runs now, and its monitoring logs."""
    story = api.story(api.open_repo(), tag)
    get_output().result(story.as_dict(), as_json, _render_story)


def _render_story(s: dict[str, Any]) -> None:
    p = out_console.print
    p(f"[bold]{s['tag']}[/]  commit {s['commit'][:12]}  {s['date']}  branch {s['branch'] or '?'}")
    p(f"code    {s['code_commit'][:12]}" + (f"  command: {' '.join(s['command'])}" if s["command"] else ""))
    p(f"metrics {s['metrics'] or '-'}\nparams  {s['params'] or '-'}")
    for u in s["uploads"]:
        p(f"upload  {u['commit'][:12]} {u.get('date', '')} source: {u['source']}")
    for pull in s["pulls"]:
        p(f"pull    {pull['ref']}@{str(pull['commit'])[:12]} into {str(pull['pulled_in'])[:12]}")
    for report in s["cleaning_reports"]:
        p(f"clean   {report}")
    if s["split"]:
        p(f"split   {s['split']['commit'][:12]} {escape(str(s['split']['settings']))}")
        if s["split"].get("problem"):  # "[split]" in it is text, not console markup
            p(f"        refused: {escape(s['split']['problem'])}")
    r = s["release"]
    p(f"release {r['customer']}: {'runs now (latest)' if r['current'] else 'superseded by ' + str(r['latest'])}")
    for m in s["monitoring"] or [{"branch": "-", "files": 0, "bytes": 0, "path": "no monitoring logs"}]:
        p(f"monitor {m['branch']}: {m['files']} file(s), {m['bytes']:,} B under {m['path']}")


@click.group()
def audit() -> None:
    """Audit questions: uploads, split history, what to retrain, what a customer runs (docs/audit.md)."""


@audit.command()
@click.option("--branch", default="data/raw", show_default=True)
@json_option
def uploads(branch: str, as_json: bool) -> None:
    """Who uploaded what, when, and from where."""
    get_output().result([u.as_dict() for u in api.uploads(api.open_repo(), branch)], as_json, _render_uploads)


def _render_uploads(rows: list[dict[str, Any]]) -> None:
    for u in rows:
        out_console.print(f"{u['date']}  {u['author']}  {u['source']}  {len(u['files'])} file(s)  {u['commit'][:12]}")


@audit.command("split")
@click.argument("branch")
@json_option
def split_history(branch: str, as_json: bool) -> None:
    """Was BRANCH's split ever changed under it, and did any example move between splits? Exit 1 if so."""
    found = api.split_history(api.open_repo(), branch)
    get_output().result(found.as_dict(), as_json, _render_split)
    if not found.clean:
        raise CheckFailed(f"{len(found.moved)} example(s) moved between splits, {len(found.test_changes)} left the test split under {branch}")


def _render_split(data: dict[str, Any]) -> None:
    for pull in data["pulls"]:
        out_console.print(f"split {pull['commit'][:12]}: {pull['examples']} examples, {pull['test']} in test")
    for m in data["moved"][:20]:
        out_console.print(f"[red]moved[/] {m['source_path']}#{m['example_id']}: {m['from']} -> {m['to']}")
    if data["clean"]:
        out_console.print(f"[green]no example moved[/] across {len(data['pulls'])} split version(s)")


@audit.command()
@click.argument("upload")
@json_option
def retrain(upload: str, as_json: bool) -> None:
    """Which tags hold data of raw upload UPLOAD (a commit), and which customers run them now."""
    found = api.retrain_affected(api.open_repo(), upload)
    get_output().result(found.as_dict(), as_json, _render_retrain)


def _render_retrain(data: dict[str, Any]) -> None:
    out_console.print(f"tags holding {data['upload'][:12]}: {', '.join(data['tags']) or 'none'}")
    for customer, entry in sorted(data["customers"].items()):
        now = "[red]runs an affected model[/]" if entry["runs_affected_model"] else "latest is not affected"
        out_console.print(f"  {customer}: {len(entry['affected'])} affected; latest {entry['latest']}: {now}")
    if data["stable_branches"]:
        out_console.print(f"retrain on: {', '.join(data['stable_branches'])}")


@audit.command()
@click.argument("customer")
@click.option("--at", help="A date (YYYY-MM-DD) or time: the release that was latest then.")
@json_option
def running(customer: str, at: str | None, as_json: bool) -> None:
    """What CUSTOMER runs now (its latest release), or ran on a date."""
    found = api.running_release(api.open_repo(), customer, at)
    get_output().result(found.as_dict(), as_json, lambda r: out_console.print(f"{r['customer']}: {r['tag']} ({r['date']}, {r['commit'][:12]})"))
