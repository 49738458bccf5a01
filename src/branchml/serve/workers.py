"""Several server processes on one port (`branchml serve --workers N`): fork, watch, restart, stop.

The supervisor binds nothing and serves nothing itself: the caller binds the socket, and each
forked worker runs `work(ready)` on it (loads the tags, calls `ready()`, serves until SIGTERM).
The address is announced once every worker has loaded, so a client that waits for it is never
refused. A worker killed by a signal the supervisor did not send (SIGKILL, the OOM killer) is
replaced, also while the tags are still loading (the replacement loads and reports instead; after
two such deaths per worker the loading itself is suspect, and the server stops and fails); the new worker's Logger commits what the dead one journaled (monitor/journal.py), so
nothing it acknowledged is lost. A worker that exits by itself (a tag failed to load) stops the
others, and the supervisor fails with its status. SIGTERM or SIGINT is passed to every worker as
SIGTERM (a graceful stop: open requests finish, each Logger commits); the supervisor exits 0 once
all have stopped cleanly. A supervisor killed outright (SIGKILL) cannot pass anything on: on Linux
the kernel then sends each worker SIGTERM itself (PR_SET_PDEATHSIG), so none serves on alone.

Workers are forked, not spawned: the socket is inherited, and the supervisor holds no threads or
long-lived Git processes at fork time (the tags load in each worker, after the fork).
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import sys
from collections.abc import Callable
from types import FrameType

from branchml.crash import guarded
from branchml.errors import ExitCode, ServeError

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
MAX_REPLACED_PER_WORKER = 2  # while loading: a tag whose loading gets workers killed (out of memory) stops the server
Work = Callable[[Callable[[], None]], None]


class Supervisor:
    def __init__(self, count: int, work: Work) -> None:
        self.count = count
        self.work = work
        self.children: set[int] = set()
        self.stopping = False
        self.status = 0  # the first failure's exit status
        self.reason = ""  # what the failure was, when no worker's own message says it
        self.replaced = 0  # workers replaced while loading their tags (bounded: the cause may be the loading)

    def run(self, announce: Callable[[], None]) -> None:
        """Start the workers, announce once all are ready, watch them until they have all stopped."""
        saved = {sig: signal.signal(sig, self._on_signal) for sig in STOP_SIGNALS}
        try:
            if self._start() and not self.stopping:
                announce()
            self._watch()
        finally:
            for sig, handler in saved.items():
                signal.signal(sig, handler)
        if self.status:
            raise ServeError(self.reason or f"a server worker failed (exit status {self.status}); the others were stopped",
                             hint="its own message is above")

    def _start(self) -> bool:
        """Fork the workers; True once each has loaded its tags (one byte each on a pipe). A worker
        killed while loading is replaced by one that reports on the same pipe; False when one failed
        by itself or a stop was asked."""
        read_end, write_end = os.pipe()
        try:
            for _ in range(self.count):
                self._spawn(write_end, read_end)
            return self._await_ready(read_end, write_end)
        finally:
            os.close(read_end)
            os.close(write_end)

    def _await_ready(self, read_end: int, write_end: int) -> bool:
        seen = 0
        while seen < self.count and not self.stopping:
            if select.select([read_end], [], [], 0.1)[0]:
                seen += len(os.read(read_end, self.count))
            while self.children and (ended := os.waitpid(-1, os.WNOHANG))[0]:
                self._ended(ended[0], os.waitstatus_to_exitcode(ended[1]), (write_end, read_end))
        return seen >= self.count

    def _spawn(self, ready_end: int | None = None, other_end: int | None = None) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        supervisor = os.getpid()
        pid = os.fork()
        if pid == 0:
            _stop_with(supervisor)
            self._be_worker(ready_end, other_end)
        self.children.add(pid)
        if self.stopping:  # a signal arrived while forking: this one missed the broadcast
            _kill(pid)

    def _be_worker(self, ready_end: int | None, other_end: int | None) -> None:
        """In the forked child: serve, then leave without returning into the supervisor's code."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)  # until the server's own handlers are in place
        if other_end is not None:
            os.close(other_end)

        def ready() -> None:
            if ready_end is not None:
                os.write(ready_end, b".")
                os.close(ready_end)

        def body() -> int:
            self.work(ready)
            return 0

        code = guarded("serve (worker)", body)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    def _watch(self) -> None:
        while self.children:
            pid, wait_status = os.wait()
            self._ended(pid, os.waitstatus_to_exitcode(wait_status))

    def _ended(self, pid: int, code: int, loading: tuple[int, int] | None = None) -> None:
        """A worker ended with `code` (negative: killed by that signal); `loading`: the ready pipe's
        ends while the workers still load their tags (a replacement reports there too)."""
        self.children.discard(pid)
        if self.stopping:  # our SIGTERM ends a worker still loading its tags: that is no failure
            if code > 0 or (code < 0 and -code != signal.SIGTERM):
                self.status = self.status or (code if code > 0 else 128 - code)
        elif code < 0 and (loading is None or self.replaced < MAX_REPLACED_PER_WORKER * self.count):
            when = " while loading the tags" if loading else ""
            print(f"branchml serve: worker {pid} was killed by signal {-code}{when}; starting another", file=sys.stderr, flush=True)
            self.replaced += loading is not None
            self._spawn(*(loading or (None, None)))
        else:
            self.status = code if code > 0 else (ExitCode.SERVE_FAILED if code == 0 else 128 - code)
            if code < 0:
                self.reason = (f"server workers were killed {self.replaced + 1} times while loading the tags "
                               f"(last by signal {-code}); the others were stopped")
            self._stop_all()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stop_all()

    def _stop_all(self) -> None:
        self.stopping = True
        for pid in list(self.children):
            _kill(pid)


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _stop_with(supervisor: int) -> None:
    """In a new worker: have the kernel send SIGTERM when the supervisor dies, even by SIGKILL (which
    it cannot catch to stop its workers), so no worker serves on alone with nobody to replace or
    stop it; the SIGTERM is a graceful stop that commits what the worker acknowledged. Linux only."""
    if not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)  # libc, already loaded
    if os.getppid() != supervisor:  # it died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass  # already gone: os.wait collects it
