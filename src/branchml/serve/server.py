"""Run the scoring app under uvicorn on a socket we bind ourselves (so `--port 0` can say its port).

With `workers > 1` the socket is bound once and inherited by that many forked server processes
(serve/workers.py): the kernel hands each connection to one of them, and each has its own models,
journal and Logger (the monitor branch takes several writers by compare-and-swap).
"""

from __future__ import annotations

import signal
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING

from branchml.repo import Repo
from branchml.serve.app import ServeOptions, create_app
from branchml.serve.split import Router
from branchml.serve.workers import Supervisor

if TYPE_CHECKING:
    import uvicorn


BACKLOG = 2048  # uvicorn's own default, which its start-up sets again on this socket


def serve(repo: Repo, router: Router, options: ServeOptions, host: str = "127.0.0.1", port: int = 8080,
          workers: int = 1) -> None:
    """Load the tags, bind, print the address on stderr, serve until SIGTERM/SIGINT; the exit status."""
    if workers > 1:
        sock = listen(host, port)
        Supervisor(workers, lambda ready: run_worker(repo, router, options, sock, ready)).run(lambda: announce(router, options, host, sock))
        return
    server = _server(repo, router, options)  # loads the models: a broken tag fails before the port opens
    with _graceful_exit(server):
        sock = listen(host, port)
        announce(router, options, host, sock)
        server.run(sockets=[sock])


def run_worker(repo: Repo, router: Router, options: ServeOptions, sock: socket.socket, ready: Callable[[], None]) -> None:
    """One forked server process: load the tags, say so to the supervisor, serve."""
    server = _server(repo, router, options)
    with _graceful_exit(server):
        ready()
        server.run(sockets=[sock])


def listen(host: str, port: int) -> socket.socket:
    """A bound TCP socket. IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto
    says TCP; without it Nagle holds each answer's body behind its headers until the client's
    delayed ACK, about 40 ms per request on a kept-alive connection. Listening at once: the address is
    printed before uvicorn (or any worker) starts, and a client that reads it must be queued, not refused."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(BACKLOG)
    return sock


def announce(router: Router, options: ServeOptions, host: str, sock: socket.socket) -> None:
    print(f"branchml serve: {router.primary} on http://{host}:{sock.getsockname()[1]} (env {options.env}, "
          f"logging {'on' if options.log else 'off'})", file=sys.stderr, flush=True)


def _server(repo: Repo, router: Router, options: ServeOptions) -> uvicorn.Server:
    import uvicorn  # optional extra [serve]

    app = create_app(repo, router, options)
    return uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=5))


@contextmanager
def _graceful_exit(server: uvicorn.Server) -> Iterator[None]:
    """Stop gracefully on SIGTERM/SIGINT from the moment the port is announced, and exit 0 after.

    While uvicorn runs, its own handlers catch these signals, shut down (open requests finish, the
    logger commits), restore the handlers that were there before it started and raise the signal
    again. The handler in place outside uvicorn's is this one: before uvicorn has installed its
    own (a window of a few ms after the address is printed) it asks the server to exit as soon as
    it has started, where a no-op would have lost the signal; after the shutdown it absorbs the
    re-raised signal, so the process exits 0. Before this block (loading models), the usual
    handlers stop the process at once.
    """
    def stop(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    saved = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
