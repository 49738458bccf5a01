"""`branchml merge-driver`: the command Git runs for `merge=branchml-*` attributes (hidden)."""

from __future__ import annotations

import sys

import click

from branchml import api


@click.command("merge-driver", hidden=True)
@click.argument("name")
@click.argument("base")
@click.argument("ours")
@click.argument("theirs")
@click.argument("path")
@click.argument("marker_size", default="7")
def merge_driver(name: str, base: str, ours: str, theirs: str, path: str, marker_size: str) -> None:
    """Merge BASE, OURS and THEIRS (Git's %O %A %B) of PATH into OURS; exit 0 clean, 1 conflict, 129 error."""
    sys.exit(api.run_merge_driver(name, base, ours, theirs, path, marker_size))
