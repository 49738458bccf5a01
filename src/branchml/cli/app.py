"""The click group: lazy commands, global options, and one place that turns errors into exit codes."""

from __future__ import annotations

import importlib

import click

from branchml import __version__
from branchml.errors import BranchmlError, NoSpace, is_disk_full


class LazyGroup(click.Group):
    """A group whose commands are imported only when run (keeps `branchml --help` and hooks fast)."""

    def __init__(self, *args, lazy: dict[str, str], **kw) -> None:
        super().__init__(*args, **kw)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            module, attr = self.lazy[name].split(":")
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BranchmlError as exc:
            from branchml.cli.output import print_error

            print_error(exc)
            ctx.exit(exc.exit_code)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            from branchml.cli.output import print_error

            full = NoSpace(exc.filename or "a file this command writes")
            print_error(full)
            ctx.exit(full.exit_code)


def build_cli(commands: dict[str, str]) -> click.Group:
    @click.group(cls=LazyGroup, lazy=commands, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(__version__, prog_name="branchml")
    @click.option("-q", "--quiet", is_flag=True, help="Print only errors.")
    @click.option("-C", "directory", type=click.Path(file_okay=False), help="Run as if started in this folder.")
    @click.pass_context
    def cli(ctx: click.Context, quiet: bool, directory: str | None) -> None:
        """branchml: a whole ML project in one Git repository."""
        import os

        from branchml.cli.output import Output

        if directory:
            os.chdir(directory)
        ctx.obj = Output(quiet=quiet)

    return cli
