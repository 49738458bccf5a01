"""What the CLI prints: rich on stderr for people, plain JSON on stdout for scripts.

Colour follows rich's rules (NO_COLOR honoured, none when not a terminal).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from branchml.errors import BranchmlError

err_console = Console(stderr=True, highlight=False)
out_console = Console(highlight=False)

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")


class Output:
    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet

    def info(self, message: str) -> None:
        if not self.quiet:
            err_console.print(message)

    def result(self, data: Any, as_json: bool, render: Callable[[Any], None]) -> None:
        """Print `data` as JSON (stdout) or through `render` for people."""
        if as_json:
            sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
        elif not self.quiet:
            render(data)

    @contextmanager
    def progress(self, description: str, total: int | None) -> Iterator[Callable[[int], None]]:
        """A progress bar on stderr; yields `advance(n)`. Silent when quiet or not a terminal."""
        if self.quiet or not err_console.is_terminal:
            yield lambda n: None
            return
        from rich.progress import (  # rich's renderers load only when output needs them
            BarColumn,
            DownloadColumn,
            Progress,
            TransferSpeedColumn,
        )

        with Progress(
            "[progress.description]{task.description}", BarColumn(), DownloadColumn(),
            TransferSpeedColumn(), console=err_console, transient=True,
        ) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n: bar.advance(task, n)


def print_error(exc: BranchmlError) -> None:
    err_console.print(f"[bold red]error:[/] {escape(exc.message)}", markup=True, highlight=False, soft_wrap=True)
    if exc.hint:
        err_console.print(f"  [yellow]hint:[/] {escape(exc.hint)}", soft_wrap=True)


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def print_crash(line: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(line)}", markup=True, highlight=False, soft_wrap=True)


def get_output() -> Output:
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root().obj if ctx is not None else None
    return root if isinstance(root, Output) else Output()
