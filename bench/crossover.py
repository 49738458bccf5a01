"""Where writing files after checkout (outside Git's pipe) beats Git's own smudge, by file size.

    python bench/crossover.py [--sizes-kb 256,1024,4096,16384,65536] [--files 8]

For each size: two branches of --files random files of that size; the median of four `git switch`
runs with every file through Git's filter pipe (checkout_in_git_max above the size) and with every
file written by branchml after checkout (threshold below it). Prints seconds and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BML = [sys.executable, "-m", "branchml"]


def sh(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def project(root: Path, name: str, files: int, size: int, threshold: int) -> Path:
    repo = root / name
    sh([*BML, "init", str(repo)], root)
    sh([*BML, "track", "data/**"], repo)
    (repo / "branchml.toml").write_text(f"[branchml]\nversion = 1\n\n[store]\ncheckout_in_git_max = {threshold}\n")
    (repo / "data").mkdir()
    for branch in ("main", "b"):
        if branch == "b":
            sh(["git", "switch", "-qc", "b"], repo)
        for i in range(files):
            (repo / "data" / f"f{i}.bin").write_bytes(os.urandom(size))
        sh(["git", "add", "-A"], repo)
        sh(["git", "commit", "-qm", branch], repo)
    return repo


def median_switch(repo: Path) -> float:
    return statistics.median(sh(["git", "switch", "-q", b], repo) for b in ("main", "b", "main", "b"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes-kb", default="256,1024,4096,16384,65536")
    ap.add_argument("--files", type=int, default=8)
    args = ap.parse_args()
    print(f"{'file KiB':>9} {'in pipe s':>10} {'after s':>9} {'after/pipe':>11}")
    for kb in map(int, args.sizes_kb.split(",")):
        size = kb << 10
        with tempfile.TemporaryDirectory(prefix="bml-crossover-") as tmp:
            root = Path(tmp)
            pipe = median_switch(project(root, "pipe", args.files, size, size * 2))
            after = median_switch(project(root, "after", args.files, size, size // 2))
        print(f"{kb:9d} {pipe:10.3f} {after:9.3f} {after / pipe:11.2f}", flush=True)


if __name__ == "__main__":
    main()
