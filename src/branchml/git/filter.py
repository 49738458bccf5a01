"""`branchml filter-process`: Git's long-running clean/smudge filter over the chunk store.

One process serves one Git command. clean: stream the file through the chunker into the store and
answer its pointer. smudge: answer the file rebuilt from verified chunks. Content that is not a
pointer passes through smudge unchanged (small files kept inline, files committed before tracking).
Any failure answers `status=error`, which makes Git discard what it received: never partial bytes.
"""

from __future__ import annotations

import fcntl
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from branchml import config
from branchml.errors import BranchmlError, ExitCode, MalformedPointer
from branchml.git import written
from branchml.git.filterproto import FilterProtocol, Reply, Request
from branchml.git.hooks import MARKER, hooks_dir
from branchml.git.protocol import (
    ContentReader,
    PacketReader,
    PacketWriter,
    ProtocolError,
)
from branchml.git.rss import log_peak_rss
from branchml.git.statcache import FileStat, Replay, SameAsFile, now_ns
from branchml.settings import CheckoutSettings, StoreSettings
from branchml.store.handoff import FILTER_WRITES_ENV, WRITERS, FilterWriter, temp_dir
from branchml.store.pointer import (
    MAX_POINTER_SIZE,
    Pointer,
    is_diff_summary,
    looks_like_pointer,
    parse_pointer,
)
from branchml.store.store import FileRecord, Readable, Store, StoreWriter

SPOOL_LIMIT = 16 << 20  # pass-through content above this spools to disk (memory stays bounded)
IN_MEMORY = 1 << 20  # files up to this size are read whole and stored without the worker thread
BLOCK = 1 << 20  # Git's bytes compared with a file's per read


def store_settings(root: Path) -> StoreSettings:
    """The [store] table of branchml.toml (defaults if it cannot be read: the filter must not fail, but says so)."""
    try:
        cfg = config.load(root)
    except BranchmlError as exc:
        sys.stderr.write(f"branchml: {exc.message}; the filter uses the default [store] settings until it is fixed\n")
        cfg = config.DEFAULTS
    return StoreSettings.from_config(cfg)


def answered_as_is(whole: bytes, path: str, inline_below: int) -> bool:
    """Whether clean answers a whole small content unchanged instead of storing it (also the rule
    `branchml add` follows, git/add.py)."""
    if looks_like_pointer(whole):
        try:
            parse_pointer(whole, path)
            return True  # already a pointer (e.g. checked out before install)
        except MalformedPointer:
            return False  # a small file that merely looks like one: store it, never inline it
    # Empty files stay empty. `git blame` cleans what textconv made of the work-tree file: our own
    # summary, not a file to store; handing it back unchanged lets blame compare it with the
    # committed side's summary.
    return not whole or len(whole) < inline_below or is_diff_summary(whole)


def store_stream(store: Store, writer: StoreWriter, path: str, content: Readable) -> Pointer:
    """Store a file's bytes following what `path` held last time (its chunks are checked in place,
    docs/add.md), and remember this version for next time."""
    pointer = writer.add_stream(content, store.index.path_hint(path))
    writer.remember_path(path, pointer)
    return pointer


# Given by the entry point (remote/ is a layer above): fetch, in one batch, what a checkout's target
# tree lacks; raises a BranchmlError naming every file that cannot be had. Arguments: the repository,
# the tree-ish Git checks out, what to call it in messages, and the command to retry with.
PrefetchTree = Callable[[Any, str, str, str], None]


class FilterServer:
    """The clean and smudge handlers over the store, answering through :class:`FilterProtocol`."""

    def __init__(
        self, reader: PacketReader, writer: PacketWriter, root: Path,
        open_repo: Callable[[], Any], report_crash: Callable[[BaseException, str], str],
        prefetch_tree: PrefetchTree | None = None,
    ) -> None:
        self.protocol = FilterProtocol(reader, writer)
        self.root = root
        # Given by the entry point (layers above git/): the repository, whose store has the
        # on-demand fetcher attached, the batch prefetch of a checkout's tree, and the crash log
        # writer that turns a bug into one line.
        self.open_repo = open_repo
        self.prefetch_tree = prefetch_tree
        self.report_crash = report_crash
        settings = store_settings(root)
        self.inline_below = settings.inline_below
        self.checkout_in_git_max = settings.checkout_in_git_max
        self.skip_smudge = config.skip_smudge()
        self._repo: Any = None
        self._prefetched: dict[str, BranchmlError | None] = {}  # treeish -> why its content cannot be had
        self._store_writer: StoreWriter | None = None
        self.just_written = written.from_environment()  # set only for branchml's own refresh
        self._link_min_size: float | None = None
        self._filter_writer: FilterWriter | None | bool = False  # False: not looked at yet
        self.quiet_since = now_ns()  # before the handshake: Git sends no file before it

    @property
    def repo(self) -> Any:  # a branchml.repo.Repo (a layer above this one)
        if self._repo is None:
            self._repo = self.open_repo()
        return self._repo

    @property
    def store(self) -> Store:
        store: Store = self.repo.store
        return store

    @property
    def store_writer(self) -> StoreWriter:
        if self._store_writer is None:
            self._store_writer = self.store.writer()
        return self._store_writer

    @property
    def link_min_size(self) -> float:
        """With `[checkout] link = "reflink"`, files this large are left to the checkout hook, which
        clones them from the store's whole-file copies; read once, on the first smudge."""
        if self._link_min_size is None:
            try:
                checkout = CheckoutSettings.from_config(config.load(self.root, self.store.root))
            except BranchmlError:  # the checkout hook reports it; Git writes every file meanwhile
                checkout = CheckoutSettings.from_config(config.DEFAULTS)
            self._link_min_size = checkout.link_min_size if checkout.link == "reflink" else float("inf")
        return self._link_min_size

    @property
    def filter_writer(self) -> FilterWriter | None:
        """Writes large files while Git goes on, for the checkout hook to rename (store/handoff.py);
        None where that hook is not ours (nobody would take the files) or cannot rename them."""
        if self._filter_writer is False:
            self._filter_writer = None
            tmp = temp_dir(self.store.root, self.root)
            if os.environ.get(FILTER_WRITES_ENV) != "0" and tmp is not None and self._checkout_hook_is_ours():
                self._filter_writer = FilterWriter(self.store, tmp, WRITERS)
        assert not isinstance(self._filter_writer, bool)
        return self._filter_writer

    def _checkout_hook_is_ours(self) -> bool:
        try:
            return MARKER in (hooks_dir(self.repo) / "post-checkout").read_text(errors="replace")
        except (OSError, BranchmlError):
            return False

    def close(self) -> None:
        if isinstance(self._filter_writer, FilterWriter):
            self._filter_writer.close()
        if self._store_writer is not None:
            self._store_writer.close()

    # -- main loop ---------------------------------------------------------------------------
    def serve(self) -> None:
        self.protocol.serve(self.answer, self.failed)

    def answer(self, request: Request, reply: Reply) -> None:
        # Git reads a file's bytes only after it has our previous answer: a moment before that answer
        # went out (or before the handshake) precedes every byte of this request (git/statcache.py)
        since, self.quiet_since = self.quiet_since, now_ns()
        if request.command == "clean":
            self.clean(request, reply, since)
        elif request.command == "smudge":
            self.smudge(request, reply)
        else:
            raise UnknownCommand(f"unknown filter command {request.command!r}")

    def failed(self, request: Request, exc: Exception) -> None:
        """One line on stderr for a path answered `status=error`: the error, or a bug's crash log."""
        if isinstance(exc, BranchmlError):
            message = str(exc)
        else:
            message = self.report_crash(exc, f"filter-process {request.path}")
        sys.stderr.write(f"branchml: {request.path}: {message}\n")
        sys.stderr.flush()

    # -- clean -------------------------------------------------------------------------------
    def clean(self, request: Request, reply: Reply, since: int) -> None:
        path, content = request.path, request.content
        entry = self.just_written.get(path)
        if entry is not None and written.unchanged(self.root, entry):
            return self.clean_just_written(entry, request, reply)
        head = content.fill(max(self.inline_below, IN_MEMORY))
        if content.done and answered_as_is(head, path, self.inline_below):
            return reply.success(head)
        if content.done:
            pointer = self.store_writer.add_bytes(head)
        else:
            pointer = self.clean_stream(path, content, since)
        reply.success(pointer.encode())

    def clean_stream(self, path: str, content: ContentReader, since: int) -> Pointer:
        """A file above IN_MEMORY: from the stat cache when it provably holds what was recorded, else
        chunked and stored, and recorded when Git may find it racily clean (git/statcache.py)."""
        here = os.path.join(self.root, path)
        before = FileStat.of(here)
        recorded = self.store.index.clean_stat(here) if before is not None else None
        oid = recorded[1] if recorded is not None and before is not None and recorded[0] == before.key() else None
        if before is None or not (oid is not None or before.may_turn_racy(now_ns())):
            return self.store_stream(path, content)  # the file is read only when it is compared
        try:
            file = open(here, "rb")
        except OSError:
            return self.store_stream(path, content)
        with file:
            if oid is not None:
                return self.answer_recorded(path, here, before, oid, SameAsFile(content, file))
            same = SameAsFile(content, file)
            pointer = self.store_stream(path, same)
            if same.at_end_of_file() and before.settled_before(since) and FileStat.of(here) == before:
                self.store_writer.remember_clean_stat(here, before.key(), pointer)
            return pointer

    def store_stream(self, path: str, content: Readable) -> Pointer:
        return store_stream(self.store, self.store_writer, path, content)

    def answer_recorded(self, path: str, here: str, before: FileStat, oid: bytes, same: SameAsFile) -> Pointer:
        """Git's bytes, compared with the file's and dropped: the recorded pointer when they all match
        and the file did not change meanwhile. Otherwise (other content cleaned under this name, a
        write during the comparison, a record gc dropped) a full clean of the same bytes: those that
        matched are read again from the file, the rest come from Git."""
        block = memoryview(bytearray(BLOCK))
        n = 0
        while same.same and (n := same.readinto(block)):
            pass
        differing = b"" if same.same else bytes(block[:n])
        if same.at_end_of_file() and FileStat.of(here) == before and self.store_writer.reuse_file(oid):
            return Pointer(oid.hex(), before.size)
        pointer = self.store_stream(path, Replay(same.file, same.matched, differing, same.content))
        if same.matched and FileStat.of(here) != before:
            raise BranchmlError(f"{path} changed while Git was reading it", hint=f"run `git add {path}` again")
        return pointer

    def clean_just_written(self, entry: written.Written, request: Request, reply: Reply) -> None:
        """The refresh after branchml wrote this very file: answer its pointer without hashing."""
        received = request.content.drain()
        if received != entry.size:  # not the file we wrote: let the refresh leave it unrefreshed
            raise BranchmlError(f"expected the {entry.size} bytes just written, got {received}")
        reply.success(Pointer(entry.oid, entry.size).encode())

    # -- smudge ------------------------------------------------------------------------------
    def smudge(self, request: Request, reply: Reply) -> None:
        path, content = request.path, request.content
        head = content.fill(MAX_POINTER_SIZE + 1)
        if not content.done or not looks_like_pointer(head):
            return self.pass_through(content, reply)  # longer than any pointer, or plain content
        content.drain()
        pointer = parse_pointer(head, path)
        if self.skip_smudge:
            return reply.success(head)  # pointers wanted (BRANCHML_SKIP_SMUDGE)
        treeish = request.headers.get("treeish")
        done = treeish in self._prefetched and self._prefetched[treeish] is None
        if treeish is not None and not done and not self._local(pointer):
            self._prefetch(treeish, request.headers.get("ref"))  # raises, naming every file the target lacks
        record = self.store.require(pointer, path)  # content that cannot be had fails here, whatever its size
        if pointer.size > self.checkout_in_git_max or pointer.size >= self.link_min_size:
            self.write_ahead(path, pointer, record)
            return reply.success(head)  # the post-checkout hook puts it in place (streaming, or a reflink)
        reply.begin()
        try:
            for data in self.store.iter_file(pointer, path):
                reply.write(data)
        except BranchmlError as exc:
            raise type(exc)(f"{exc} (the file was not written)", hint=exc.hint) from exc
        reply.end()

    def write_ahead(self, path: str, pointer: Pointer, record: FileRecord) -> None:
        """Start writing a file answered with its pointer once Git has written that pointer."""
        if pointer.size < self.link_min_size and self.filter_writer is not None:
            self.filter_writer.offer(self.root / path, pointer, record, path)

    def _local(self, pointer: Pointer) -> bool:
        """Whether the store has the file's record (one indexed lookup per file: checkouts of many
        small files stay fast; a record whose chunks are missing is fetched by `require`)."""
        if pointer.size == 0 or self.store.index.file(pointer.oid_bytes) is not None:
            return True
        # a live writer of this clone (`branchml migrate` around its own `git reset --hard`) may hold
        # records it has not indexed yet: index them before calling the content missing
        return bool(self.store.recover(include_locked=True)) and self.store.index.file(pointer.oid_bytes) is not None

    def _prefetch(self, treeish: str, ref: str | None) -> None:
        """At the first file of a checkout that the store lacks, fetch what the whole target tree
        lacks in one batch (Git passes the checked-out commit as `treeish`); if some content cannot
        be had, every later file of this checkout fails with the same message naming them all.
        Git has already written some files by then: docs/remotes.md says why `branchml switch`
        is the way to refuse before Git writes anything, and how it finishes such a half switch."""
        if self.prefetch_tree is None:
            return  # nothing to fetch from (a library user's filter): `require` names what is missing
        if treeish not in self._prefetched:
            target = _branch_name(ref) if ref else treeish[:12]
            try:
                self.prefetch_tree(self.repo, treeish, target,
                                   f"`branchml switch {target}` (it also finishes this half-done switch)")
                self._prefetched[treeish] = None
            except BranchmlError as exc:
                self._prefetched[treeish] = exc
        problem = self._prefetched[treeish]
        if problem is not None:
            raise problem

    def pass_through(self, content: ContentReader, reply: Reply) -> None:
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_LIMIT) as spool:
            buffer = bytearray(1 << 20)
            view = memoryview(buffer)
            while n := content.readinto(view):
                spool.write(view[:n])
            spool.seek(0)
            reply.begin()
            while block := spool.read(1 << 20):
                reply.write(block)
            reply.end()


class UnknownCommand(BranchmlError):
    """A filter command this server did not announce (Git sends only clean and smudge)."""


def _branch_name(ref: str) -> str:
    """What to pass to `git switch`: refs/heads/x and refs/remotes/origin/x (a DWIM switch) -> x."""
    if ref.startswith("refs/remotes/"):
        return ref.split("/", 3)[-1]
    return ref.removeprefix("refs/heads/")


PIPE_SIZE = 1 << 20


def _widen_pipes() -> None:
    """Ask Linux for 1 MiB pipe buffers to and from Git (default 64 KiB: one packet, then a context
    switch). Not an error where pipes cannot grow (other systems, or a lowered pipe-max-size)."""
    for fd in (0, 1):
        try:
            fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_SIZE)
        except OSError:
            pass


def run_filter_process(
    open_repo: Callable[[], Any], report_crash: Callable[[BaseException, str], str],
    prefetch_tree: PrefetchTree | None = None,
) -> int:
    _widen_pipes()
    # a BufferedReader over fd 0 (sys.stdin.buffer, typed BinaryIO, does not say it has readinto)
    stdin = open(sys.stdin.fileno(), "rb", closefd=False)
    reader, writer = PacketReader(stdin), PacketWriter(sys.stdout.buffer)
    server = FilterServer(reader, writer, Path(os.getcwd()), open_repo, report_crash, prefetch_tree)
    try:
        server.serve()
    except (ProtocolError, BrokenPipeError) as exc:
        sys.stderr.write(f"branchml filter-process: {exc}\n")
        return ExitCode.FILTER_PROTOCOL
    except Exception as exc:  # outside any one path (start-up, the handshake): one line, a crash log
        sys.stderr.write(f"branchml filter-process: {report_crash(exc, 'filter-process')}\n")
        return ExitCode.CRASH
    finally:
        code = _close(server)
        log_peak_rss()
    return code


def _close(server: FilterServer) -> int:
    """Finish the store writer (its last index commit can meet a full disk too): one line, not a traceback."""
    try:
        server.close()
    except BranchmlError as exc:
        sys.stderr.write(f"branchml filter-process: {exc}\n")
        return exc.exit_code
    return 0

