"""get: thin click layer over branchml.api."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from branchml import api
from branchml.cli.output import get_output, json_option


@click.command()
@click.argument("url")
@click.argument("path", default="")
@click.option("--rev", default="HEAD", show_default=True, help="Branch or tag of the other repository.")
@click.option("--to", "dest", type=click.Path(path_type=Path), help="Folder to write (default: the path's last part).")
@click.option("--force", is_flag=True, help="Replace a folder that is not empty.")
@json_option
def get(url: str, path: str, rev: str, dest: Path | None, force: bool, as_json: bool) -> None:
    """Files of PATH at REV in the repository at URL, written into a folder; no clone is kept."""
    target = dest or Path(Path(path).name or "get")
    result = api.get_files(url, path, target, rev, force=force)
    out = get_output()
    out.info(f"{len(result.files)} file(s) of {result.rev} ({result.commit[:12]}) written to {result.to}")
    out.result(asdict(result), as_json, lambda _: None)
