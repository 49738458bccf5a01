"""branchml and DVC switching the issue's workload turn about, with CPU time: a paired comparison.

    python bench/switch_pair.py                      # 1 GiB a side, 6 switches each, `sync` first
    python bench/switch_pair.py --mb 256 --rounds 4 --no-settle

`bench/run.py` times four switches of one tool, then four of the next: on a shared machine the load
moves between the two, and one run's ratio swung from 0.55x to 2.3x (bench/RESULTS.md, run L).
Here the two tools switch turn about (the order alternating each round) in repositories of the
same shape as run.py's switch workload (two branches of 8 files, `--mb` in all), so both meet the
same load; each switch's wall time and CPU time (user+sys of every process it ran) are printed,
then the medians and their ratios. DVC is installed into its own venv as in run.py.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import run  # bench/run.py: the tools, their set-up, settle() and children_cpu()


def prepare(tool: run.Tool, size: int) -> Path:
    repo = tool.new_repo("switch")
    for i in range(8):
        run.random_file(repo / "data" / f"a{i}.bin", size // 8, 10 + i)
    tool.add_commit(repo, "a")
    tool.branch(repo, "b")
    for i in range(8):
        run.random_file(repo / "data" / f"a{i}.bin", size // 8, 20 + i)
    tool.add_commit(repo, "b")
    return repo


def timed_switch(tool: run.Tool, repo: Path, branch: str) -> tuple[float, float]:
    """(wall, CPU) of one switch; Tool.switch settles first when run.SETTLE is on."""
    cpu = run.children_cpu()
    wall = tool.switch(repo, branch)
    return wall, run.children_cpu() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=1024, help="size of each branch's 8 files together (MiB)")
    ap.add_argument("--rounds", type=int, default=6, help="switches per tool")
    ap.add_argument("--no-settle", action="store_true", help="no `sync` before each switch")
    args = ap.parse_args()
    run.SETTLE = not args.no_settle
    dvc = run.ensure_dvc()
    if dvc is None:
        raise SystemExit("dvc could not be installed here")
    with tempfile.TemporaryDirectory(prefix="bml-pair-") as tmp:
        root = Path(tmp)
        env = run.bench_env(root)
        tools = [run.Tool("branchml", root, env), run.Tool("dvc", root, env, dvc)]
        repos = {tool.name: prepare(tool, args.mb << 20) for tool in tools}
        times: dict[str, list[tuple[float, float]]] = {tool.name: [] for tool in tools}
        print(f"load at start: {os.getloadavg()[0]:.1f}; " + ("`sync` before each switch" if run.SETTLE else "back to back"))
        for k in range(args.rounds):
            branch = "main" if k % 2 == 0 else "b"
            for tool in tools if k % 2 == 0 else tools[::-1]:
                wall, cpu = timed_switch(tool, repos[tool.name], branch)
                times[tool.name].append((wall, cpu))
                print(f"{tool.name:9} -> {branch:4} wall {wall:6.3f} s  CPU {cpu:6.3f} s", flush=True)
        report(times, os.getloadavg()[0])


def report(times: dict[str, list[tuple[float, float]]], load: float) -> None:
    medians = {name: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for name, v in times.items()}
    for name, (wall, cpu) in medians.items():
        print(f"{name:9} median wall {wall:6.3f} s (min {min(w for w, _ in times[name]):.3f})  CPU {cpu:6.3f} s")
    (bw, bc), (dw, dc) = medians["branchml"], medians["dvc"]
    print(f"branchml / DVC: wall {bw / dw:.2f}x, CPU {bc / dc:.2f}x (load at end {load:.1f})")


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"({time.perf_counter() - start:.0f} s)", file=sys.stderr)
