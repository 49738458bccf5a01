"""branchml against plain Git and Git LFS (and DVC when installed), side by side in one run.

    python bench/run.py                 # full size: 1 GiB files, 50,000 small files
    python bench/run.py --mb 64 --small 2000   # a quick run

Prints a table with each peer's time/bytes and the ratio branchml / peer, and writes
bench/results-<date>.json. Times are wall-clock seconds of the whole git command (filter included).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TOOLS = ("branchml", "lfs", "dvc", "git")
DVC_VENV = Path(tempfile.gettempdir()) / "branchml-bench-dvc"


def sh(args: list[str], cwd: Path, env: dict | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    if proc.returncode:
        raise SystemExit(f"{' '.join(args)} failed in {cwd}: {proc.stderr.decode(errors='replace')}")
    return time.perf_counter() - start


def ensure_git_lfs() -> bool:
    if subprocess.run(["git", "lfs", "version"], capture_output=True).returncode == 0:
        return True
    if shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "git-lfs"], capture_output=True)
        if subprocess.run(["git", "lfs", "version"], capture_output=True).returncode != 0:
            subprocess.run(["apt-get", "update"], capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "git-lfs"], capture_output=True)
    return subprocess.run(["git", "lfs", "version"], capture_output=True).returncode == 0


def ensure_dvc() -> str | None:
    """DVC in its own venv (it is a peer, not our dependency); None when it cannot be installed."""
    found = shutil.which("dvc")
    if found:
        return found
    dvc = DVC_VENV / "bin" / "dvc"
    if not dvc.exists():
        subprocess.run([sys.executable, "-m", "venv", str(DVC_VENV)], capture_output=True)
        subprocess.run([str(DVC_VENV / "bin" / "pip"), "install", "-q", "dvc"], capture_output=True)
    return str(dvc) if dvc.exists() else None


def du(path: Path) -> int:
    if not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class Tool:
    def __init__(self, name: str, root: Path, env: dict, dvc: str | None = None) -> None:
        self.name, self.root, self.env, self.dvc = name, root, env, dvc

    def new_repo(self, label: str) -> Path:
        path = self.root / f"{self.name}-{label}"
        path.mkdir(parents=True)
        if self.name == "branchml":
            sh([sys.executable, "-m", "branchml", "init", "."], path, self.env)
            sh([sys.executable, "-m", "branchml", "track", "data/**"], path, self.env)
        else:
            sh(["git", "init", "-q", "-b", "main"], path, self.env)
            if self.name == "lfs":
                sh(["git", "lfs", "install", "--local"], path, self.env)
                sh(["git", "lfs", "track", "data/**"], path, self.env)
            if self.name == "dvc":
                sh([self.dvc, "init", "-q"], path, self.env)
                sh([self.dvc, "config", "core.autostage", "true"], path, self.env)
        (path / "data").mkdir()
        (path / "README").write_text(label)
        sh(["git", "add", "-A"], path, self.env)
        sh(["git", "commit", "-qm", "setup"], path, self.env)
        return path

    def stored(self, repo: Path) -> int:
        extra = {
            "branchml": repo / ".git" / "branchml" / "packs",
            "lfs": repo / ".git" / "lfs" / "objects",
            "dvc": repo / ".dvc" / "cache",
        }
        return du(repo / ".git" / "objects") + (du(extra[self.name]) if self.name in extra else 0)

    def add_commit(self, repo: Path, msg: str) -> float:
        spent = sh([self.dvc, "add", "-q", "data"], repo, self.env) if self.name == "dvc" else 0.0
        return spent + sh(["git", "add", "-A"], repo, self.env) + sh(["git", "commit", "-qm", msg], repo, self.env)

    def readd(self, repo: Path) -> float:
        if self.name == "dvc":
            return sh([self.dvc, "add", "-q", "data"], repo, self.env)
        return sh(["git", "add", "-A"], repo, self.env)

    def switch(self, repo: Path, branch: str) -> float:
        spent = sh(["git", "switch", "-q", branch], repo, self.env)
        if self.name == "dvc":
            spent += sh([self.dvc, "checkout", "-q"], repo, self.env)
        return spent


def random_file(path: Path, size: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 64 << 20)
            f.write(rng.bytes(n))
            left -= n


HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def csv_rows(rows: int, seed: int) -> bytes:
    """Rows of `id,hexa,hexb` (80 bytes each), random so no tool gets free compression."""
    rng = np.random.default_rng(seed)
    body = HEX[rng.integers(0, 16, size=(rows, 80), dtype=np.uint8)]
    body[:, 16] = ord(",")
    body[:, 48] = ord(",")
    body[:, 79] = ord("\n")
    return body.tobytes()


def csv_file(path: Path, size: int, seed: int, mode: str = "wb") -> None:
    with open(path, mode) as f:
        if mode == "wb":
            f.write(b"id,a,b" + b" " * 73 + b"\n")
        rows = size // 80
        for start in range(0, rows, 1 << 20):
            f.write(csv_rows(min(1 << 20, rows - start), seed + start))


def bench_tool(tool: Tool, mb: int, small: int, results: dict) -> None:
    size = mb << 20
    r = results.setdefault(tool.name, {})
    # 1. add+commit of a random file, then re-add after touch
    repo = tool.new_repo("big")
    random_file(repo / "data" / "big.bin", size, 1)
    base = tool.stored(repo)
    r["add_commit_s"] = tool.add_commit(repo, "big")
    os.utime(repo / "data" / "big.bin")
    r["readd_touch_s"] = tool.readd(repo)
    # 2. 1% of the bytes changed in the middle
    with open(repo / "data" / "big.bin", "r+b") as f:
        f.seek(size // 2)
        f.write(np.random.default_rng(2).bytes(size // 100))
    before = tool.stored(repo)
    r["binary_1pct_s"] = tool.add_commit(repo, "1pct")
    r["binary_1pct_growth"] = (tool.stored(repo) - before) / size
    r["big_stored_ratio"] = (before - base) / size
    # 3. CSV then 1% rows appended
    repo = tool.new_repo("csv")
    csv_file(repo / "data" / "t.csv", size, 3)
    tool.add_commit(repo, "csv")
    before = tool.stored(repo)
    csv_file(repo / "data" / "t.csv", size // 100, 10**9, mode="ab")
    r["csv_append_s"] = tool.add_commit(repo, "append")
    r["csv_append_growth"] = (tool.stored(repo) - before) / size
    # 4. branch switch between two datasets
    repo = tool.new_repo("switch")
    for i in range(4):
        random_file(repo / "data" / f"a{i}.bin", size // 4, 10 + i)
    tool.add_commit(repo, "a")
    sh(["git", "switch", "-qc", "b"], repo, tool.env)
    for i in range(4):
        random_file(repo / "data" / f"a{i}.bin", size // 4, 20 + i)
    tool.add_commit(repo, "b")
    times = [tool.switch(repo, br) for br in ("main", "b", "main", "b")]
    r["switch_s"] = sum(times) / len(times)
    # 5. many small files
    repo = tool.new_repo("small")
    rng = np.random.default_rng(5)
    for i in range(small):
        d = repo / "data" / f"d{i // 1000}"
        d.mkdir(exist_ok=True)
        (d / f"f{i}.bin").write_bytes(rng.bytes(int(rng.integers(1024, 20 * 1024))))
    r["small_files_s"] = tool.add_commit(repo, "small")
    for label in ("big", "csv", "switch", "small"):
        shutil.rmtree(tool.root / f"{tool.name}-{label}", ignore_errors=True)


def peak_rss_mb(root: Path, env: dict, mb: int) -> float:
    """Peak RSS of branchml's filter process while adding and checking out a file of `mb` MiB."""
    log = root / "rss.log"
    env = {**env, "BRANCHML_RSS_LOG": str(log)}
    tool = Tool("branchml", root / "rss", env)
    repo = tool.new_repo("rss")
    random_file(repo / "data" / "huge.bin", mb << 20, 7)
    tool.add_commit(repo, "huge")
    (repo / "data" / "huge.bin").unlink()
    sh(["git", "checkout", "--", "data/huge.bin"], repo, env)
    peak = max(int(x) for x in log.read_text().split()) / 1024
    shutil.rmtree(root / "rss", ignore_errors=True)
    return peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=1024, help="size of the large files (MiB)")
    ap.add_argument("--small", type=int, default=50000, help="number of small files")
    ap.add_argument("--rss-mb", type=int, default=0, help="file size for the peak-RSS check (0: 4x --mb)")
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / f"results-{dt.date.today()}.json")
    args = ap.parse_args()
    tools = args.tools.split(",")
    if "lfs" in tools and not ensure_git_lfs():
        print("git-lfs not installable here: skipped", file=sys.stderr)
        tools.remove("lfs")
    dvc = ensure_dvc() if "dvc" in tools else None
    if "dvc" in tools and dvc is None:
        print("dvc not installable here: skipped", file=sys.stderr)
        tools.remove("dvc")
    results: dict = {"config": {"mb": args.mb, "small": args.small, "tools": tools}}
    with tempfile.TemporaryDirectory(prefix="bml-bench-") as tmp:
        root = Path(tmp)
        home = root / "home"
        home.mkdir()
        (home / ".gitconfig").write_text("[user]\n\tname = bench\n\temail = bench@example.com\n")
        env = {**os.environ, "HOME": str(home), "GIT_CONFIG_GLOBAL": str(home / ".gitconfig")}
        for name in tools:
            print(f"== {name}", file=sys.stderr, flush=True)
            bench_tool(Tool(name, root, env, dvc), args.mb, args.small, results)
        rss = args.rss_mb or 4 * args.mb
        results["branchml"]["peak_rss_mb"] = peak_rss_mb(root, env, rss)
        results["branchml"]["peak_rss_file_mb"] = rss
    report(results, tools)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"results written to {args.out}")


def report(results: dict, tools: list[str]) -> None:
    keys = [k for k in results["branchml"] if not k.startswith("peak")]
    peers = [t for t in tools if t != "branchml"]
    header = f"{'measure':22}" + "".join(f"{t:>12}" for t in tools) + "".join(f"{'bml/' + p:>12}" for p in peers)
    print(header)
    for key in keys:
        row = f"{key:22}" + "".join(f"{results[t].get(key, float('nan')):12.3f}" for t in tools)
        for p in peers:
            peer = results[p].get(key)
            row += f"{(results['branchml'][key] / peer) if peer else float('nan'):12.2f}"
        print(row)
    b = results["branchml"]
    print(f"peak RSS of branchml's filter with a {b['peak_rss_file_mb']} MiB file: {b['peak_rss_mb']:.0f} MiB")


if __name__ == "__main__":
    main()
