"""The click group: lazy commands, global options, and one place that turns errors into exit codes."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from branchml.cli.output import Output, print_crash, print_error
from branchml.crash import report_crash
from branchml.errors import BranchmlError, ExitCode, NoSpace, is_disk_full
from branchml.version import __version__


class LazyGroup(click.Group):
    """A group whose commands are imported only when run (keeps `branchml --help` and hooks fast)."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            module, attr = self.lazy[name].split(":")
            command: click.Command = getattr(importlib.import_module(module), attr)
            return command
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context) -> Any:
        """The error policy for every command: a BranchmlError is one line with its hint and its
        exit code; anything unexpected is one line naming a crash log, and ExitCode.CRASH."""
        try:
            return super().invoke(ctx)
        except BranchmlError as exc:
            print_error(exc)
            ctx.exit(exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # click's own: usage errors (exit 2), --help, Ctrl-C
        except OSError as exc:
            if not is_disk_full(exc):
                print_crash(report_crash(exc, "branchml " + " ".join(sys.argv[1:])))
                ctx.exit(ExitCode.CRASH)
            full = NoSpace(exc.filename or "a file this command writes")
            print_error(full)
            ctx.exit(full.exit_code)
        except Exception as exc:
            if is_disk_full(exc):  # SQLite's "database or disk is full"
                print_error(NoSpace("the store index"))
                ctx.exit(ExitCode.DISK_FULL)
            print_crash(report_crash(exc, "branchml " + " ".join(sys.argv[1:])))
            ctx.exit(ExitCode.CRASH)


def build_cli(commands: dict[str, str]) -> click.Group:
    @click.group(cls=LazyGroup, lazy=commands, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(__version__, prog_name="branchml")
    @click.option("-q", "--quiet", is_flag=True, help="Print only errors.")
    @click.option("-C", "directory", type=click.Path(file_okay=False), help="Run as if started in this folder.")
    @click.pass_context
    def cli(ctx: click.Context, quiet: bool, directory: str | None) -> None:
        """branchml: a whole ML project in one Git repository."""
        if directory:
            os.chdir(directory)
        ctx.obj = Output(quiet=quiet)

    return cli
