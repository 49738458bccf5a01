"""Push and clone through remotes: branchml (local-folder blob remote) against Git LFS (local bare repo).

    python bench/remote.py [--mb 1024]

Both push one random file of --mb MiB to a bare repo on the same disk and clone it back; times are
wall-clock seconds of `git push` (pre-push upload included) and of the clone with files
materialised (`branchml clone` / `git clone`). Peak RSS is of branchml's own processes: `push`
(upload) and `fetch` (download, verify, store), each run on its own through /usr/bin/time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BML = [sys.executable, "-m", "branchml"]


def timed(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, capture_output=True)
    if proc.returncode:
        raise SystemExit(f"{args} failed: {proc.stderr.decode(errors='replace')}")
    return time.perf_counter() - start


def peak_rss_mib(args: list[str], cwd: Path) -> float:
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", *args], cwd=cwd, check=True, capture_output=True)
    return int(proc.stderr.decode().strip().splitlines()[-1]) / 1024


def make_repo(root: Path, kind: str, data: Path) -> Path:
    repo = root / kind / "src"
    if kind == "branchml":
        timed([*BML, "init", str(repo)], root)
        timed([*BML, "track", "data/**"], repo)
        timed([*BML, "remote", "add", "origin", str(root / kind / "blobs")], repo)
    else:
        repo.mkdir(parents=True)
        timed(["git", "init", "-q", "-b", "main"], repo)
        timed(["git", "lfs", "install", "--local"], repo)
        timed(["git", "lfs", "track", "data/**"], repo)
    (repo / "data").mkdir()
    os.link(data, repo / "data" / "big.bin")
    timed(["git", "add", "."], repo)
    timed(["git", "commit", "-qm", "data"], repo)
    timed(["git", "init", "-q", "--bare", "-b", "main", str(root / kind / "server.git")], root)
    timed(["git", "remote", "add", "origin", str(root / kind / "server.git")], repo)
    return repo


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=1024)
    mb = parser.parse_args().mb
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "big.bin"
        with open(data, "wb") as f:
            for _ in range(mb):
                f.write(os.urandom(1 << 20))
        results = {}
        for kind in ("branchml", "lfs"):
            repo = make_repo(root, kind, data)
            push = timed(["git", "push", "-q", "origin", "main"], repo)
            clone_cmd = [*BML, "clone"] if kind == "branchml" else ["git", "clone", "-q"]
            clone = timed([*clone_cmd, str(root / kind / "server.git"), str(root / kind / "copy")], root)
            assert (root / kind / "copy" / "data" / "big.bin").stat().st_size == mb << 20
            results[kind] = (push, clone)
        fetch_dir = root / "fetch"
        timed(["git", "clone", "-q", "--no-checkout", str(root / "branchml" / "server.git"), str(fetch_dir)], root)
        fetch_rss = peak_rss_mib([*BML, "fetch", "main"], fetch_dir)
        (root / "branchml" / "src" / "data" / "more.bin").write_bytes(os.urandom(1 << 20))
        timed(["git", "add", "."], root / "branchml" / "src")
        timed(["git", "commit", "-qm", "more"], root / "branchml" / "src")
        push_rss = peak_rss_mib([*BML, "push"], root / "branchml" / "src")
    (bp, bc), (lp, lc) = results["branchml"], results["lfs"]
    print(f"{mb} MiB, local disk   push s   clone s")
    print(f"branchml            {bp:7.1f}  {bc:7.1f}")
    print(f"git lfs             {lp:7.1f}  {lc:7.1f}")
    print(f"ratio branchml/lfs  {bp / lp:7.2f}  {bc / lc:7.2f}")
    print(f"peak RSS (MiB): branchml fetch {fetch_rss:.0f}, branchml push {push_rss:.0f}")


if __name__ == "__main__":
    main()
