"""`branchml serve TAG`: the router and options from what the command line says, then the server.

Needs the `serve` extra (fastapi, uvicorn) at import time; `branchml.api` loads it on first use.
"""

from __future__ import annotations

from typing import Any

from branchml.repo import Repo
from branchml.serve.app import ServeOptions
from branchml.serve.server import serve
from branchml.serve.split import Router, parse_canary


def serve_model(repo: Repo, tag: str, *, host: str = "127.0.0.1", port: int = 8080, canaries: tuple[str, ...] = (),
                shadows: tuple[str, ...] = (), workers: int = 1, **options: Any) -> None:
    """Serve `tag` (canaries "TAG=PCT%", shadow tags) with `workers` processes on one port until
    interrupted; `options`: ServeOptions' fields (env, log, timeout, fsync...)."""
    router = Router(tag, tuple(parse_canary(c) for c in canaries), tuple(shadows))
    serve(repo, router, ServeOptions(**options), host, port, workers)
