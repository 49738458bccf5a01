"""Read and maintain the store: ls-files, stats, fsck, gc, cat, diff-summary."""

from __future__ import annotations

import sys
from typing import Any, BinaryIO

import click
from rich.table import Table

from branchml import api
from branchml.cli.complete import complete_refs
from branchml.cli.output import get_output, human_size, json_option, out_console
from branchml.errors import CheckFailed


@click.command("ls-files")
@click.argument("ref", required=False, shell_complete=complete_refs)
@click.option("--all", "all_refs", is_flag=True, help="Every file of every ref's whole history.")
@click.option("--deleted", is_flag=True, help="Also files REF's history held and later deleted or changed.")
@json_option
def ls_files(ref: str | None, all_refs: bool, deleted: bool, as_json: bool) -> None:
    """Tracked large files (of the index, or of REF): path, size, oid, whether their content is local."""
    rows = [f.as_dict() for f in api.list_files(api.open_repo(), ref, all_refs=all_refs, deleted=deleted)]

    def render(data: list[dict[str, Any]]) -> None:
        table = Table("path", "size", "oid", "local", box=None)
        for row in data:
            table.add_row(row["path"], human_size(row["size"]), row["oid"][:12], "yes" if row["present"] else "[red]no[/]")
        out_console.print(table)

    get_output().result(rows, as_json, render)


@click.command()
@json_option
def stats(as_json: bool) -> None:
    """Logical bytes (files as users see them) against bytes stored, and the dedup ratio."""
    totals = api.stats(api.open_repo()).as_dict()

    def render(t: dict[str, Any]) -> None:
        out_console.print(f"files:          {t['files']}")
        out_console.print(f"logical bytes:  {human_size(t['file_bytes'])}")
        out_console.print(f"unique chunks:  {t['chunks']} ({human_size(t['chunk_bytes'])} before compression)")
        out_console.print(f"stored bytes:   {human_size(t['stored_bytes'])} in packs of {human_size(t['pack_bytes'])}")
        out_console.print(f"dedup ratio:    {t['dedup_ratio'] or '-'}x")
        links = t["checkout_links"]
        if links["linked_files"]:
            out_console.print(f"reflinked:      {links['linked_files']} work-tree file(s), {human_size(links['linked_bytes'])} "
                              f"sharing {human_size(links['cache_bytes'])} of whole-file copies: {human_size(links['saved_bytes'])} saved")

    get_output().result(totals, as_json, render)


@click.command()
@click.option("--read-data", is_flag=True, help="Read every chunk and check its BLAKE3 (slow, thorough).")
@click.option("--all", "all_refs", is_flag=True, help="Also check files of every branch, tag and reflog, not only this checkout.")
@click.option("--rebuild-index", is_flag=True, help="Rebuild the index from the packs first.")
@json_option
def fsck(read_data: bool, all_refs: bool, rebuild_index: bool, as_json: bool) -> None:
    """Verify the store and every pointer; name every problem and the files it breaks. Exit 1 if any.

    What fails verification is set aside, so `branchml fetch` or re-adding the file repairs it.
    """
    repo = api.open_repo()
    out = get_output()
    total = 0 if rebuild_index else api.fsck_total(repo)
    with out.progress("checking chunks", total or None) as advance:
        report = api.fsck(repo, read_data=read_data, all_refs=all_refs, rebuild_index=rebuild_index, progress=advance)
    items = [problem.as_dict() for problem in report.problems]

    def render(items: list[dict[str, Any]]) -> None:
        if not items:
            out_console.print(f"store OK ({report.files_checked} tracked file(s) checked{', data read' if read_data else ''})")
        for item in items:
            if item["kind"] == "raw-bytes":
                out_console.print(f"raw-bytes: {item['detail']}", markup=False)
                continue
            where = ", ".join(item["paths"][:5]) or f"{len(item['files'])} file(s)"
            out_console.print(f"{item['kind']}: {item['id'][:16]}… {item['detail']}; breaks: {where}", markup=False)
            if item["hint"]:
                out_console.print(f"  hint: {item['hint']}", markup=False)

    out.result(items, as_json, render)
    if items:
        raise CheckFailed(f"fsck found {len(items)} problem(s)", hint="follow the hint or fix printed with each problem")


@click.command()
@click.option("--dry-run", is_flag=True, help="Report what would be removed, remove nothing.")
@json_option
def gc(dry_run: bool, as_json: bool) -> None:
    """Remove stored content that no ref, reflog, stash, index or worktree still reaches."""
    report = api.gc(api.open_repo(), dry_run=dry_run).as_dict()

    def render(r: dict[str, Any]) -> None:
        verb = "would free" if dry_run else "freed"
        out_console.print(
            f"{verb} {human_size(r['freed_bytes'])}: {r['dead_chunks']} chunk(s), {r['dead_files']} file record(s); "
            f"kept {r['live_files']} file(s); packs rewritten {r['packs_rewritten']}"
        )
        for cid in r["dropped_corrupt"]:
            out_console.print(f"corrupt chunk {cid[:16]}… was not copied; `branchml fsck` names the files it breaks")
        for path in r["damaged_packs"]:
            out_console.print(f"a pack held damaged bytes: kept at {path} (its intact records were copied); delete it when no longer needed")

    get_output().result(report, as_json, render)


@click.command()
@click.argument("pointer_file", type=click.File("rb"), default="-")
def cat(pointer_file: BinaryIO) -> None:
    """Print the content a pointer (file or stdin) refers to, verified."""
    api.cat(api.open_repo(), pointer_file, sys.stdout.buffer)


@click.command("diff-summary", hidden=True)
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def diff_summary(path: str) -> None:
    """textconv for `diff=branchml`: a readable summary instead of pointer text or binary noise."""
    api.textconv(path, sys.stdout.buffer)
    sys.stdout.flush()
