"""Batch commits in a process of their own, at a lower CPU priority, so they never slow an answer.

A server's Logger (`Logger(..., commit_in="process")`) hands each batch to this child instead of
committing it in its own thread. Committing one batch costs about 20 ms of Python and 35 ms of Git
processes (hash-object, ls-tree, mktree, commit-tree, update-ref...). Run by a thread of the
server, the Python part holds the GIL the answering threads need and the Git part takes the cores
they run on: the slowest 1% of answers at 500 requests/s were the ones that overlapped a commit
(bench/serve_trace.py, bench/RESULTS.md serving run 5). A thread cannot simply be given a lower
priority: while it holds the GIL, the answers wait for a thread the kernel now runs last (priority
inversion, measured: p50 from 2 to 16 ms). A separate process shares no GIL, and its niceness
(`NICENESS`) is inherited by the Git processes it starts.

Crash safety is unchanged: records are journaled before the answer, and a batch is only removed
from the Logger's memory when this process says its commit is on the branch. The child dies with
the thread that started it (PR_SET_PDEATHSIG, SIGKILL), so after a killed server no orphan goes on
committing while the restarted server recovers the journal; it ignores SIGINT and SIGTERM, which
stop the server gracefully and are followed by the server's last batches, and it ends when its
input closes.

Protocol, over the child's stdin and stdout: a request is one JSON line
`{"format": 1, "env", "message", "files": [[path, size], ...]}` followed by the files' bytes in that
order; the answer is one JSON line, `{"commit": "<id>"}` or `{"error": "<message>", "hint": ...}`.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from branchml.errors import BranchmlError
from branchml.git import plumbing
from branchml.monitor import branch

FORMAT = 1
NICENESS = 10  # the committer's (and its Git processes') nice value, relative to the server's
# Lower the priority first, so that even the child's imports (about 0.2 s of CPU) yield to the answers.
START = f"import os, sys; os.nice({NICENESS}); from branchml.monitor.committer import main; sys.exit(main(sys.argv[1:]))"


class CommitterEnded(BranchmlError):
    """The child ended without answering: its commit may or may not be on the branch."""


class Committer:
    """A handle on one committer child for the repository around `cwd`; started by `start()` or the first commit."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None

    def commit(self, env: str, files: Mapping[str, bytes], message: str) -> str:
        """Commit `files` onto monitor/<env> (branch.commit_files, in the child); the new commit."""
        proc = self._process()
        assert proc.stdin is not None and proc.stdout is not None
        header = {"format": FORMAT, "env": env, "message": message, "files": [[p, len(d)] for p, d in files.items()]}
        try:
            proc.stdin.write(json.dumps(header).encode() + b"\n")
            for data in files.values():
                proc.stdin.write(data)
            proc.stdin.flush()
            line = proc.stdout.readline()
        except OSError as exc:  # BrokenPipeError: it died
            line = b""
            cause: BaseException | None = exc
        else:
            cause = None
        if not line:
            self.close()
            raise CommitterEnded(f"the monitor committer process for monitor/{env} ended (exit status {proc.returncode})",
                                hint="the records stay journaled; the next batch starts a new committer") from cause
        return _answer(json.loads(line))

    def _process(self) -> subprocess.Popen[bytes]:
        """The running child, started (again) when there is none: from the calling thread, whose end
        it does not outlive (PR_SET_PDEATHSIG follows the thread that forked it)."""
        if self._proc is not None and self._proc.poll() is not None:
            self.close()  # died between batches: its pipes are closed before a new one starts
        if self._proc is None:
            args = [sys.executable, "-c", START, str(os.getpid())]
            self._proc = subprocess.Popen(args, cwd=self.cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        return self._proc

    def start(self) -> None:
        """Start the child now (the Logger does, before the first batch): its imports do not land mid-traffic."""
        self._process()

    def close(self) -> None:
        """Close its input (it finishes the request in hand, if any, and exits) and wait for it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
        except OSError:
            pass  # already dead: wait() collects it
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _answer(answer: dict[str, Any]) -> str:
    if "error" in answer:
        raise BranchmlError(str(answer["error"]), hint=answer.get("hint"))
    return str(answer["commit"])


def serve_requests(stdin: IO[bytes], stdout: IO[bytes], cwd: Path) -> None:
    """Commit each request read from `stdin` and answer on `stdout`, until `stdin` closes."""
    with plumbing.CatFile(cwd) as trees:  # one reader for every batch's trees, not an ls-tree per tree
        while line := stdin.readline():
            _serve_one(json.loads(line), stdin, stdout, cwd, trees)


def _serve_one(request: dict[str, Any], stdin: IO[bytes], stdout: IO[bytes], cwd: Path, trees: plumbing.CatFile) -> None:
    """Read one request's files, commit them, answer with the commit or the error."""
    if request.get("format") != FORMAT:
        raise BranchmlError(f"monitor committer: request format {request.get('format')!r}, expected {FORMAT}",
                            hint="the server and its committer come from different branchml versions: restart the server")
    files = {str(path): _read_exactly(stdin, int(size)) for path, size in request["files"]}
    try:
        answer: dict[str, Any] = {"commit": branch.commit_files(cwd, str(request["env"]), files, str(request["message"]), trees)}
    except BranchmlError as exc:
        answer = {"error": exc.message, "hint": exc.hint}
    except Exception as exc:  # noqa: BLE001 (reported to the Logger, which keeps the records journaled and retries)
        answer = {"error": f"{type(exc).__name__}: {exc}"}
    stdout.write(json.dumps(answer).encode() + b"\n")
    stdout.flush()


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise BranchmlError(f"monitor committer: input ended after {len(data)} of {size} bytes", hint="the server stopped")
    return data


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with(parent: int) -> None:
    """Be killed when the thread that started us ends (Linux); exit now if it is already gone."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # libc, already loaded
    if os.getppid() != parent:
        os._exit(0)


def main(argv: list[str]) -> int:
    """The child's entry point (`START`, already niced): serve requests until the input closes."""
    _die_with(int(argv[0]))
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)  # the server stops gracefully, then closes our input
    serve_requests(sys.stdin.buffer, sys.stdout.buffer, Path.cwd())
    return 0

