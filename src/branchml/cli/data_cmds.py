"""data add / pull / clean / split / view, lineage, used-by: thin over branchml.api."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from branchml import api
from branchml.cli.complete import complete_refs
from branchml.cli.output import get_output, json_option, out_console
from branchml.errors import CheckFailed


@click.group()
def data() -> None:
    """Move data raw -> clean -> split -> stable by copy, every step a commit with its origin."""


@data.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--source", required=True, help="Where the data comes from (recorded as Data-Source).")
@click.option("--to", "to", metavar="DIR", help="Folder on the branch (default: data/uploads/<date>-<n>).")
@json_option
def add(files: tuple[Path, ...], source: str, to: str | None, as_json: bool) -> None:
    """On data/raw: commit FILES (files or folders) as one upload with its source."""
    upload = api.add_data(api.open_repo(), list(files), source, to)
    get_output().result(asdict(upload), as_json, lambda u: _say(
        f"added {len(u['files'])} file(s) to {u['folder']} in {u['commit'][:12]} (source: {escape(u['source'])})"))


@data.command()
@click.argument("ref", shell_complete=complete_refs)
@click.option("--to", "to", metavar="DIR", help="Folder here (default: the same path as on REF).")
@click.option("--path", "path", metavar="P", help="Folder or file of REF to copy (default: the data folder).")
@click.option("--all", "everything", is_flag=True, help="Copy every file again, not only those changed since the last pull.")
@json_option
def pull(ref: str, to: str | None, path: str | None, everything: bool, as_json: bool) -> None:
    """Copy files of REF (branch, tag or commit) here and commit with Data-From: REF@commit.

    After a first pull of REF, only what changed on REF since the last pull is applied (new and
    modified files copied, copies of deleted files removed)."""
    result = api.pull_data(api.open_repo(), ref, to, path, everything)

    def render(r: dict[str, Any]) -> None:
        if r["commit"] is None:
            _say(f"already up to date with {escape(r['source'])} ({r['unchanged']} file(s))")
            return
        since = f" (changes since {r['since'][:12]})" if r["since"] else ""
        _say(f"pulled {escape(r['source'])}{since}: {len(r['added'])} added, {len(r['updated'])} updated, "
             f"{len(r['removed'])} removed, {r['unchanged']} unchanged, in {r['commit'][:12]}")

    get_output().result(asdict(result), as_json, render)


@data.command()
@click.option("--rules", "rules", metavar="SCRIPT", help="Committed Python file with check_file/check_row (it is run).")
@click.option("--all", "everything", is_flag=True, help="Check every file, also those that passed the same rules before.")
@json_option
def clean(rules: str | None, everything: bool, as_json: bool) -> None:
    """On data/clean: drop broken files and bad rows; commit a report of every drop."""
    result = api.clean_data(api.open_repo(), rules, everything)

    def render(r: dict[str, Any]) -> None:
        if r["commit"] is None:
            _say(f"clean: {r['checked_files']} file(s) checked, nothing to drop")
            return
        table = _table("path", "row", "rule", "reason")
        for drop in r["dropped_files"] + r["dropped_rows"]:
            table.add_row(escape(drop["path"]), str(drop["row"] or ""), drop["rule"], escape(drop["reason"]))
        out_console.print(table)
        _say(f"dropped {len(r['dropped_files'])} file(s), {len(r['dropped_rows'])} row(s); "
                          f"report {r['report']} in {r['commit'][:12]}")

    get_output().result(asdict(result), as_json, render)


@data.command()
@click.option("--ratios", help="train,val,test fractions, e.g. 0.8,0.1,0.1 (default: saved in [split]).")
@click.option("--seed", type=int, help="Hash seed (default: saved in [split]).")
@click.option("--key", help="Id column of row files (CSV, JSONL, Parquet); default: the row's content.")
@click.option("--source", metavar="DIR", help="Folder to split (default: saved, else data/uploads).")
@click.option("--force", is_flag=True, help="Accept changed settings that move examples between splits.")
@json_option
def split(ratios: str | None, seed: int | None, key: str | None, source: str | None, force: bool, as_json: bool) -> None:
    """On data/split: (re)write train/ val/ test/ and manifest.csv; examples never move."""
    result = api.split_data(api.open_repo(), ratios, seed, key, source, force)

    def render(r: dict[str, Any]) -> None:
        counts = ", ".join(f"{n} {s}" for s, n in r["counts"].items())
        state = f"committed {r['commit'][:12]}" if r["commit"] else "already up to date"
        _say(f"split {escape(r['settings']['source'])}: {counts} ({state})")
        for digest, names in r["leaks"].items():
            _say(f"[yellow]leak:[/] content {digest[:16]} is in {', '.join(names)}")

    get_output().result(asdict(result), as_json, render)


@data.command()
@click.argument("name", type=click.Choice(["train", "val", "test", "train+val", "all"]))
@click.option("--rev", default="HEAD", help="Branch, tag or commit holding the split (default: HEAD).")
@json_option
def view(name: str, rev: str, as_json: bool) -> None:
    """List the files of a view of the split: train, val, test, train+val or all."""
    paths = api.split_view(api.open_repo(), name, rev)
    get_output().result(paths, as_json, lambda ps: _say("\n".join(escape(p) for p in ps)))


@data.command()
@click.option("--rev", default="HEAD", help="Branch, tag or commit holding the split (default: HEAD).")
@json_option
def leaks(rev: str, as_json: bool) -> None:
    """Examples with the same content in more than one split (exit 1 when there are any)."""
    found = api.leakage(api.open_repo(), rev)
    get_output().result(found, as_json, lambda f: _say(
        "\n".join(f"content {h[:16]} is in {', '.join(s)}" for h, s in f.items()) or "no leaks"))
    if found:
        raise CheckFailed(f"{len(found)} example(s) are in more than one split", hint="re-split with a --key that groups duplicates")


@click.command()
@click.argument("rev", shell_complete=complete_refs)
@json_option
def lineage(rev: str, as_json: bool) -> None:
    """What REV's data came from: pulls back to every raw upload and its source."""
    get_output().result(api.lineage(api.open_repo(), rev).as_dict(), as_json, _render_lineage)


def _render_lineage(result: dict[str, Any]) -> None:
    code = "" if result["code_commit"] == result["commit"] else f" (code from {result['code_commit'][:12]})"
    tree = Tree(f"[bold]{escape(result['rev'])}[/] {result['commit'][:12]}{code}")
    seen: set[str] = set()
    for pull in result["chain"]:
        _add_pull(tree, pull, seen)
    out_console.print(tree)
    _say(f"raw uploads ({len(result['sources'])}):")
    for up in result["sources"]:
        _say(f"  {up['commit'][:12]}  {up['date'][:10]}  {up['files']} file(s)  {escape(up['source'])}")


def _add_pull(parent: Tree, pull: dict[str, Any], seen: set[str]) -> None:
    """One pull and what it brought; an upload already shown higher up is not repeated."""
    state = " [red](not in this clone)[/]" if pull.get("missing") else ""
    branch = parent.add(f"pulled from [cyan]{escape(pull['ref'])}[/] @ {str(pull['commit'])[:12]}{state}"
                        f" in {pull['pulled_in'][:12]}")
    for up in pull["uploads"]:
        if up["commit"] not in seen:
            seen.add(up["commit"])
            branch.add(f"upload {up['commit'][:12]}: {escape(up['source'])} ({up['files']} file(s))")
    for sub in pull["chain"]:
        _add_pull(branch, sub, seen)


@click.command("used-by")
@click.argument("rev", shell_complete=complete_refs)
@json_option
def used_by(rev: str, as_json: bool) -> None:
    """Which branches, tags and runs hold REV's data or pulled it (at any depth)."""
    def render(r: dict[str, Any]) -> None:
        table = _table("ref", "kind", "how", "via")
        for user in r["users"]:
            table.add_row(escape(user["name"]), user["kind"], user["how"], escape(" <- ".join(_short_origin(v) for v in user["via"])))
        out_console.print(table if r["users"] else f"nothing uses {escape(r['rev'])}")

    get_output().result(api.used_by(api.open_repo(), rev).as_dict(), as_json, render)


def _table(*columns: str) -> Table:
    table = Table(box=None)
    for column in columns:
        table.add_column(column, overflow="fold")  # paths and commit ids whole, never cut with "…"
    return table


def _say(text: str) -> None:
    out_console.print(text, soft_wrap=True)  # one line per message, also when piped


def _short_origin(origin: str) -> str:
    ref, _, commit = origin.rpartition("@")
    return f"{ref}@{commit[:12]}"
