"""`branchml filter-process`: Git's long-running clean/smudge filter over the chunk store.

One process serves one Git command. clean: stream the file through the chunker into the store and
answer its pointer. smudge: answer the file rebuilt from verified chunks. Content that is not a
pointer passes through smudge unchanged (small files kept inline, files committed before tracking).
Any failure answers `status=error`, which makes Git discard what it received: never partial bytes.
"""

from __future__ import annotations

import fcntl
import os
import resource
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from branchml import config
from branchml.errors import BranchmlError, ExitCode, MalformedPointer
from branchml.git import written
from branchml.git.protocol import (
    FLUSH,
    ContentReader,
    PacketReader,
    PacketWriter,
    ProtocolError,
)
from branchml.remote import prefetch
from branchml.store.pointer import (
    MAX_POINTER_SIZE,
    Pointer,
    is_diff_summary,
    looks_like_pointer,
    parse_pointer,
)
from branchml.store.store import Store, StoreWriter

SPOOL_LIMIT = 16 << 20
IN_MEMORY = 1 << 20  # files up to this size are read whole and stored without the worker thread  # pass-through content above this spools to disk (memory stays bounded)


def store_settings(root: Path) -> dict[str, Any]:
    """The [store] table of branchml.toml (defaults if it cannot be read: the filter must not fail, but says so)."""
    try:
        cfg = config.load(root)
    except BranchmlError as exc:
        sys.stderr.write(f"branchml: {exc.message}; the filter uses the default [store] settings until it is fixed\n")
        cfg = config.DEFAULTS
    return {**config.DEFAULTS["store"], **cfg.get("store", {})}


class FilterServer:
    def __init__(
        self, reader: PacketReader, writer: PacketWriter, root: Path,
        open_repo: Callable[[], Any], report_crash: Callable[[BaseException, str], str],
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.root = root
        # Given by the entry point (layers above git/): the repository, whose store has the
        # on-demand fetcher attached, and the crash log writer that turns a bug into one line.
        self.open_repo = open_repo
        self.report_crash = report_crash
        self.content: ContentReader | None = None
        self.started = False
        settings = store_settings(root)
        self.inline_below = int(settings["inline_below"])
        self.checkout_in_git_max = int(settings["checkout_in_git_max"])
        self.skip_smudge = config.skip_smudge()
        self._repo: Any = None
        self._prefetched: dict[str, BranchmlError | None] = {}  # treeish -> why its content cannot be had
        self._store_writer: StoreWriter | None = None
        self.just_written = written.from_environment()  # set only for branchml's own refresh
        self._link_min_size: float | None = None

    # -- set-up ------------------------------------------------------------------------------
    def handshake(self) -> None:
        hello = self.reader.read_text_list()
        if "git-filter-client" not in hello or "version=2" not in hello:
            raise ProtocolError(f"unexpected filter handshake {hello!r}")
        self.writer.text("git-filter-server")
        self.writer.text("version=2")
        self.writer.flush()
        caps = self.reader.read_text_list()
        for cap in ("capability=clean", "capability=smudge"):
            if cap in caps:
                self.writer.text(cap)
        self.writer.flush()

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
                table = config.load(self.root, self.store.root).get("checkout", {})
            except BranchmlError:
                table = {}
            self._link_min_size = int(table.get("link_min_size", 1 << 20)) if table.get("link") == "reflink" else float("inf")
        return self._link_min_size

    def close(self) -> None:
        if self._store_writer is not None:
            self._store_writer.close()

    # -- main loop ---------------------------------------------------------------------------
    def serve(self) -> None:
        self.handshake()
        while True:
            try:
                headers = self.reader.read_key_values()
            except EOFError:
                return
            path = headers.get("pathname", "?")
            try:
                self.answer(headers, path)
            except (ProtocolError, BrokenPipeError):
                raise  # the stream itself is broken, or Git went away: nothing left to answer
            except Exception as exc:  # a bug on one path: answer error for it and serve the next
                self.crashed(path, exc)

    def answer(self, headers: dict[str, str], path: str) -> None:
        self.content = None
        self.started = False  # status=success sent: an error now must end the content first
        command = headers.get("command")
        if command == "clean":
            self.clean(path)
        elif command == "smudge":
            self.smudge(path, headers.get("treeish"), headers.get("ref"))
        else:
            ContentReader(self.reader).drain()
            self.fail(path, f"unknown filter command {command!r}")

    def crashed(self, path: str, exc: Exception) -> None:
        """An unexpected error on one path: log it, read the rest of its content, answer error."""
        if self.content is not None:
            self.content.drain()
        if self.started:
            self.writer.flush()
        self.fail(path, self.report_crash(exc, f"filter-process {path}"))

    def fail(self, path: str, message: str) -> None:
        sys.stderr.write(f"branchml: {path}: {message}\n")
        sys.stderr.flush()
        self.writer.text("status=error")
        self.writer.flush()

    def respond(self, content: bytes | memoryview) -> None:
        self.started = True
        self.writer.text("status=success")
        self.writer.flush()
        self.writer.content(content)
        self.writer.flush()
        self.writer.flush()  # empty list: status stays "success"

    def read_prefix(self, limit: int) -> ContentReader:
        """Read up to `limit` bytes of content; the reader remembers whether the content ended."""
        prefix = bytearray()
        done = False
        while len(prefix) < limit:
            packet = self.reader.read_packet()
            if packet is FLUSH:
                done = True
                break
            prefix += packet
        self.content = ContentReader(self.reader, bytes(prefix), done)
        return self.content

    # -- clean -------------------------------------------------------------------------------
    def clean(self, path: str) -> None:
        entry = self.just_written.get(path)
        if entry is not None and written.unchanged(self.root, entry):
            return self.clean_just_written(entry)
        content = self.read_prefix(max(self.inline_below, IN_MEMORY))
        head = bytes(content.pending)
        if content.done and looks_like_pointer(head):
            try:
                parse_pointer(head, path)
                return self.respond(head)  # already a pointer (e.g. checked out before install)
            except MalformedPointer:
                pass  # a small file that merely looks like one: store it, never inline it
        elif content.done and (not head or len(head) < self.inline_below):  # empty files stay empty
            return self.respond(head)
        elif content.done and is_diff_summary(head):
            # `git blame` cleans what textconv made of the work-tree file: our own summary, not a file
            # to store. Handing it back unchanged adds nothing to the store and lets blame compare it
            # with the committed side's summary.
            return self.respond(head)
        try:
            if content.done:
                pointer = self.store_writer.add_bytes(head)
            else:
                previous = self.store.index.path_hint(path)
                pointer = self.store_writer.add_stream(content, previous)
                self.store_writer.remember_path(path, pointer)
        except BranchmlError as exc:
            content.drain()
            return self.fail(path, str(exc))
        self.respond(pointer.encode())

    def clean_just_written(self, entry: written.Written) -> None:
        """The refresh after branchml wrote this very file: answer its pointer without hashing."""
        received = ContentReader(self.reader).drain()
        if received != entry.size:  # not the file we wrote: let the refresh leave it unrefreshed
            return self.fail(entry.path, f"expected the {entry.size} bytes just written, got {received}")
        self.respond(Pointer(entry.oid, entry.size).encode())

    # -- smudge ------------------------------------------------------------------------------
    def smudge(self, path: str, treeish: str | None = None, ref: str | None = None) -> None:
        content = self.read_prefix(MAX_POINTER_SIZE + 1)
        head = bytes(content.pending)
        if not content.done or not looks_like_pointer(head):
            return self.pass_through(content)  # longer than any pointer, or plain content
        content.drain()
        try:
            pointer = parse_pointer(head, path)
            if self.skip_smudge:
                return self.respond(head)  # pointers wanted (BRANCHML_SKIP_SMUDGE)
            done = treeish in self._prefetched and self._prefetched[treeish] is None
            if treeish is not None and not done and not self._local(pointer):
                self._prefetch(treeish, ref)  # raises, naming every file of the target it lacks
            self.store.require(pointer, path)  # content that cannot be had fails here, whatever its size
            if pointer.size > self.checkout_in_git_max or pointer.size >= self.link_min_size:
                return self.respond(head)  # the post-checkout hook writes it (streaming, or a reflink)
        except BranchmlError as exc:
            return self.fail(path, str(exc))
        self.started = True
        self.writer.text("status=success")
        self.writer.flush()
        try:
            for data in self.store.iter_file(pointer, path):
                self.writer.content(data)
        except BranchmlError as exc:
            self.writer.flush()
            return self.fail(path, f"{exc} (the file was not written)")
        self.writer.flush()
        self.writer.flush()

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
        if treeish not in self._prefetched:
            # imported at the first missing file only: the filter starts with every Git command

            target = _branch_name(ref) if ref else treeish[:12]
            try:
                prefetch.prefetch(self.repo, prefetch.tree_pointers(self.repo, treeish), what=target,
                                  retry=f"`branchml switch {target}` (it also finishes this half-done switch)")
                self._prefetched[treeish] = None
            except BranchmlError as exc:
                self._prefetched[treeish] = exc
        problem = self._prefetched[treeish]
        if problem is not None:
            raise problem

    def pass_through(self, content: ContentReader) -> None:
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_LIMIT) as spool:
            buffer = bytearray(1 << 20)
            view = memoryview(buffer)
            while n := content.readinto(view):
                spool.write(view[:n])
            spool.seek(0)
            self.started = True
            self.writer.text("status=success")
            self.writer.flush()
            while block := spool.read(1 << 20):
                self.writer.content(block)
            self.writer.flush()
            self.writer.flush()


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


def run_filter_process(open_repo: Callable[[], Any], report_crash: Callable[[BaseException, str], str]) -> int:
    _widen_pipes()
    reader, writer = PacketReader(sys.stdin.buffer), PacketWriter(sys.stdout.buffer)
    server = FilterServer(reader, writer, Path(os.getcwd()), open_repo, report_crash)
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


def log_peak_rss() -> None:
    """bench/ asks for our peak memory through BRANCHML_RSS_LOG (KiB, one line per process)."""
    path = os.environ.get("BRANCHML_RSS_LOG")
    if path:
        with open(path, "a") as f:
            f.write(f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\n")
