"""Merge-driver scaling: time and peak RSS of `jsonlist`/`rows` merges of large sides.

    python bench/merge.py [--mb 500] [--json-mb 50] [--peer-elements 16000]

Each case writes base/ours/theirs into a temporary folder (ours edits every 1000th record and
appends; theirs deletes every 997th and appends: a real three-way merge, not the append-only
shortcut), then runs `branchml merge-driver` in a child process and reports its wall time and peak
RSS (getrusage of that child alone). The peer is the previous, in-memory implementation (commit
ca6b526, taken with `git archive`), run on the same small list in the same run: ratios, not
absolute times, are what compare on a loaded machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEER = "ca6b526"
PROBE = ("import resource, subprocess, sys, time\n"
         "t = time.perf_counter(); code = subprocess.run(sys.argv[1:]).returncode\n"
         "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
         "sys.exit(0 if code in (0, 1) else code)\n")


def write_sides(folder: Path, n: int, record) -> None:
    """base: n records; ours: every 1000th edited, 10 appended; theirs: every 997th deleted, 10 appended."""
    with open(folder / "O", "wb") as o, open(folder / "A", "wb") as a, open(folder / "B", "wb") as b:
        for out in (o, a, b):
            out.write(record(None, b""))
        for i in range(n):
            o.write(record(i, b""))
            a.write(record(i, b"ours" if i % 1000 == 0 else b""))
            if i % 997:
                b.write(record(i, b""))
        for i in range(n, n + 10):
            a.write(record(i, b"ours"))
            b.write(record(i, b"theirs"))


def jsonl(i, tag):
    return b"" if i is None else b'{"id": %d, "text": "%s", "score": %f, "tag": "%s"}\n' % (i, b"t" * 60, i / 7, tag)


def csv_row(i, tag):
    return b"id,text,score,tag\n" if i is None else b"%d,%s,%f,%s\n" % (i, b"t" * 60, i / 7, tag)


def json_array(folder: Path, n: int) -> None:
    items = [{"run": i, "params": {"lr": i / 1000, "depth": i % 9}, "metrics": {"loss": i / 7}, "tags": ["a", "b"]}
             for i in range(n)]
    ours = [dict(x, note="ours") if x["run"] % 1000 == 0 else x for x in items] + [{"run": "ours"}]
    theirs = [x for x in items if x["run"] % 997] + [{"run": "theirs"}]
    for name, value in (("O", items), ("A", ours), ("B", theirs)):
        (folder / name).write_text(json.dumps(value, indent=2) + "\n")


def run_driver(folder: Path, driver: str, path: str, pythonpath: Path) -> tuple[float, int]:
    args = [sys.executable, "-m", "branchml", "merge-driver", driver, "O", "A", "B", path, "7"]
    env = {"PYTHONPATH": str(pythonpath), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=folder, capture_output=True, env=env, check=False)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr.decode())
    seconds, kib = proc.stdout.split()[-2:]
    return float(seconds), int(kib)


def case(name: str, make, driver: str, path: str, pythonpath: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-merge-") as tmp:
        folder = Path(tmp)
        make(folder)
        size = (folder / "O").stat().st_size
        seconds, kib = run_driver(folder, driver, path, pythonpath)
    row = {"case": name, "side_mb": round(size / 1e6, 1), "seconds": round(seconds, 1), "peak_rss_mib": round(kib / 1024, 1)}
    print(json.dumps(row), flush=True)
    return row


def peer_source(folder: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", PEER, "src"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder / "src"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=500, help="size of each JSONL/CSV side")
    parser.add_argument("--json-mb", type=int, default=50, help="size of the JSON array side")
    parser.add_argument("--peer-elements", type=int, default=16000)
    parser.add_argument("--cases", default="jsonl,csv,json,peer", help="which cases, comma-separated")
    args = parser.parse_args()
    cases = set(args.cases.split(","))
    src = ROOT / "src"
    rows = args.mb * 1_000_000 // len(jsonl(0, b""))
    elements = args.json_mb * 1_000_000 // 200
    if "jsonl" in cases:
        case("rows: JSON Lines", lambda f: write_sides(f, rows, jsonl), "rows", "x.jsonl", src)
    if "csv" in cases:
        csv_rows = args.mb * 1_000_000 // len(csv_row(0, b""))
        case("rows: CSV", lambda f: write_sides(f, csv_rows, csv_row), "rows", "x.csv", src)
    if "json" in cases:
        case("jsonlist: JSON array", lambda f: json_array(f, elements), "jsonlist", "x.json", src)
    if "peer" not in cases:
        return
    with tempfile.TemporaryDirectory(prefix="bench-peer-") as tmp:
        old = peer_source(Path(tmp))
        for label, pythonpath in (("peer (in-memory, ca6b526)", old), ("this checkout", src)):
            case(f"jsonlist {args.peer_elements} elements, {label}",
                 lambda f: json_array(f, args.peer_elements), "jsonlist", "x.json", pythonpath)


if __name__ == "__main__":
    main()
