"""The Git remote itself as the blob remote: packs and indexes as Git objects under `refs/branchml/`.

When no blob remote is configured, the repository is the blob store (docs/remotes.md, "The Git
remote as blob store"). Every remote object (`packs/<hash>.pack`, `indexes/<hash>.idx`, the
format marker, the gc lock) is one ref, `refs/branchml/<kind>/<hash>`, pointing at a commit whose
tree holds that one blob under the object's file name; the commit's time is the object's age
(remote gc's grace period). One ref per object means any Git server serves exactly the objects
asked for by name: no `allowAnySHA1InWant`, no partial-clone filter, and a plain `git clone`
(which fetches `refs/heads/*` and tags only) never downloads them.

Same interface as `storage.RemoteStorage`, so push, fetch, prefetch, verify, gc and migrate work
unchanged. Two modes:
- through a Git remote (a clone): `ls-remote` lists, `fetch` of named refs reads, `push` writes.
  Objects travel through a private object directory under the store's tmp/ (never the clone's own
  `.git/objects`), emptied after each read, so the store keeps the only local copy;
- on the repository itself (the bare server's pre-receive hook, `remote gc` run there): refs and
  objects are read in place.

Uploads are queued and published together by one `git push --atomic` (packs and their indexes
appear at once, or not at all) every PUBLISH_BYTES and at the end of a push; a server without
`--atomic` gets the packs first, then the indexes, so an index never names a missing pack.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import blake3

from branchml.errors import BranchmlError, CorruptObject
from branchml.git import plumbing
from branchml.git.plumbing import TreeEntry
from branchml.remote.settings import RemoteSpec
from branchml.remote.storage import FORMAT_LINE, FORMAT_NAME, RemoteError

NAMESPACE = "refs/branchml/"
CONTENT = re.compile(r"^(packs|indexes)/([0-9a-f]{64})\.(pack|idx)$")
OTHER = {FORMAT_NAME: "format", "locks/gc.lock": "locks/gc"}
FETCH_BATCH = 256  # refs per `git fetch` (its command line stays short)
PUBLISH_BYTES = 256 << 20  # queued bytes that trigger a push during a long upload
PUBLISH_BYTES_ENV = "BRANCHML_TEST_PUBLISH_BYTES"  # tests only: publish more often (a push killed between two)
IDENTITY = {"GIT_AUTHOR_NAME": "branchml", "GIT_AUTHOR_EMAIL": "branchml@invalid",
            "GIT_COMMITTER_NAME": "branchml", "GIT_COMMITTER_EMAIL": "branchml@invalid"}


def ref_of(relative: str) -> str:
    """`packs/<h>.pack` -> `refs/branchml/packs/<h>`; refuses anything else (names come from hashes)."""
    match = CONTENT.match(relative)
    if match:
        return f"{NAMESPACE}{match.group(1)}/{match.group(2)}"
    if relative in OTHER:
        return NAMESPACE + OTHER[relative]
    raise RemoteError(f"not a blob remote object name: {relative!r}")


class GitRefStorage:
    """A blob remote kept in a Git repository's `refs/branchml/` (see the module docstring)."""

    atomic_put = True

    def __init__(self, spec: RemoteSpec, repo_dir: Path, store_dir: Path) -> None:
        self.spec = spec
        self.remote: str | None = spec.options.get("git_remote") or None  # None: this repository
        self.cwd = repo_dir
        self.on_upload: Callable[[str], None] = lambda path: None
        self._lock = threading.RLock()
        self._queue: list[tuple[str, str, str]] = []  # (relative, ref, commit) to publish
        self._queued_bytes = 0
        self._listing: dict[str, str] | None = None
        self._pack_cache: tuple[str, bytes] | None = None
        self._format_checked = False
        self._times: dict[str, int] = {}  # commit -> committer time, of every object read
        self._scratch = store_dir / "tmp" / f"gitref-{secrets.token_hex(8)}-{os.getpid()}"
        self._objects = objects_dir(repo_dir)

    # -- plumbing --------------------------------------------------------------------------
    def _env(self, side: str) -> dict[str, str] | None:
        """Objects written by this storage go to a private directory (`out` for uploads, `in` for
        reads), the repository's own objects visible as an alternate; None on the repository itself."""
        if self.remote is None:
            return dict(IDENTITY)
        objects = self._scratch / side / "objects"
        (objects / "pack").mkdir(parents=True, exist_ok=True)
        alternates = os.pathsep.join(filter(None, [str(self._objects), os.environ.get("GIT_ALTERNATE_OBJECT_DIRECTORIES")]))
        return {**IDENTITY, "GIT_OBJECT_DIRECTORY": str(objects), "GIT_ALTERNATE_OBJECT_DIRECTORIES": alternates}

    def close(self) -> None:
        shutil.rmtree(self._scratch, ignore_errors=True)

    @contextmanager
    def errors(self, action: str) -> Iterator[None]:
        """Whatever Git says becomes one error naming the Git remote."""
        try:
            yield
        except CorruptObject:
            raise
        except BranchmlError as exc:
            raise RemoteError(
                f"Git remote {self.spec.name!r} ({self.spec.url}) as blob store: cannot {action}: {exc.message}",
                hint=exc.hint or "check that `git ls-remote " + (self.remote or ".") + "` works, then retry",
            ) from exc

    def path(self, *parts: str) -> str:
        return "/".join(parts)

    # -- listing ---------------------------------------------------------------------------
    def listing(self, fresh: bool = False) -> dict[str, str]:
        """ref -> object id of every ref under refs/branchml/ (one round trip; cached until `fresh`)."""
        with self._lock:
            if self._listing is None or fresh:
                with self.errors("list refs/branchml/"):
                    if self.remote is None:
                        self._listing = plumbing.ref_ids(self.cwd, NAMESPACE)
                    else:
                        found = plumbing.ls_remote(self.cwd, self.remote, NAMESPACE + "*")
                        self._listing = {ref: oid for oid, ref in found}
            return dict(self._listing)

    def list_indexes(self) -> list[str]:
        """Hashes of the index refs; refs with any other name are ignored (a hostile remote's too)."""
        out = []
        for ref in self.listing(fresh=True):
            kind, _, name = ref.removeprefix(NAMESPACE).partition("/")
            if kind == "indexes" and CONTENT.match(f"indexes/{name}.idx"):
                out.append(name)
        return out

    def has_pack(self, name: str) -> bool:
        ref = ref_of(f"packs/{name}.pack")
        with self._lock:
            return ref in self.listing() or any(r == ref for _, r, _ in self._queue)

    def check_format(self, create: bool) -> bool:
        ref = ref_of(FORMAT_NAME)
        if ref not in self.listing(fresh=not self._format_checked):
            if create:
                self.put_bytes(FORMAT_NAME, FORMAT_LINE)
            return create
        if not self._format_checked and self._read(FORMAT_NAME, "in") != FORMAT_LINE:
            raise RemoteError(f"Git remote {self.spec.name!r}: {ref} is not a branchml v1 marker")
        self._format_checked = True
        return True

    # -- reads -----------------------------------------------------------------------------
    def _read(self, relative: str, side: str) -> bytes:
        """One object's bytes, fetched by its ref (the commit, its one-entry tree, the blob)."""
        return self._read_many([relative], side)[relative]

    def _read_many(self, relatives: list[str], side: str) -> dict[str, bytes]:
        listing = self.listing()
        refs = {rel: ref_of(rel) for rel in relatives}
        absent = [rel for rel, ref in refs.items() if ref not in listing]
        if absent:
            raise RemoteError(f"Git remote {self.spec.name!r} has no {refs[absent[0]]}",
                              hint="it was removed (remote gc?) or never pushed: run `branchml push` where the data is")
        out: dict[str, bytes] = {}
        names = list(refs)
        for start in range(0, len(names), FETCH_BATCH):
            out.update(self._fetch_batch({rel: refs[rel] for rel in names[start : start + FETCH_BATCH]}, listing, side))
        return out

    def _fetch_batch(self, refs: dict[str, str], listing: dict[str, str], side: str) -> dict[str, bytes]:
        with self._lock:
            env = self._env(side)
            try:
                with self.errors(f"fetch {len(refs)} object(s) from {NAMESPACE}"):
                    if self.remote is not None:
                        plumbing.fetch_refs(self.cwd, self.remote, list(refs.values()), env=env)
                    found = {rel: self._blob(listing[ref], ref, rel, env) for rel, ref in refs.items()}
                    self._times.update(plumbing.commit_times(self.cwd, [listing[ref] for ref in refs.values()], env=env))
                    return found
            finally:
                if self.remote is not None:
                    shutil.rmtree(self._scratch / side, ignore_errors=True)  # the store keeps the only copy

    def _blob(self, commit: str, ref: str, relative: str, env: dict[str, str] | None) -> bytes:
        try:
            return plumbing.blob_bytes(self.cwd, f"{commit}:{relative.rsplit('/', 1)[-1]}", env=env)
        except BranchmlError as exc:
            raise CorruptObject(f"Git remote {self.spec.name!r}: {ref} does not hold {relative} "
                                "(not written by branchml, or damaged)",
                                hint="delete that ref on the server; `branchml push` from a clone that has the data restores it") from exc

    def read_index(self, name: str) -> bytes:
        return self.read_indexes([name])[name]

    def read_indexes(self, names: list[str]) -> dict[str, bytes]:
        found = self._read_many([f"indexes/{n}.idx" for n in names], "in") if names else {}
        return {rel.removeprefix("indexes/").removesuffix(".idx"): data for rel, data in found.items()}

    def read_ranges(self, pack: str, ranges: list[tuple[int, int]]) -> list[bytes]:
        """Ranges of one pack: the whole pack is fetched once (Git has no ranged reads), checked
        against its name, and kept in memory for the next batches of the same pack."""
        with self._lock:
            if self._pack_cache is None or self._pack_cache[0] != pack:
                data = self._read(f"packs/{pack}.pack", "in")
                if blake3.blake3(data).hexdigest() != pack:
                    raise CorruptObject(f"Git remote {self.spec.name!r}: pack {pack[:16]}… does not match its name "
                                        "(damaged or tampered with); nothing was stored",
                                        hint="push again from a clone that has the data (`branchml push`)")
                self._pack_cache = (pack, data)
            data = self._pack_cache[1]
        return [data[start:end] for start, end in ranges]

    def read_optional(self, relative: str) -> bytes | None:
        return self._read(relative, "in") if ref_of(relative) in self.listing(fresh=True) else None

    def modified(self, relative: str) -> float:
        """When the object was pushed (its commit's time)."""
        commit = self.listing()[ref_of(relative)]
        if commit not in self._times:
            self._read(relative, "in")  # records its time (remote gc has read every index already)
        return float(self._times[commit])

    def stale_parts(self, grace_seconds: float) -> list[str]:
        return []  # a push either published its refs or left nothing on the server

    # -- uploads ---------------------------------------------------------------------------
    def staging_dir(self) -> Path | None:
        return None

    # Writes and publishes hold the lock: a publish empties the upload directory, so no object may
    # be half written there (the upload threads wait for a push in progress; building packs does not).
    def upload_pack(self, local: Path, name: str) -> None:
        relative = f"packs/{name}.pack"
        with self._lock, self.errors(f"store {relative}"):
            blob = plumbing.hash_object_file(self.cwd, local, env=self._env("out"))
            self._enqueue(relative, blob, local.stat().st_size)

    def put_bytes(self, relative: str, data: bytes) -> None:
        with self._lock, self.errors(f"store {relative}"):
            blob = plumbing.hash_object(self.cwd, data, env=self._env("out"))
            self._enqueue(relative, blob, len(data))
        if not CONTENT.match(relative):
            self.publish()  # the gc lock and the format marker are not held back

    def _enqueue(self, relative: str, blob: str, size: int) -> None:
        env = self._env("out")
        tree = plumbing.mktree(self.cwd, [TreeEntry("100644", "blob", blob, relative.rsplit("/", 1)[-1])], env=env)
        commit = plumbing.commit_tree(self.cwd, tree, [], f"branchml {relative}\n", env=env)
        self._queue.append((relative, ref_of(relative), commit))
        self._queued_bytes += size
        if self._queued_bytes >= int(os.environ.get(PUBLISH_BYTES_ENV) or PUBLISH_BYTES):
            self.publish()

    def publish(self) -> None:
        """Push every queued object in one atomic push (see the module docstring)."""
        with self._lock:
            queue, self._queue, self._queued_bytes = self._queue, [], 0
            if not queue:
                return
            if self.remote is None:
                for _, ref, commit in queue:
                    plumbing.set_ref(self.cwd, ref, commit)
            else:
                self._push(queue)
            self._listing = None
        for relative, _, _ in queue:
            self.on_upload(relative)

    def _push(self, queue: list[tuple[str, str, str]]) -> None:
        specs = [f"+{commit}:{ref}" for _, ref, commit in queue]  # same name = same bytes: replacing is harmless
        with self.errors(f"push {len(specs)} object(s) to {NAMESPACE}"):
            result = plumbing.push_refspecs(self.cwd, self.remote or ".", specs, atomic=True, env=self._env("out"))
            if not result.ok and result.atomic_unsupported:
                sys.stderr.write(f"branchml: Git remote {self.spec.name!r} does not support atomic pushes: "
                                 "pushing packs first, then their indexes\n")
                packs = [s for s, (rel, _, _) in zip(specs, queue, strict=True) if not rel.startswith("indexes/")]
                rest = [s for s in specs if s not in packs]
                for part in (packs, rest):
                    result = plumbing.push_refspecs(self.cwd, self.remote or ".", part, atomic=False, env=self._env("out"))
                    if not result.ok:
                        break
            if not result.ok:
                raise BranchmlError(f"git push failed: {result.error}")
        shutil.rmtree(self._scratch / "out", ignore_errors=True)

    def delete(self, relative: str) -> None:
        ref = ref_of(relative)
        with self.errors(f"delete {ref}"):
            if self.remote is None:
                plumbing.delete_ref(self.cwd, ref)
            else:
                result = plumbing.push_refspecs(self.cwd, self.remote, [f":{ref}"], atomic=False, env=self._env("out"))
                if not result.ok:
                    raise BranchmlError(f"git push failed: {result.error}")
        with self._lock:
            self._listing = None


def objects_dir(repo_dir: Path) -> Path:
    """The repository's own object directory (shared by its worktrees)."""
    return plumbing.repo_paths(repo_dir).common_dir / "objects"
