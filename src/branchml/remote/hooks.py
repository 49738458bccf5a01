"""Git hooks of the remotes: pre-push uploads the blobs; pre-receive refuses dangling pointers.

pre-push (client): stdin has `<local ref> <local sha> <remote ref> <remote sha>` lines. We upload
what the new commits' pointers need (commits the Git remote already has, as far as the
remote-tracking refs say, are skipped), and refuse the push when the upload fails. Without any
blob remote configured the push is refused too: others could never get those files. A project
without a blob remote says so with `[push] without_blob_remote = "warn"`.

pre-receive (server, bare repo, `branchml install --server`): stdin has `<old> <new> <ref>` lines.
The blob remote to check is the server's own (`branchml/local.toml` in the bare repo, trusted) or
the one committed on the server's settings branch (main) as it was before the push (as this push
creates it, for the first push), with the same trust rules as a clone: never one a pusher names
in their own branch. A push whose pointers reference a file or chunk missing from it is refused,
and so is one with pointers while no blob remote is configured at all (unless the server's
settings say "warn").
"""

from __future__ import annotations

import sys

from branchml.errors import BranchmlError
from branchml.pointers import rev_list_pointers
from branchml.remote import api, gitrefs, settings, source
from branchml.remote.connection import connect
from branchml.repo import Repo

ZERO = "0" * 40


def pre_push(repo: Repo, args: list[str], stdin: bytes) -> None:
    git_remote = args[0] if args else "origin"
    shas = [line.split()[1] for line in stdin.decode().splitlines() if len(line.split()) == 4]
    shas = [s for s in shas if s.strip("0")]
    if not shas:
        return
    pointers = api.history_pointers(repo, [*shas, "--not", f"--remotes={git_remote}"])
    if not pointers:
        return
    remotes = settings.load(repo)
    spec = None
    if all(s.is_git for s in remotes.specs) and not remotes.problems:
        # no blob remote configured: the chunks go where the commits go, pushed before them
        spec = settings.git_spec(git_remote, args[1] if len(args) > 1 else git_remote)
    try:
        same_name = git_remote if any(s.name == git_remote for s in remotes.specs) else None
        report = api.push_pointers(repo, same_name, pointers, spec=spec)
    except BranchmlError as exc:
        raise BranchmlError(
            f"push refused: the blobs did not reach the blob remote: {exc.message}",
            hint=(exc.hint or "") + "; then push again (nothing was published on the Git remote)",
        ) from exc
    if report.packs:
        sys.stderr.write(f"branchml: uploaded {report.new_chunks} chunk(s), {report.bytes} bytes to {report.remote}\n")


def _no_blob_remote(repo: Repo, what: str, where: str, committed: str | None = None) -> None:
    """Refuse (the default) or warn when pointers would be published with no blob remote at all."""
    message = f"{what} but no blob remote is configured (none in local.toml, none in {where}); nobody else could get these files"
    if settings.push_policy(repo, committed) == "warn":
        sys.stderr.write(f"branchml: warning: {message}\n")
        return
    raise BranchmlError(
        f"push refused: {message}",
        hint="add one on main (`branchml remote add origin URL`, commit, push main first), or for a project "
        'without a blob remote set `[push] without_blob_remote = "warn"` in branchml.toml on main or in '
        ".git/branchml/local.toml",
    )


def pre_receive(repo: Repo, args: list[str], stdin: bytes) -> None:
    """Refuse pushed pointers whose content the blob remote lacks (see the module docstring)."""

    updates = [line.split() for line in stdin.decode().splitlines() if len(line.split()) == 3]
    for _old, new, ref in updates:
        if ref.startswith(gitrefs.NAMESPACE):
            _check_namespace_ref(ref)
            continue
        if new == ZERO:
            continue
        pointers = rev_list_pointers(repo, [new, "--not", "--all"])
        if not pointers:
            continue
        committed = _server_settings(repo, updates)
        remotes = settings.load(repo, committed)
        if not remotes.specs and not remotes.problems:
            _no_blob_remote(repo, f"{ref}: {len(pointers)} pointer(s)", "branchml.toml on main", committed)
            continue
        own = settings.this_repository(repo) if all(s.is_git for s in remotes.specs) and not remotes.problems else None
        try:
            with connect(repo, None, committed, spec=own) as conn:
                missing = api.missing_on_remote(conn, pointers)
        except BranchmlError as exc:
            raise BranchmlError(f"{ref}: cannot check the blob remote: {exc.message}", hint=exc.hint) from exc
        if missing and conn.spec.is_git and settings.push_policy(repo, committed) == "warn":
            sys.stderr.write(f"branchml: warning: {ref}: {len(missing)} file(s) have no content in this repository "
                             f"(refs/branchml/): {names_of(missing)}\n")
            continue
        if missing:
            raise BranchmlError(
                f"{ref}: {len(missing)} file(s) are not on blob remote {conn.spec.name!r} ({conn.spec.url}), "
                f"refusing dangling pointers: {names_of(missing)}",
                hint="run `branchml push` in your clone, then `git push` again",
            )


def _check_namespace_ref(ref: str) -> None:
    """Only the names branchml writes may enter refs/branchml/ (readers ignore others; the server refuses them)."""
    relative = ref.removeprefix(gitrefs.NAMESPACE)
    kind, _, name = relative.partition("/")
    if kind in ("packs", "indexes") and gitrefs.CONTENT.match(f"{kind}/{name}.{'pack' if kind == 'packs' else 'idx'}"):
        return
    if relative in gitrefs.OTHER.values():
        return
    raise BranchmlError(f"{ref}: refs/branchml/ holds only branchml's packs, indexes, format marker and gc lock",
                        hint="push that ref under another name")


def names_of(missing: list[api.MissingFile], limit: int = 50) -> str:
    """Every missing path (up to `limit`; the rest counted)."""
    paths = [item.path for item in missing]
    more = f" ... and {len(paths) - limit} more" if len(paths) > limit else ""
    return ", ".join(paths[:limit]) + more


def _server_settings(repo: Repo, updates: list[list[str]]) -> str:
    """The committed settings the server goes by: its settings branch as before the push, or, when
    that branch does not exist yet, as this push creates it ('' when neither has any)."""
    shared = source.shared_settings(repo)
    if shared.ref is not None:
        return shared.text
    wanted = {f"refs/heads/{source.settings_branch(repo)}"}
    new = next((n for _, n, r in updates if r in wanted and n != ZERO), None)
    return source.committed_at(repo, new) if new else ""
