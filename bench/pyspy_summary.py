"""Summarise a py-spy raw profile (`py-spy record -f raw -o FILE ...`) by process and by frame.

    py-spy record --subprocesses --idle -r 50 -f raw -o prof.txt -- git switch -q b
    python bench/pyspy_summary.py prof.txt              # samples per process, then per leaf
    python bench/pyspy_summary.py prof.txt --depth 5    # grouped by the 5th branchml frame too

Each line of a raw profile is `frame;frame;... count`. Samples are grouped by the process (the
outermost `process ...` frame), by the deepest branchml frame and by the leaf frame, which is
enough to see where a workload's threads spend their time (bench/RESULTS.md cites these tables).
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path


def summarise(path: Path, depth: int, top: int) -> None:
    processes: collections.Counter[str] = collections.Counter()
    frames: collections.Counter[tuple[str, ...]] = collections.Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        parts = stack.split(";")
        owners = [p for p in parts if p.startswith("process ")]
        processes[owners[-1][:100] if owners else "(this process)"] += n
        ours = [p for p in parts if "branchml/" in p]
        key = (ours[depth][:60] if depth and len(ours) > depth else "", ours[-1][:70] if ours else "", parts[-1][:60])
        frames[key] += n
    print("samples  process")
    for name, n in processes.most_common():
        print(f"{n:7d}  {name}")
    print("\nsamples  (grouping frame, deepest branchml frame, leaf)")
    for key, n in frames.most_common(top):
        print(f"{n:7d}  {key}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--depth", type=int, default=0, help="also group by the n-th branchml frame (0: no)")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    summarise(args.profile, args.depth, args.top)


if __name__ == "__main__":
    main()
