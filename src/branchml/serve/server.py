"""Run the scoring app under uvicorn on a socket we bind ourselves (so `--port 0` can say its port)."""

from __future__ import annotations

import socket
import sys

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
    uvicorn.Server(config).run(sockets=[sock])
