"""Shell completion of branchml's arguments: branches, tags, customers, remotes.

click produces the shell scripts (`branchml completion bash|zsh|fish`); the functions here answer
one argument each from the repository the shell is in. A completer must never fail or print: outside
a repository, or with a broken config, it offers nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import click
from click.shell_completion import CompletionItem, get_completion_class

from branchml import api
from branchml.cli.app import build_cli
from branchml.cli.entry import COMMANDS
from branchml.errors import BranchmlError

Completer = Callable[[click.Context, click.Parameter, str], list[CompletionItem]]


def _ref_names(*patterns: str) -> list[str]:
    """Short names of the refs under `patterns`; nothing outside a repository (completion never fails)."""
    try:
        return api.ref_names(*patterns)
    except (BranchmlError, OSError, UnicodeDecodeError):
        return []


def branch_names() -> list[str]:
    return _ref_names("refs/heads/")


def tag_names() -> list[str]:
    return _ref_names("refs/tags/")


def customer_names() -> list[str]:
    """Prefixes of the numbered release tags `<customer>-<n>`."""
    names = set()
    for tag in tag_names():
        prefix, sep, number = tag.rpartition("-")
        if sep and prefix and number.isdigit():
            names.add(prefix)
    return sorted(names)


def remote_names() -> list[str]:
    """Blob remotes (committed and local settings) and Git remotes."""
    try:
        names = set(api.git_remote_names(None))
    except (BranchmlError, OSError, UnicodeDecodeError):
        names = set()

    try:
        names.update(spec.name for spec in api.load_remotes(api.open_repo()))
    except BranchmlError:
        return sorted(names)  # not a repository, or settings that do not parse: the Git remotes alone
    return sorted(names)


def _completer(source: Callable[[], list[str]]) -> Completer:
    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        return [CompletionItem(name) for name in source() if name.startswith(incomplete)]

    return complete


complete_branches = _completer(branch_names)
complete_tags = _completer(tag_names)
complete_customers = _completer(customer_names)
complete_remotes = _completer(remote_names)
complete_refs = _completer(lambda: [*branch_names(), *_ref_names("refs/remotes/"), *tag_names()])


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the completion script for SHELL; e.g. `eval "$(branchml completion bash)"` in ~/.bashrc."""

    cls = get_completion_class(shell)
    assert cls is not None  # the Choice above lists only shells click supports
    script = cls(build_cli(COMMANDS), {}, "branchml", "_BRANCHML_COMPLETE").source()
    click.echo(script)
