"""status, doctor, migrate: the commands a Git LFS or DVC user reaches for first."""

from __future__ import annotations

import re
from typing import Any

import click

from branchml import api
from branchml.cli.complete import complete_refs
from branchml.cli.output import get_output, human_size, json_option, out_console
from branchml.errors import BranchmlError


@click.command()
@json_option
def status(as_json: bool) -> None:
    """The set-up at a glance: versions, filter and hooks, store, remotes, branch role, problems."""
    get_output().result(api.status(api.open_repo()).as_dict(), as_json, _render_status)


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
    report = api.doctor(api.open_repo(), apply_fix=apply_fix)
    get_output().result(report.as_dict(), as_json, _render_doctor)
    if report.remaining:
        raise BranchmlError(f"doctor found {len(report.remaining)} problem(s)", hint="run `branchml doctor --fix`"
                            if not apply_fix else "see the fix named for each problem above")


def _render_doctor(report: dict[str, Any]) -> None:
    for problem in report["problems"]:
        out_console.print(f"{problem['kind']}: {problem['detail']}" + (f" (fix: {problem['fix']})" if problem["fix"] else ""))
    for action in report["fixed"]:
        out_console.print(f"fixed: {action}")
    if not report["remaining"]:
        out_console.print("no problems")


_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30}


def parse_size(text: str) -> int:
    """`10MB` (10**6 bytes each), `10MiB` (2**20), `500k`, `1234`."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in _UNITS:
        raise click.BadParameter(f"{text!r} is not a size (e.g. 10MB, 512KiB, 1000000)", param_hint="--above")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


@click.group()
def migrate() -> None:
    """Rewrite history: Git LFS, DVC or plain Git in; plain Git or Git LFS out (old refs kept in refs/original/)."""


@migrate.command("import")
@click.argument("args", nargs=-1, shell_complete=complete_refs)
@click.option("--from", "source", type=click.Choice(["lfs", "dvc", "git"]), help="What the history holds now "
              "(default: lfs; git with --above).")
@click.option("--above", "above", metavar="SIZE", help="Plain Git history: ARGS are path patterns; their files "
              "with a version of at least SIZE (e.g. 10MB) become pointers.")
@click.option("--ref", "refs", multiple=True, shell_complete=complete_refs, help="With --above: a ref to rewrite (repeatable).")
@click.option("--everything", is_flag=True, help="Rewrite every branch, tag and remote branch.")
@click.option("--dry-run", is_flag=True, help="List what would change; rewrite nothing.")
@json_option
def import_(args: tuple[str, ...], source: str | None, above: str | None, refs: tuple[str, ...], everything: bool,
            dry_run: bool, as_json: bool) -> None:
    """Bring history in: `--from lfs [--everything | REFS...]`, `--from dvc [REFS...]`, `--above SIZE PATTERNS...`."""
    source = source or ("git" if above else "lfs")
    if source == "git" and not above:
        raise click.UsageError("--from git needs --above SIZE and path patterns")
    report = api.import_history(api.open_repo(), source, list(args), min_size=parse_size(above) if above else None,
                                refs=list(refs), everything=everything, dry_run=dry_run)
    get_output().result(report.as_dict(), as_json, _render_migration)


@migrate.command("export")
@click.argument("refs", nargs=-1, shell_complete=complete_refs)
@click.option("--to", "target", type=click.Choice(["git", "lfs"]), default="git", show_default=True,
              help="Plain Git files, or Git LFS pointers with content in .git/lfs.")
@click.option("--everything", is_flag=True, help="Rewrite every branch, tag and remote branch.")
@click.option("--dry-run", is_flag=True, help="List what would change; rewrite nothing.")
@json_option
def export(refs: tuple[str, ...], target: str, everything: bool, dry_run: bool, as_json: bool) -> None:
    """Take history out of branchml: pointers become files again (or Git LFS pointers). No lock-in."""
    report = api.export_history(api.open_repo(), list(refs), target, everything=everything, dry_run=dry_run)
    get_output().result(report.as_dict(), as_json, _render_migration)


def _render_migration(report: dict[str, Any]) -> None:
    changes = report["changes"]
    verb = "would rewrite" if report["dry_run"] else "rewrote"
    for change in changes[:50] if report["dry_run"] else []:
        out_console.print(f"  {change['path']}  {human_size(change['size'])}  {change['blob'][:12]}")
    if report["dry_run"] and len(changes) > 50:
        out_console.print(f"  ... and {len(changes) - 50} more (--json lists all)")
    out_console.print(f"{verb} {', '.join(report['refs'])}: {len(changes)} file version(s)")
    if report["backups"]:
        out_console.print(f"old history kept under refs/original/ ({len(report['backups'])} ref(s)); "
                          f"{report['notes_copied']} note(s) copied; {report['verified_files']} file(s) verified in the store")
