"""Page-load times of `branchml ui` on a generated repository with 1,000 runs (p50 and p95).

    python bench/ui.py [--runs 1000] [--commits 10000] [--n 20]

The repository comes from bench/audit.py's generator (fast-import: 20 customers, 100 raw uploads,
runs with tags and tracking records on main, monitoring logs). The server is the real CLI on
loopback; each page is fetched --n times after one warm-up; times include HTTP and rendering.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from audit import build  # noqa: E402  (the generator lives beside this file)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fetch(url: str) -> float:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as answer:
        answer.read()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--commits", type=int, default=10_000)
    parser.add_argument("--n", type=int, default=20)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="branchml-bench-ui-") as tmp:
        repo = Path(tmp) / "repo"
        names = build(repo, options.runs, options.commits, 20, 100)
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "branchml", "ui", "--port", str(port)], cwd=repo,
                                  stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    fetch(base + "/monitor")
                    break
                except OSError:
                    time.sleep(0.1)
            pages = ["/", "/runs", "/runs?sort=accuracy", "/releases", f"/tags/{names['tag']}",
                     f"/branches/{names['branch']}", f"/runs/compare?a={names['tag']}&b={names['other']}",
                     "/files/main/tracking/runs/", "/monitor/prod"]
            results = {}
            for page in pages:
                fetch(base + page)
                times = sorted(fetch(base + page) for _ in range(options.n))
                results[page] = {"p50_ms": round(statistics.median(times) * 1000, 1),
                                 "p95_ms": round(times[int(0.95 * (len(times) - 1))] * 1000, 1)}
                print(f"{page:<45} p50 {results[page]['p50_ms']:8.1f} ms   p95 {results[page]['p95_ms']:8.1f} ms")
        finally:
            server.terminate()
            server.wait(10)
        out = Path(__file__).with_name(f"results-ui-{time.strftime('%Y%m%d')}.json")
        out.write_text(json.dumps({"runs": options.runs, "pages": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
