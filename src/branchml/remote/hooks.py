"""Git hooks of the remotes: pre-push uploads the blobs; pre-receive refuses dangling pointers.

pre-push (client): stdin has `<local ref> <local sha> <remote ref> <remote sha>` lines. We upload
what the new commits' pointers need (commits the Git remote already has, as far as the
remote-tracking refs say, are skipped), and refuse the push when the upload fails. Without any
blob remote configured we only warn: the push goes on, but others will lack those files.

pre-receive (server, bare repo, `branchml install --server`): stdin has `<old> <new> <ref>` lines.
The blob remote to check is the server's own (`branchml/local.toml` in the bare repo, trusted) or,
when it has none, the one named by branchml.toml in the pushed commit, with the same trust rules
as a clone. A push whose pointers reference a file or chunk missing from it is refused. With no
blob remote configured anywhere, the push is accepted with a warning (as pre-push does).
"""

from __future__ import annotations

import sys

from branchml import config
from branchml.errors import BranchmlError
from branchml.remote import settings

ZERO = "0" * 40


def pre_push(repo, args: list[str], stdin: bytes) -> None:
    from branchml.remote import api

    git_remote = args[0] if args else "origin"
    shas = [line.split()[1] for line in stdin.decode().splitlines() if len(line.split()) == 4]
    shas = [s for s in shas if s.strip("0")]
    if not shas:
        return
    pointers = api.history_pointers(repo, [*shas, "--not", f"--remotes={git_remote}"])
    if not pointers:
        return
    specs = settings.load_remotes(repo)
    if not specs:
        sys.stderr.write(
            f"branchml: warning: pushing {len(pointers)} pointer(s) but no blob remote is configured; "
            "others will not get these files (run `branchml remote add origin URL`, then `branchml push`)\n"
        )
        return
    try:
        same_name = git_remote if any(s.name == git_remote for s in specs) else None
        report = api.push_pointers(repo, same_name, pointers)
    except BranchmlError as exc:
        raise BranchmlError(
            f"push refused: the blobs did not reach the blob remote: {exc.message}",
            hint=(exc.hint or "") + "; then push again (nothing was published on the Git remote)",
        ) from exc
    if report.packs:
        sys.stderr.write(f"branchml: uploaded {report.new_chunks} chunk(s), {report.bytes} bytes to {report.remote}\n")


def pre_receive(repo, args: list[str], stdin: bytes) -> None:
    from branchml.pointers import rev_list_pointers
    from branchml.remote import api

    for line in stdin.decode().splitlines():
        old, new, ref = line.split()
        if new == ZERO:
            continue
        pointers = rev_list_pointers(repo, [new, "--not", "--all"])
        if not pointers:
            continue
        server_own = config.read_toml(settings.local_path(repo.store_dir)).get("remotes")
        committed = "" if server_own else _committed_at(repo, new)
        if not server_own and not settings.load_remotes(repo, committed):
            sys.stderr.write(f"branchml: warning: {ref}: {len(pointers)} pointer(s) but no blob remote is configured "
                             "(here or in the pushed branchml.toml); their files are not checked\n")
            continue
        try:
            with api.connect(repo, None, committed) as conn:
                missing = api.missing_on_remote(conn, pointers)
        except BranchmlError as exc:
            raise BranchmlError(f"{ref}: cannot check the blob remote: {exc.message}", hint=exc.hint) from exc
        if missing:
            first = missing[0]
            raise BranchmlError(
                f"{ref}: {len(missing)} file(s) are not on blob remote {conn.spec.name!r} ({conn.spec.url}) "
                f"(first: {first['path']} {first['oid'][:16]}…); refusing dangling pointers",
                hint="run `branchml push` in your clone, then `git push` again",
            )


def _committed_at(repo, sha: str) -> str:
    """branchml.toml of the pushed commit ('' when it has none: only the server's own remotes count)."""
    out = repo.git(["cat-file", "blob", f"{sha}:{config.FILE_NAME}"], check=False)
    return out.decode("utf-8", "replace")
