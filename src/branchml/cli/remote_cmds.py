"""remote add/list/remove/trust, push, fetch, verify-remote, clone."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from branchml import api
from branchml.cli.complete import complete_refs, complete_remotes
from branchml.cli.output import get_output, json_option, out_console
from branchml.errors import CheckFailed


def _parse_options(pairs: tuple[str, ...]) -> dict[str, Any]:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--option")
        options[key.strip()] = _typed(value)
    return options


def _typed(value: str) -> int | bool | str:
    """TOML keeps types: `pack_size=1048576` is a number, `anon=true` a boolean."""
    if value.isdigit():
        return int(value)
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


@click.group()
def remote() -> None:
    """Blob remotes: where the chunks of tracked files are shared (folder, S3, SSH...)."""


@remote.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--option", "-o", "pairs", multiple=True, help="KEY=VALUE storage option (e.g. endpoint_url=...).")
@click.option("--local", is_flag=True, help="Keep it in .git/branchml/local.toml (not committed).")
def add(name: str, url: str, pairs: tuple[str, ...], local: bool) -> None:
    """Add blob remote NAME at URL (stored in branchml.toml unless --local)."""
    spec = api.add_remote(api.open_repo(), name, url, _parse_options(pairs), local=local)
    where = "local.toml" if local else "branchml.toml (commit it so clones find it)"
    get_output().info(f"blob remote {name} -> {spec.url} added to {where}")


@remote.command("list")
@json_option
def list_(as_json: bool) -> None:
    """Show the blob remotes and whether their settings are usable."""
    get_output().result([r.as_dict() for r in api.list_remotes(api.open_repo())], as_json, _render_remotes)


def _render_remotes(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table  # rich's renderers load only when output needs them

    table = Table("name", "url", "options", "from", "status")
    for row in rows:
        opts = " ".join(f"{k}={v}" for k, v in row["options"].items())
        table.add_row(row["name"], str(row["url"]), opts, row["source"], row["status"])
    out_console.print(table)


@remote.command("remove")
@click.argument("name", shell_complete=complete_remotes)
def remove(name: str) -> None:
    """Forget blob remote NAME (its objects stay where they are)."""
    found = api.remove_remote(api.open_repo(), name)
    get_output().info(f"removed blob remote {name} from {', '.join(found)}")


@remote.command("trust")
@click.argument("name", shell_complete=complete_remotes)
@click.option("--yes", "-y", is_flag=True, help="Do not ask; consent to the values shown.")
def trust(name: str, yes: bool) -> None:
    """Consent to the committed settings of remote NAME (e.g. its endpoint_url), as they are now.

    Shows every value that could redirect traffic before asking; consent is bound to these exact
    values (a later change is ignored again until trusted)."""
    repo = api.open_repo()
    table = api.committed_remote(repo, name)
    risky = api.needs_consent(table)
    out = get_output()
    out.info(f"blob remote {name} as committed on the settings branch:")
    for key, value in table.items():
        mark = "  (redirects traffic: needs consent)" if key in risky else ""
        out.info(f"  {key} = {value!r}{mark}")
    if not yes and not click.confirm(f"Trust these values for remote {name}?", default=False, err=True):
        raise click.Abort()
    api.trust_remote(repo, name)
    out.info(f"trusted: {name} " + ", ".join(f"{k}={v!r}" for k, v in table.items()))


@remote.command("gc")
@click.argument("name", required=False, shell_complete=complete_remotes)
@click.option("--grace", "grace_hours", type=float, default=24.0, show_default=True,
              help="Never touch packs younger than this many hours (pushes in progress).")
@click.option("--dry-run", is_flag=True, help="Report what would go, change nothing.")
@click.option("--break-lock", is_flag=True, help="Take the gc lock even if a (dead) gc holds it.")
@json_option
def gc(name: str | None, grace_hours: float, dry_run: bool, break_lock: bool, as_json: bool) -> None:
    """Delete remote packs no branch, tag or reflog of this clone needs (run `git fetch` first)."""
    report = api.gc_remote(api.open_repo(), name, grace_hours=grace_hours, dry_run=dry_run, break_lock=break_lock)
    get_output().result(report.as_dict(), as_json, lambda r: get_output().info(
        f"{r['remote']}: {r['packs']} pack(s); {'would delete' if r['dry_run'] else 'deleted'} "
        f"{r['deleted_packs']}, rewrote {r['rewritten_packs']}, kept {r['kept_young']} young; "
        f"{r['freed_bytes']} bytes freed"))


@remote.command("migrate")
@click.argument("source", metavar="FROM", shell_complete=complete_remotes)
@click.argument("target", metavar="TO", shell_complete=complete_remotes)
@click.option("--refs", "refs", multiple=True, shell_complete=complete_refs,
              help="Only what this ref needs (repeatable; default: every branch, tag and remote-tracking branch).")
@click.option("--no-read-back", is_flag=True, help="Check TO's listing only, do not download what it holds to check it.")
@json_option
def migrate(source: str, target: str, refs: tuple[str, ...], no_read_back: bool, as_json: bool) -> None:
    """Copy every blob REFS need from remote FROM to remote TO, then verify TO (names or URLs).

    Run it again after an interruption: it copies only what TO lacks. It configures nothing: point
    the repository at TO yourself (the last line says how)."""
    out = get_output()
    with out.progress("migrate", None) as advance:
        report = api.migrate_remote(api.open_repo(), source, target, list(refs), read_back=not no_read_back, advance=advance)
    out.result(report.as_dict(), as_json, _render_migration)


def _render_migration(r: dict[str, Any]) -> None:
    out = get_output()
    out.info(f"{r['source']} -> {r['target']}: {r['files']} file(s) needed; copied {r['copied_chunks']} chunk(s) and "
             f"{r['copied_files']} file record(s) in {r['packs']} pack(s), {r['bytes']} bytes")
    checked = f"downloaded and checked {r['verified_records']} record(s)" if r["verified_records"] else "listing checked"
    out.info(f"{r['target']} holds everything ({checked}). To use it: on the settings branch, "
             f"`branchml remote remove origin && branchml remote add origin {r['target_url']}`, then commit and push")


@click.command()
@click.argument("remote_name", required=False, shell_complete=complete_remotes)
@click.argument("refs", nargs=-1, shell_complete=complete_refs)
@json_option
def push(remote_name: str | None, refs: tuple[str, ...], as_json: bool) -> None:
    """Upload the blobs that REFS (default: all branches and tags) need to REMOTE."""
    repo = api.open_repo()
    out = get_output()
    remote_name, ref_list = api.split_remote_and_refs(repo, remote_name, list(refs))
    with out.progress("push", None) as advance:
        report = api.push(repo, remote_name, ref_list, advance)
    out.result(report.as_dict(), as_json, lambda r: out.info(
        f"{r['remote']}: {r['files']} file(s) referenced, uploaded {r['new_chunks']} chunk(s) and "
        f"{r['new_files']} file record(s) in {r['packs']} pack(s), {r['bytes']} bytes"))


@click.command()
@click.argument("refs", nargs=-1, shell_complete=complete_refs)
@click.option("--include", multiple=True, help="Only paths matching this glob (repeatable), e.g. 'models/**'.")
@click.option("--remote", "remote_name", shell_complete=complete_remotes, help="Blob remote to fetch from (default: origin, else the first).")
@json_option
def fetch(refs: tuple[str, ...], include: tuple[str, ...], remote_name: str | None, as_json: bool) -> None:
    """Download the blobs of the files in REFS (default HEAD) into the local store.

    Without REFS, files of this checkout still held as pointers (BRANCHML_SKIP_SMUDGE=1) are written.
    """
    out = get_output()
    with out.progress("fetch", None) as advance:
        report, written = api.fetch_and_write(api.open_repo(), list(refs), list(include), remote_name, advance)
    out.result(report.as_dict(), as_json, lambda r: out.info(
        f"{r['remote']}: fetched {r['files']} file record(s), {r['chunks']} chunk(s), {r['bytes']} bytes"))
    if written:
        out.info(f"wrote {len(written)} file(s) that were checked out as pointers")


@click.command("verify-remote")
@click.argument("ref", default="HEAD", shell_complete=complete_refs)
@click.option("--remote", "remote_name", shell_complete=complete_remotes, help="Blob remote to check (default: origin, else the first).")
@json_option
def verify_remote(ref: str, remote_name: str | None, as_json: bool) -> None:
    """Tell whether every file REF's history needs is on the blob remote (exit 1 if not)."""
    result = api.verify_remote(api.open_repo(), ref, remote_name)
    get_output().result(result.as_dict(), as_json, lambda _: _render_verify(result))
    if result.missing:
        raise CheckFailed(f"{len(result.missing)} file(s) of {ref} are not on the blob remote", hint=f"run `branchml push {ref}` from a clone that has them")


def _render_verify(result: api.RemoteVerification) -> None:
    out = get_output()
    if not result.missing:
        out.info(f"{result.remote}: all {result.files} file(s) of {result.ref} are on the remote")
        return
    for item in result.missing:
        out.info(f"missing on {result.remote}: {item.path} ({item.oid[:16]}…)")
    out.info(f"{len(result.missing)} of {result.files} file(s) missing; run `branchml push`")


@click.command(context_settings={"ignore_unknown_options": False})
@click.argument("url")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.argument("git_args", nargs=-1, type=click.UNPROCESSED, metavar="[-- GIT_CLONE_OPTIONS...]")
@click.option("-b", "--branch", help="Check out this branch (or tag) instead of the remote's HEAD.")
@click.option("--depth", type=click.IntRange(min=1), help="Shallow clone with this many commits.")
@click.option("--filter", "filter_spec", help="Partial clone filter, e.g. blob:none (Git objects; branchml content is fetched on demand anyway).")
@click.option("--recurse-submodules", is_flag=True, help="Also clone submodules (installing branchml in those that use it).")
@click.option("--no-checkout", is_flag=True, help="Clone and install, but check nothing out.")
@click.option("--single-branch", is_flag=True, help="Fetch only the history of the branch to check out.")
@click.option("-o", "--origin", help="Name of the Git remote (default origin).")
def clone(url: str, directory: Path | None, git_args: tuple[str, ...], branch: str | None, depth: int | None,
          filter_spec: str | None, recurse_submodules: bool, no_checkout: bool, single_branch: bool,
          origin: str | None) -> None:
    """git clone URL [DIRECTORY], install branchml there, and check out with files materialised.

    Set BRANCHML_SKIP_SMUDGE=1 to check out pointers only; `branchml fetch --include GLOB` writes
    the files you want later. Other `git clone` options go after `--`.
    """
    options = _clone_options(branch=branch, depth=depth, filter_spec=filter_spec, single_branch=single_branch, origin=origin)
    target = api.clone(url, directory, [*options, *git_args], checkout=not no_checkout, submodules=recurse_submodules)
    get_output().info(f"cloned into {target}")


def _clone_options(*, branch: str | None, depth: int | None, filter_spec: str | None, single_branch: bool,
                   origin: str | None) -> list[str]:
    """The options that go to `git clone` unchanged."""
    options = []
    for flag, value in (("--branch", branch), ("--depth", depth), ("--filter", filter_spec), ("--origin", origin)):
        if value is not None:
            options.append(f"{flag}={value}")
    return options + (["--single-branch"] if single_branch else [])


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def switch(args: tuple[str, ...]) -> None:
    """`git switch ARGS`, after fetching everything the target needs (refuses, naming every file that
    cannot be had, before Git writes anything); also finishes a switch a plain `git switch` left half done."""
    sys.exit(api.switch(api.open_repo(), list(args)))
