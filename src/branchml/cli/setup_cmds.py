"""init / install / track / untrack / hook."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from branchml import api
from branchml.cli.output import get_output


@click.command()
@click.argument("path", default=".", type=click.Path(file_okay=False, path_type=Path))
def init(path: Path) -> None:
    """Make PATH (default: here) a branchml repository. Safe to run again."""
    repo = api.init(path)
    get_output().info(f"branchml initialised in {repo.root}")


@click.command()
@click.option("--global", "global_", is_flag=True, help="Register the filter for your user (later clones get files).")
@click.option("--server", is_flag=True, help="In a bare repository: install the pre-receive checks.")
def install(global_: bool, server: bool) -> None:
    """Register filter, merge drivers and hooks in this clone (what `git lfs install` is to Git LFS)."""
    if global_:
        api.install_global()
        get_output().info("branchml filter registered in your global git config")
        return
    repo = api.open_repo()
    result = api.install(repo, server=server)
    if not server and repo.root is not None and not api.skip_smudge():
        written = api.materialize_all(repo)
        if written:
            get_output().info(f"materialised {len(written)} file(s) that were checked out as pointers")
    get_output().info(f"branchml installed ({', '.join(result.hooks) or 'hooks already in place'})")


@click.command()
@click.argument("patterns", nargs=-1, required=True)
@click.option("--merge", "merge", type=click.Choice(["jsonlist", "rows", "sqlite", "replace"]),
              help="Merge these files with a branchml driver (rows append, replace takes the incoming side...).")
def track(patterns: tuple[str, ...], merge: str | None) -> None:
    """Send files matching PATTERNS (gitattributes globs) through the branchml store."""
    repo = api.open_repo()
    rooted = api.rooted_patterns(repo, list(patterns), Path.cwd())
    changed = api.track(repo, rooted, merge=merge)
    get_output().info(f"tracking {', '.join(rooted)}" + ("" if changed else " (already tracked)"))


@click.command()
@click.argument("patterns", nargs=-1, required=True)
def untrack(patterns: tuple[str, ...]) -> None:
    """Stop sending PATTERNS through the store (files already committed keep their pointers)."""
    changed = api.untrack(api.open_repo(), list(patterns), Path.cwd())
    get_output().info(f"untracked {', '.join(changed) or 'nothing'}")


@click.command()
@click.argument("paths", nargs=-1)
def add(paths: tuple[str, ...]) -> None:
    """Stage PATHS (default: everything) like `git add -A`, reading tracked files directly (faster)."""
    repo = api.Repo.find(Path.cwd())  # not open_repo: an add never fetches, and the remotes cost 50 ms to load
    result = api.add_files(repo, list(paths), Path.cwd())
    changed = f", {len(result.changed_while_read)} changed while read" if result.changed_while_read else ""
    get_output().info(f"staged {len(result.cleaned)} file(s) through the store, "
                      f"{len(result.by_git)} path(s) with git add{changed}")


@click.command(hidden=True, context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def hook(name: str, args: tuple[str, ...]) -> None:
    """Entry point of the hooks branchml installs (not for direct use)."""
    sys.exit(api.run_hook(api.open_repo(), name, list(args)))
