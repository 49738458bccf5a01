"""`branchml ui`: thin click layer over branchml.api (the dashboard needs the extra `ui`)."""

from __future__ import annotations

import click

from branchml import api


@click.command()
@click.option("--port", default=8765, show_default=True, type=int)
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback unless --allow-remote.")
@click.option("--allow-remote", is_flag=True, help="Allow a non-loopback --host (the page has no authentication).")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a browser.")
def ui(port: int, host: str, allow_remote: bool, open_browser: bool) -> None:
    """A local, read-only dashboard of this repository: branches by role, runs, releases, tags with
    their lineage, files of any ref, monitoring."""
    api.serve_ui(api.open_repo(), host, port, allow_remote=allow_remote, open_browser=open_browser)
