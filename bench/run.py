"""branchml against plain Git, Git LFS, DVC and Oxen, side by side in one run.

    python bench/run.py                 # full size: 1 GiB files, 50,000 small files
    python bench/run.py --mb 64 --small 2000   # a quick run
    python bench/run.py --mb 256 --workloads switch,clone --tools branchml,dvc

DVC and Oxen (`oxenai`) are peers, not dependencies: each is installed from PyPI into its own venv
under the temp folder on first use. Clone and pull use a local-folder remote for every tool (Oxen
needs a server for that, so it has no clone/pull figures).

Prints a table with each peer's time/bytes and the ratio branchml / peer, and writes
bench/results-<date>.json. Times are wall-clock seconds of the whole git command (filter included).

Each timed add, switch, `git status`, clone and pull starts from a quiescent disk: `sync` first, untimed,
for every tool alike (what `hyperfine --prepare sync` does). Otherwise the write-back of one
operation's files lands in the next timed one, and how much of it depends on how a tool renames
its files, not on the operation measured (bench/RESULTS.md, run L). `--no-settle` times them back
to back, as before.
"""

from __future__ import annotations

import argparse
import compileall
import datetime as dt
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TOOLS = ("branchml", "lfs", "dvc", "oxen", "git")
WORKLOADS = ("add", "switch", "clone", "small")
DVC_VENV = Path(tempfile.gettempdir()) / "branchml-bench-dvc"
OXEN_VENV = Path(tempfile.gettempdir()) / "branchml-bench-oxen"
OXEN_DRIVER = Path(__file__).with_name("oxen_driver.py")
DIRECT_PREFIX = "badd_"  # branchml's add workload staged with `branchml add` (compared with the peers' plain keys)
ROUNDS = 3  # 1% changes committed one after the other in the add workload (--rounds)
SETTLE = True  # `sync` before each timed add/switch/status/clone/pull (--no-settle: back to back)


def bench_env(root: Path) -> dict[str, str]:
    """The environment every tool runs in: a home of its own under `root`, with a Git identity."""
    home = root / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = bench\n\temail = bench@example.com\n")
    return {**os.environ, "HOME": str(home), "GIT_CONFIG_GLOBAL": str(home / ".gitconfig")}


def settle() -> None:
    """A quiescent start: the previous steps' dirty pages written back, outside the timing."""
    if SETTLE:
        os.sync()


def compile_branchml() -> None:
    """Byte-compile the branchml that the runs import, as installing a package does (pip, Debian):
    the peers' wheels are compiled when their venvs are made. With PYTHONDONTWRITEBYTECODE set (so
    on this machine) an editable checkout never writes its .pyc files, and each filter and hook
    start recompiled every module changed since they were last written: 20-40 ms of CPU per start."""
    spec = importlib.util.find_spec("branchml")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        compileall.compile_dir(folder, quiet=1)


def children_cpu() -> float:
    """User+sys seconds of every command this bench ran and waited for, with all they waited for
    (the filter process and the hooks under Git): comparable when the machine is loaded."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


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


def ensure_oxen() -> str | None:
    """The python of a venv holding `oxenai` (its wheel has no CLI: bench/oxen_driver.py drives it)."""
    python = OXEN_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(OXEN_VENV)], capture_output=True)
        subprocess.run([str(OXEN_VENV / "bin" / "pip"), "install", "-q", "oxenai"], capture_output=True)
    ok = python.exists() and subprocess.run([str(python), "-c", "import oxen"], capture_output=True).returncode == 0
    return str(python) if ok else None


def du(path: Path) -> int:
    if not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class Tool:
    def __init__(self, name: str, root: Path, env: dict, dvc: str | None = None, oxen: str | None = None,
                 direct: bool = False) -> None:
        self.name, self.root, self.env, self.dvc, self.oxen = name, root, env, dvc, oxen
        self.direct = direct  # branchml only: `branchml add` instead of `git add -A` (DIRECT_PREFIX keys)

    def stage(self, repo: Path) -> float:
        """`git add -A`, or for the direct variant `branchml add` (the tracked files read outside Git's pipe)."""
        if self.direct:
            return sh([sys.executable, "-m", "branchml", "add"], repo, self.env)
        return sh(["git", "add", "-A"], repo, self.env)

    def oxen_step(self, repo: Path, *args: str) -> float:
        return sh([str(self.oxen), str(OXEN_DRIVER), *args], repo, self.env)

    def new_repo(self, label: str) -> Path:
        path = self.root / f"{self.name}-{'badd-' * self.direct}{label}"
        path.mkdir(parents=True)
        if self.name == "oxen":
            self.oxen_step(path, "init")
            (path / "data").mkdir()
            (path / "data" / "README").write_text(label)
            self.oxen_step(path, "commit", "setup")
            return path
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
            "oxen": repo / ".oxen",
        }
        return du(repo / ".git" / "objects") + (du(extra[self.name]) if self.name in extra else 0)

    def add_commit(self, repo: Path, msg: str) -> float:
        if self.name == "oxen":
            return self.oxen_step(repo, "commit", msg)
        spent = sh([self.dvc, "add", "-q", "data"], repo, self.env) if self.name == "dvc" else 0.0
        return spent + self.stage(repo) + sh(["git", "commit", "-qm", msg], repo, self.env)

    def readd(self, repo: Path) -> float:
        if self.name == "oxen":
            return self.oxen_step(repo, "add")
        if self.name == "dvc":
            return sh([self.dvc, "add", "-q", "data"], repo, self.env)
        return self.stage(repo)

    def push(self, repo: Path) -> float:
        spent = sh(["git", "push", "-q", "origin", "main"], repo, self.env)  # branchml/LFS upload in pre-push
        if self.name == "dvc":
            spent += sh([self.dvc, "push", "-q"], repo, self.env)
        return spent

    def clone(self, server: Path, copy: Path) -> float:
        settle()
        if self.name == "branchml":
            return sh([sys.executable, "-m", "branchml", "clone", str(server), str(copy)], server.parent, self.env)
        spent = sh(["git", "clone", "-q", str(server), str(copy)], server.parent, self.env)
        if self.name == "dvc":
            spent += sh([self.dvc, "pull", "-q"], copy, self.env)
        return spent

    def pull(self, copy: Path) -> float:
        settle()
        spent = sh(["git", "pull", "-q", "--ff-only", "origin", "main"], copy, self.env)
        if self.name == "dvc":
            spent += sh([self.dvc, "pull", "-q"], copy, self.env)
        return spent

    def fetched(self, copy: Path) -> int:
        """Bytes of blob data the clone holds (what it downloaded)."""
        return self.stored(copy) - du(copy / ".git" / "objects")

    def branch(self, repo: Path, name: str) -> None:
        if self.name == "oxen":
            self.oxen_step(repo, "branch", name)
        else:
            sh(["git", "switch", "-qc", name], repo, self.env)

    def switch(self, repo: Path, branch: str) -> float:
        settle()
        if self.name == "oxen":
            return self.oxen_step(repo, "checkout", branch)
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


def bench_tool(tool: Tool, mb: int, small: int, results: dict, workloads: list[str]) -> None:
    r = results.setdefault(tool.name, {})
    for name in workloads:
        if name == "clone" and tool.name in ("oxen", "git"):
            continue  # Oxen clones from a server only; plain Git has no separate blob transfer
        print(f"   {name}", file=sys.stderr, flush=True)
        WORKLOAD[name](tool, mb << 20, small, r)
        if name == "add" and tool.name == "branchml":  # both ways to stage: `git add -A` above, `branchml add` here
            print("   add (branchml add)", file=sys.stderr, flush=True)
            direct: dict = {}
            bench_add(Tool(tool.name, tool.root, tool.env, direct=True), mb << 20, small, direct)
            r.update({DIRECT_PREFIX + key: value for key, value in direct.items()})
    for path in tool.root.glob(f"{tool.name}-*"):
        shutil.rmtree(path, ignore_errors=True)


def bench_add(tool: Tool, size: int, small: int, r: dict) -> None:
    # 1. add+commit of a random file, then re-add after touch
    repo = tool.new_repo("big")
    random_file(repo / "data" / "big.bin", size, 1)
    base = tool.stored(repo)
    settle()  # the 1 GiB just written is not flushed during the timed add
    r["add_commit_s"] = tool.add_commit(repo, "big")
    os.utime(repo / "data" / "big.bin")
    settle()
    r["readd_touch_s"] = tool.readd(repo)
    # 2. 1% of the bytes changed in the middle, ROUNDS times (a new 1% each): the median is the figure,
    # since one tool's single add can vary 2x between runs (Oxen: 1.9-5.3 s, bench/RESULTS.md run M)
    r["big_stored_ratio"] = (tool.stored(repo) - base) / size
    rounds, growth = [], []
    for seed in range(2, 2 + ROUNDS):
        change_one_percent(repo / "data" / "big.bin", size, seed)
        before = tool.stored(repo)
        settle()
        rounds.append(tool.add_commit(repo, f"1pct {seed}"))
        growth.append((tool.stored(repo) - before) / size)
    r["binary_1pct_s"] = float(np.median(rounds))
    r["binary_1pct_growth"] = float(np.median(growth))
    r["binary_1pct_rounds_s"] = rounds
    # 3. CSV then 1% rows appended
    repo = tool.new_repo("csv")
    csv_file(repo / "data" / "t.csv", size, 3)
    settle()
    r["csv_add_commit_s"] = tool.add_commit(repo, "csv")
    before = tool.stored(repo)
    csv_file(repo / "data" / "t.csv", size // 100, 10**9, mode="ab")
    settle()
    r["csv_append_s"] = tool.add_commit(repo, "append")
    r["csv_append_growth"] = (tool.stored(repo) - before) / size


def change_one_percent(path: Path, size: int, seed: int) -> None:
    with open(path, "r+b") as f:
        f.seek(size // 2)
        f.write(np.random.default_rng(seed).bytes(size // 100))


def bench_switch(tool: Tool, size: int, small: int, r: dict) -> None:
    """Switch between two branches of 8 files each (size/8 each side), then `git status`."""
    repo = tool.new_repo("switch")
    for i in range(8):
        random_file(repo / "data" / f"a{i}.bin", size // 8, 10 + i)
    tool.add_commit(repo, "a")
    tool.branch(repo, "b")
    for i in range(8):
        random_file(repo / "data" / f"a{i}.bin", size // 8, 20 + i)
    tool.add_commit(repo, "b")
    cpu = children_cpu()
    times = [tool.switch(repo, br) for br in ("main", "b", "main", "b")]
    r["switch_s"] = sum(times) / len(times)
    r["switch_cpu_s"] = (children_cpu() - cpu) / len(times)
    if tool.name != "oxen":
        settle()
        r["status_after_switch_s"] = sh(["git", "status", "--porcelain"], repo, tool.env)


def bench_clone(tool: Tool, size: int, small: int, r: dict) -> None:
    """Push to a local bare repo (+ local-folder blob remote), clone with files, then pull a 1% change."""
    src = tool.new_repo("clone-src")
    server, blobs = tool.root / f"{tool.name}-clone-server.git", tool.root / f"{tool.name}-clone-blobs"
    sh(["git", "init", "-q", "--bare", "-b", "main", str(server)], tool.root, tool.env)
    sh(["git", "remote", "add", "origin", str(server)], src, tool.env)
    if tool.name == "branchml":
        sh([sys.executable, "-m", "branchml", "remote", "add", "origin", str(blobs)], src, tool.env)
        sh(["git", "add", "-A"], src, tool.env)
        sh(["git", "commit", "-qm", "remote"], src, tool.env)
    elif tool.name == "dvc":
        sh([tool.dvc, "remote", "add", "-d", "origin", str(blobs)], src, tool.env)
    random_file(src / "data" / "big.bin", size, 30)
    tool.add_commit(src, "big")
    tool.push(src)
    copy = tool.root / f"{tool.name}-clone-copy"
    cpu = children_cpu()
    r["clone_s"] = tool.clone(server, copy)
    r["clone_cpu_s"] = children_cpu() - cpu
    change_one_percent(src / "data" / "big.bin", size, 31)
    tool.add_commit(src, "1pct")
    tool.push(src)
    before = tool.fetched(copy)
    r["pull_1pct_s"] = tool.pull(copy)
    r["pull_1pct_downloaded"] = (tool.fetched(copy) - before) / size
    if (copy / "data" / "big.bin").read_bytes() != (src / "data" / "big.bin").read_bytes():
        raise SystemExit(f"{tool.name}: pulled file differs from the pushed one")


def bench_small(tool: Tool, size: int, small: int, r: dict) -> None:
    repo = tool.new_repo("small")
    rng = np.random.default_rng(5)
    for i in range(small):
        d = repo / "data" / f"d{i // 1000}"
        d.mkdir(exist_ok=True)
        (d / f"f{i}.bin").write_bytes(rng.bytes(int(rng.integers(1024, 20 * 1024))))
    r["small_files_s"] = tool.add_commit(repo, "small")


WORKLOAD = {"add": bench_add, "switch": bench_switch, "clone": bench_clone, "small": bench_small}


def repeated_file(path: Path, size: int, seed: int) -> None:
    """One random MiB, repeated: the chunks repeat too, so the store keeps about a MiB of it, while
    checking it out still reads, verifies and writes every byte (a 10 GiB run needs no 20 GiB of disk)."""
    block = np.random.default_rng(seed).bytes(1 << 20)
    with open(path, "wb") as f:
        for _ in range(size >> 20):
            f.write(block)


def peak_rss_mb(root: Path, env: dict, mb: int, repeated: bool = False) -> dict:
    """Peak RSS while checking out a file of `mb` MiB: of branchml's own processes (filter, hooks:
    BRANCHML_RSS_LOG), and of the whole checkout (Git and every process it waited for: GNU time)."""
    log = root / "rss.log"
    env = {**env, "BRANCHML_RSS_LOG": str(log)}
    tool = Tool("branchml", root / "rss", env)
    repo = tool.new_repo("rss")
    (repeated_file if repeated else random_file)(repo / "data" / "huge.bin", mb << 20, 7)
    tool.add_commit(repo, "huge")
    (repo / "data" / "huge.bin").unlink()
    log.write_text("")
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", "git", "checkout", "--", "data/huge.bin"], cwd=repo,
                          env=env, capture_output=True, check=True)
    spent = time.perf_counter() - start
    if (repo / "data" / "huge.bin").stat().st_size != mb << 20:
        raise SystemExit("peak RSS check: the file was not materialised")
    own = max(int(x) for x in log.read_text().split()) / 1024
    everything = int(proc.stderr.decode().strip().splitlines()[-1]) / 1024
    shutil.rmtree(root / "rss", ignore_errors=True)
    return {"peak_rss_branchml_mb": own, "peak_rss_checkout_mb": everything, "peak_rss_file_mb": mb,
            "peak_rss_checkout_s": spent}


def main() -> None:
    global SETTLE, ROUNDS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=1024, help="size of the large files (MiB)")
    ap.add_argument("--small", type=int, default=50000, help="number of small files")
    ap.add_argument("--rss-mb", type=int, default=0, help="file size for the peak-RSS check (0: 4x --mb, -1: skip)")
    ap.add_argument("--rss-repeated", action="store_true",
                    help="the peak-RSS file is one random MiB repeated (stored once; still written whole)")
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="of " + ",".join(WORKLOADS))
    ap.add_argument("--rounds", type=int, default=ROUNDS,
                    help="1%% changes committed in a row in the add workload; the median is reported")
    ap.add_argument("--no-settle", action="store_true",
                    help="time add/switch/status/clone/pull back to back, without a `sync` before each")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / f"results-{dt.date.today()}.json")
    args = ap.parse_args()
    SETTLE = not args.no_settle
    ROUNDS = max(1, args.rounds)
    tools = args.tools.split(",")
    if "lfs" in tools and not ensure_git_lfs():
        print("git-lfs not installable here: skipped", file=sys.stderr)
        tools.remove("lfs")
    dvc = ensure_dvc() if "dvc" in tools else None
    if "dvc" in tools and dvc is None:
        print("dvc not installable here: skipped", file=sys.stderr)
        tools.remove("dvc")
    oxen = ensure_oxen() if "oxen" in tools else None
    if "oxen" in tools and oxen is None:
        print("oxenai not installable here: skipped", file=sys.stderr)
        tools.remove("oxen")
    workloads = [w for w in args.workloads.split(",") if w]  # "": only the peak-RSS check
    if "branchml" in tools:
        compile_branchml()
    results: dict = {"config": {"mb": args.mb, "small": args.small, "tools": tools, "settle": SETTLE}}
    with tempfile.TemporaryDirectory(prefix="bml-bench-") as tmp:
        root = Path(tmp)
        env = bench_env(root)
        for name in tools:
            print(f"== {name}", file=sys.stderr, flush=True)
            bench_tool(Tool(name, root, env, dvc, oxen), args.mb, args.small, results, workloads)
            args.out.write_text(json.dumps(results, indent=2))  # kept if a later tool fails
        rss = args.rss_mb or 4 * args.mb
        if "branchml" in tools and rss > 0:
            results.setdefault("branchml", {}).update(peak_rss_mb(root, env, rss, args.rss_repeated))
    report(results, tools)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"results written to {args.out}")


def report(results: dict, tools: list[str]) -> None:
    keys = list(dict.fromkeys(k for t in tools for k, v in results.get(t, {}).items()
                              if not k.startswith("peak") and isinstance(v, (int, float))))
    peers = [t for t in tools if t != "branchml"]
    header = f"{'measure':26}" + "".join(f"{t:>12}" for t in tools) + "".join(f"{'bml/' + p:>12}" for p in peers)
    print("add, switch, status, clone, pull timed " + ("each after a `sync`" if SETTLE else "back to back (--no-settle)"))
    print(header)
    for key in keys:
        row = f"{key:26}" + "".join(f"{results[t].get(key, float('nan')):12.3f}" for t in tools)
        for p in peers:
            peer = results[p].get(key.removeprefix(DIRECT_PREFIX))
            mine = results.get("branchml", {}).get(key)
            row += f"{(mine / peer) if peer and mine is not None else float('nan'):12.2f}"
        print(row)
    for t in tools:
        for key, value in results.get(t, {}).items():
            if key.endswith("_rounds_s"):
                print(f"{t} {key}: " + ", ".join(f"{v:.3f}" for v in value))
    b = results.get("branchml", {})
    if "peak_rss_file_mb" in b:
        print(f"peak RSS checking out a {b['peak_rss_file_mb']} MiB file: branchml's processes "
              f"{b['peak_rss_branchml_mb']:.0f} MiB, Git and all it ran {b['peak_rss_checkout_mb']:.0f} MiB "
              f"({b['peak_rss_checkout_s']:.1f} s)")


if __name__ == "__main__":
    main()
