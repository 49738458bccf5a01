"""History rewriting against Git LFS's own: the same plain Git history converted by
`branchml migrate import --above 0 '*.bin' --everything` and by
`git lfs migrate import --include='*.bin' --everything`, in one run, on copies of one repository.

    python bench/migrate.py [--commits 40] [--files 3] [--kib 512]

Prints both wall-clock times and the ratio branchml / git-lfs. Needs git-lfs (Debian package).
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def sh(cwd: Path, *args: str) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)


def build(root: Path, commits: int, files: int, kib: int) -> Path:
    repo = root / "plain"
    sh(root, "git", "init", "-q", "-b", "main", str(repo))
    rng = random.Random(1)
    for n in range(commits):
        for f in range(files):
            if n == 0 or rng.random() < 0.5:
                (repo / f"file{f}.bin").write_bytes(rng.randbytes(kib << 10))
        (repo / "log.txt").write_text(f"commit {n}\n")
        sh(repo, "git", "add", "-A")
        sh(repo, "git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", f"c{n}")
    return repo


def timed(cwd: Path, *args: str) -> float:
    start = time.perf_counter()
    sh(cwd, *args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commits", type=int, default=40)
    parser.add_argument("--files", type=int, default=3)
    parser.add_argument("--kib", type=int, default=512)
    args = parser.parse_args()
    if shutil.which("git-lfs") is None:
        sys.exit("git-lfs is not installed (apt-get install git-lfs)")
    with tempfile.TemporaryDirectory(prefix="bench-migrate-") as tmp:
        root = Path(tmp)
        plain = build(root, args.commits, args.files, args.kib)
        for name in ("bml", "lfs"):
            shutil.copytree(plain, root / name, symlinks=True)
        sh(root / "lfs", "git", "lfs", "install", "--local")
        t_lfs = timed(root / "lfs", "git", "lfs", "migrate", "import", "--include=*.bin", "--everything", "--yes")
        t_bml = timed(root / "bml", sys.executable, "-m", "branchml", "migrate", "import", "--above", "0", "*.bin",
                      "--everything")
        print(f"{args.commits} commits x {args.files} files of {args.kib} KiB (about half changed per commit)")
        print(f"git lfs migrate import: {t_lfs:.2f} s")
        print(f"branchml migrate import: {t_bml:.2f} s (verification with fsck --read-data included)")
        print(f"ratio branchml / git-lfs: {t_bml / t_lfs:.2f}")


if __name__ == "__main__":
    main()
