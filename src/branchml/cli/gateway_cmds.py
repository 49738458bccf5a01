"""gateway / gateway credentials: thin click layer over branchml.gateway.

Not over branchml.api, by exception (CLI_ALLOWED in tests/test_architecture.py): the `gateway` extra
alone must run the gateway, and the API also reaches the dashboard's server, which that extra lacks.
The same functions are in the API as `serve_gateway`, `gateway_credentials` and `credentials_path`.
"""

from __future__ import annotations

import click

from branchml.cli.output import get_output, json_option, out_console
from branchml.errors import BranchmlError
from branchml.gateway.credentials import credentials_path, load_or_create
from branchml.repo import Repo


@click.group(invoke_without_command=True)
@click.option("--port", default=9000, show_default=True, type=int)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--allow-remote", is_flag=True, help="Allow a non-loopback --host (plain HTTP).")
@click.pass_context
def gateway(ctx: click.Context, port: int, host: str, allow_remote: bool) -> None:
    """An S3-compatible endpoint: bucket = this repository, key = <ref>/<path>; writes are commits."""
    if ctx.invoked_subcommand is None:
        try:  # optional extra `gateway` (starlette, uvicorn): loaded by this command only
            from branchml.gateway.server import serve
        except ModuleNotFoundError as exc:
            raise BranchmlError(f"the gateway needs {exc.name}", hint="pip install 'branchml[gateway]'") from exc
        serve(Repo.find(), host, port, allow_remote=allow_remote)


@gateway.command()
@json_option
def credentials(as_json: bool) -> None:
    """Create or show this gateway's access key id and secret (a local file, never committed)."""
    repo = Repo.find()
    found = load_or_create(repo)
    data = {"access_key_id": found.access_key_id, "secret_access_key": found.secret_access_key}
    get_output().result(data, as_json, lambda d: out_console.print(
        f"access key id:     {d['access_key_id']}\nsecret access key: {d['secret_access_key']}\n"
        f"(stored in {credentials_path(repo)}; commits by {found.user_name} <{found.user_email}>)"))
