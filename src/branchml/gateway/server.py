"""Run the gateway with uvicorn on loopback (another address needs an explicit flag)."""

from __future__ import annotations

import sys

from branchml.errors import BranchmlError
from branchml.listen import is_loopback
from branchml.repo import Repo


def serve(repo: Repo, host: str = "127.0.0.1", port: int = 9000, *, allow_remote: bool = False) -> None:
    import uvicorn  # heavy optional dependency (extra `gateway`)

    from branchml.gateway.app import make_app  # starlette: extra `gateway`

    if not is_loopback(host) and not allow_remote:
        raise BranchmlError(f"refusing to listen on {host} without --allow-remote",
                            hint="the gateway checks signatures but speaks plain HTTP: keep it on loopback or put TLS in front")
    print(f"branchml gateway: http://{host}:{port}/ (bucket {repo.cwd.name}); keys: `branchml gateway credentials`",
          file=sys.stderr, flush=True)
    uvicorn.run(make_app(repo.cwd), host=host, port=port, log_level="warning")
