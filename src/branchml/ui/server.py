"""Run the dashboard with uvicorn: loopback by default; any other address needs an explicit flag."""

from __future__ import annotations

import sys
import threading
import webbrowser
from pathlib import Path

from branchml.errors import BranchmlError
from branchml.listen import is_loopback
from branchml.repo import Repo
from branchml.ui.app import make_app


def serve(repo: Repo, host: str = "127.0.0.1", port: int = 8765, *, allow_remote: bool = False, open_browser: bool = False) -> None:
    import uvicorn  # heavy optional dependency (extra `ui`)

    if not is_loopback(host):
        if not allow_remote:
            raise BranchmlError(f"refusing to listen on {host}: the dashboard has no authentication",
                                hint="keep the default 127.0.0.1, or pass --allow-remote if you really mean it")
        print(f"warning: serving {repo.cwd} on {host}:{port} without authentication", file=sys.stderr)
    root = Path(repo.cwd)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"
    print(f"branchml ui: {url} (read-only; Ctrl-C to stop)", file=sys.stderr, flush=True)
    if open_browser:
        threading.Timer(1.0, webbrowser.open, [url]).start()
    uvicorn.run(make_app(root), host=host, port=port, log_level="warning")
