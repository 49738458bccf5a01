"""Run the scoring app under uvicorn on a socket we bind ourselves (so `--port 0` can say its port)."""

from __future__ import annotations

import signal
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from branchml.repo import Repo
from branchml.serve.app import ServeOptions, create_app
from branchml.serve.split import Router


def serve(repo: Repo, router: Router, options: ServeOptions, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Load the tags, bind, print the address on stderr, serve until interrupted."""
    import uvicorn  # optional extra [serve]

    app = create_app(repo, router, options)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    print(f"branchml serve: {router.primary} on http://{host}:{bound} (env {options.env}, "
          f"logging {'on' if options.log else 'off'})", file=sys.stderr, flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=5)
    with _graceful_exit():
        uvicorn.Server(config).run(sockets=[sock])


@contextmanager
def _graceful_exit() -> Iterator[None]:
    """Exit 0 after a graceful shutdown on SIGTERM/SIGINT.

    uvicorn catches these signals, shuts down (open requests finish, the logger commits), restores
    the handlers that were there before it started and raises the signal again, so that the default
    handler would end the process with -15 (or KeyboardInterrupt). The handlers in place while it
    runs are these no-ops: the shutdown was complete, nothing is left to interrupt. Outside this
    block (loading models), the usual handlers stop the process at once.
    """
    saved = {sig: signal.signal(sig, _done) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _done(signum: int, frame: FrameType | None) -> None:
    """uvicorn's re-raise of the signal it already handled."""
