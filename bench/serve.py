"""`branchml serve` with logging on and off, and `mlflow models serve` on the same model, in one run.

    python bench/serve.py                          # 10 s per phase, latency at 500 requests/s
    python bench/serve.py --seconds 5 --rate 100,200,500 --no-mlflow
    python bench/serve.py --seconds 8 --rate 500 --repeat 5 --phases off,on --no-saturation --no-mlflow

A tag is trained with `branchml run` in a temporary repository (the digits model of
bench/serve_model.py: logistic regression saved with skops, 64 pixel columns). Each server runs in
its own process(es) on loopback:
- saturation: `--concurrency` clients send one-row requests back to back (`hey` when it is on PATH,
  `apt-get install hey`; else an httpx/asyncio loop, which costs more CPU than the server);
  requests/s, and the server's own CPU time per request (user+system of its process tree, psutil),
  the figure the machine's load disturbs least;
- fixed rate, for each `--rate`: bench/pace.py sends one-row requests evenly spaced (open loop,
  kept-alive connections, latency from each request's due time); p50/p99 in ms, the rate reached,
  and how late the generator itself sent (its p99), which says how much of a p99 is the machine.
Phases: logging off; on (the default: the journal line is written before the answer and flushed
within a second); on with `--fsync` (each answer waits for its flush); off and on with
`--workers 2`; then MLflow. `--repeat N` runs every phase N times, interleaved, and reports each
figure as the median of its runs, and logging's p99 cost also as the median of the per-run
differences (one noisy run cannot decide). The monitor branch's commit and record counts are printed after each
logging server stops. MLflow (a peer, not our dependency) runs from its own venv under the temp
folder with pandas added; the model is saved with `mlflow.sklearn.save_model`.
Writes bench/serve-results-<date>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

SRC = Path(__file__).resolve().parents[1] / "src"
MLFLOW_VENV = Path(tempfile.gettempdir()) / "branchml-bench-mlflow"
sys.path.insert(0, str(SRC))

import pace  # noqa: E402  (bench/pace.py: the even-rate load)
import serve_model as scripts  # noqa: E402  (the digits model; bench/serve_model.py)


def sh(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, env=env, check=False)
    if proc.returncode:
        raise SystemExit(f"{' '.join(args)} failed in {cwd}: {proc.stderr.decode(errors='replace')}")
    return proc.stdout.decode()


def trained_repo(root: Path, env: dict[str, str]) -> tuple[Path, list[list[float]]]:
    """A repository with tag bench-1 (the demo's linear model) and some rows to send."""
    repo = root / "repo"
    sh([sys.executable, "-m", "branchml", "init", str(repo)], root, env)
    dataset = scripts.digits_csv()
    sh(["git", "switch", "-qc", "stable/bench"], repo, env)
    (repo / "data").mkdir()
    (repo / "data/train.csv").write_text("\n".join(dataset) + "\n")
    (repo / "train.py").write_text(scripts.LINEAR + scripts.TRAIN_TAIL)
    (repo / "predict.py").write_text(scripts.PREDICT)
    settings = re.sub(r"(?ms)^\[serve\]\n.*?(?=^\[|\Z)", "", (repo / "branchml.toml").read_text())
    serve = "".join(f"{k} = {json.dumps(v)}\n" for k, v in scripts.SERVE_SETTINGS.items())
    (repo / "branchml.toml").write_text(settings + "\n[serve]\n" + serve)
    sh([sys.executable, "-m", "branchml", "track", "models/**"], repo, env)
    sh(["git", "add", "-A"], repo, env)
    sh(["git", "commit", "-qm", "bench"], repo, env)
    sh([sys.executable, "-m", "branchml", "run", "--tag", "bench-1", "--", sys.executable, "train.py"], repo, env)
    rows = [[float(v) for v in line.split(",")[:-1]] for line in dataset[1:201]]
    return repo, rows


def start(args: list[str], cwd: Path, env: dict[str, str], log: Path, url: str | None = None) -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    for _ in range(1200):
        found = url or (m.group(1) if (m := re.search(r"on (http://127\.0\.0\.1:\d+)", log.read_text())) else None)
        if found:
            try:
                if httpx.get(found + "/ping", timeout=5).status_code == 200:
                    return proc, found
            except httpx.TransportError:
                pass
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {log.read_text()[-2000:]}")
        time.sleep(0.1)
    raise SystemExit(f"server did not start: {log.read_text()[-2000:]}")


def body(rows: list[list[float]], i: int) -> bytes:
    return json.dumps({"dataframe_split": {"columns": [f"p{c}" for c in range(64)], "data": [rows[i % len(rows)]]}}).encode()


async def saturate(url: str, rows: list[list[float]], seconds: float, concurrency: int) -> float:
    done = 0
    end = time.perf_counter() + seconds

    async def worker(client: httpx.AsyncClient, k: int) -> None:
        nonlocal done
        i = k
        while time.perf_counter() < end:
            answer = await client.post("/invocations", content=body(rows, i), headers={"content-type": "application/json"})
            answer.raise_for_status()
            done += 1
            i += concurrency

    start_time = time.perf_counter()
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        await asyncio.gather(*(worker(client, k) for k in range(concurrency)))
    return done / (time.perf_counter() - start_time)


def hey(url: str, body_file: Path, seconds: float, workers: int) -> dict[str, float]:
    """Run hey against /invocations, back to back; requests/s, p50/p99 latency (ms) and errors, from its CSV."""
    args = ["hey", "-z", f"{seconds}s", "-c", str(workers), "-m", "POST", "-T", "application/json",
            "-D", str(body_file), "-o", "csv"]
    out = subprocess.run([*args, f"{url}/invocations"], capture_output=True, check=True).stdout.decode()
    rows = [line.split(",") for line in out.splitlines()[1:] if line]
    times = sorted(float(r[0]) * 1000 for r in rows if r[6] == "200")
    return {"rps": len(rows) / seconds, "p50_ms": statistics.median(times), "p99_ms": times[int(len(times) * 0.99) - 1],
            "errors": float(sum(r[6] != "200" for r in rows))}


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User+system CPU time of a process tree (MLflow serves from a uvicorn child; branchml commits
    from a committer child, whose Git processes count once it has collected them), and of the
    process itself alone (for one branchml process: the answers, without the committer's work)."""
    import psutil  # bench-only dependency: the server's own CPU cost per request

    proc = psutil.Process(pid)
    tree = [proc, *proc.children(recursive=True)]
    total = sum(t.user + t.system + t.children_user + t.children_system for t in (p.cpu_times() for p in tree))
    own = proc.cpu_times()
    return total, own.user + own.system


def measure(name: str, url: str, rows: list[list[float]], opts: argparse.Namespace, pid: int) -> dict[str, object]:
    body_file = Path(tempfile.mkstemp(suffix=".json")[1])
    body_file.write_bytes(body(rows, 0))
    use_hey = shutil.which("hey") is not None and not opts.httpx
    asyncio.run(saturate(url, rows, 1.0, 4))  # warm-up
    result: dict[str, object] = {}
    if not opts.no_saturation:
        cpu0 = cpu_seconds(pid)
        if use_hey:
            rps = hey(url, body_file, opts.seconds, opts.concurrency)["rps"]
        else:
            rps = asyncio.run(saturate(url, rows, opts.seconds, opts.concurrency))
        cpu1 = cpu_seconds(pid)
        cpu_ms, own_ms = ((after - before) * 1000 / max(rps * opts.seconds, 1) for after, before in zip(cpu1, cpu0))
        print(f"{name:<26} {rps:8.0f} req/s at saturation ({opts.concurrency} clients), server CPU {cpu_ms:.2f} ms/request "
              f"({own_ms:.2f} in the main process)", flush=True)
        result = {"saturation_rps": rps, "cpu_ms_per_request": cpu_ms, "main_process_cpu_ms_per_request": own_ms,
                  "saturation_generator": "hey" if use_hey else "httpx"}
    port = int(url.rsplit(":", 1)[1])
    for rate in opts.rates:
        fixed = asyncio.run(pace.run("127.0.0.1", port, "/invocations", body(rows, 0), rate, opts.seconds))
        result[f"at_{rate:g}"] = fixed
        print(f"{name:<26} at {rate:4.0f}/s: p50 {fixed['p50_ms']:6.2f} ms  p99 {fixed['p99_ms']:7.2f} ms  "
              f"(reached {fixed['reached_rps']:.0f}/s, {fixed['errors']:.0f} errors, "
              f"generator late p99 {fixed['send_late_p99_ms']:.2f} ms)", flush=True)
    body_file.unlink()
    return result


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(120)


def bench_branchml(repo: Path, rows: list[list[float]], env: dict[str, str], opts: argparse.Namespace,
                   name: str, flags: list[str], run: int = 1) -> dict[str, object]:
    where = "bench-" + re.sub(r"[^a-z0-9]+", "-", name) + f"-{run}"
    args = [sys.executable, "-m", "branchml", "serve", "bench-1", "--port", "0", "--env", where, *flags]
    proc, url = start(args, repo, env, repo.parent / f"serve-{where}.err")
    try:
        result = measure(name, url, rows, opts, proc.pid)
    finally:
        stop(proc)
    if "--no-log" not in flags:
        result["commits"] = int(sh(["git", "rev-list", "--count", f"monitor/{where}"], repo, env))
        out = sh([sys.executable, "-m", "branchml", "monitor", "logs", "--tag", "bench-1", "--env", where, "--json"], repo, env)
        logs = json.loads(out)[0]
        result["records"] = logs["count"]
        predict_ms = sorted(r["latency_ms"] for r in logs["records"])  # the server's own view: the tag's predict
        result["predict_p50_ms"], result["predict_p99_ms"] = statistics.median(predict_ms), predict_ms[int(len(predict_ms) * 0.99) - 1]
        print(f"{'':<26} monitor/{where}: {result['records']} records in {result['commits']} commits; "
              f"predict time in the server p50 {result['predict_p50_ms']:.3f} ms, p99 {result['predict_p99_ms']:.3f} ms", flush=True)
    return result


def ensure_mlflow() -> Path | None:
    """A venv (system site packages: mlflow-skinny, scikit-learn, uvicorn) plus pandas; None if it fails."""
    python = MLFLOW_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(MLFLOW_VENV)], capture_output=True, check=False)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "pandas", "mlflow-skinny"], capture_output=True, check=False)
    # `mlflow models serve` execs `uvicorn` from PATH: make it this venv's interpreter.
    shim = MLFLOW_VENV / "bin" / "uvicorn"
    shim.write_text(f'#!/bin/sh\nexec "{python}" -m uvicorn "$@"\n')
    shim.chmod(0o755)
    ok = subprocess.run([str(python), "-c", "import pandas, mlflow.sklearn"], capture_output=True, check=False).returncode == 0
    return python if ok else None


def bench_mlflow(repo: Path, rows: list[list[float]], env: dict[str, str], opts: argparse.Namespace) -> dict[str, float] | str:
    python = ensure_mlflow()
    if python is None:
        return "mlflow with pandas could not be installed in its own venv"
    model_dir = repo.parent / "mlflow-model"
    save = ("import skops.io as sio, mlflow.sklearn\n"
            f"model = sio.load({str(repo / 'models/model.skops')!r}, trusted=None)\n"
            f"mlflow.sklearn.save_model(model, {str(model_dir)!r})\n")
    sh([str(python), "-W", "ignore", "-c", save], repo, env)
    port = 5000 + os.getpid() % 1000
    menv = {**env, "PATH": f"{MLFLOW_VENV / 'bin'}{os.pathsep}{env['PATH']}"}
    args = [str(python), "-m", "mlflow", "models", "serve", "-m", str(model_dir), "-p", str(port), "-h", "127.0.0.1",
            "--env-manager", "local"]
    proc, url = start(args, repo, menv, repo.parent / "mlflow.err", f"http://127.0.0.1:{port}")
    try:
        # MLflow gets the same rows already scaled (its model has no predict.py): same model work.
        scaled = [[v / 16.0 for v in row] for row in rows]
        return measure("mlflow models serve", url, scaled, opts, proc.pid)
    finally:
        stop(proc)


PHASES = {  # name: serve flags
    "logging off": ["--no-log"],
    "logging on": [],
    "logging on, --fsync": ["--fsync"],
    "logging off, 2 workers": ["--no-log", "--workers", "2"],
    "logging on, 2 workers": ["--workers", "2"],
}
SHORT = dict(zip(["off", "on", "fsync", "off2", "on2"], PHASES))  # --phases names


def median_of(runs: list[dict[str, object]]) -> dict[str, object]:
    """Each number the median of its runs (nested `at_<rate>` results too); the runs kept under "runs"."""
    merged: dict[str, object] = {}
    for key, first in runs[0].items():
        values = [run[key] for run in runs]
        if isinstance(first, dict):
            merged[key] = {k: statistics.median(float(v[k]) for v in values) for k in first}  # type: ignore[attr-defined]
        elif isinstance(first, (int, float)):
            merged[key] = statistics.median(float(v) for v in values)  # type: ignore[arg-type]
        else:
            merged[key] = first
    return {**merged, "runs": runs} if len(runs) > 1 else merged


def bench_phases(repo: Path, rows: list[list[float]], env: dict[str, str], opts: argparse.Namespace) -> dict[str, object]:
    """Every chosen phase, `--repeat` times, interleaved (run 1 of each phase, then run 2...), so a
    noisy minute of the machine lands on every phase alike; each figure is the median of the runs."""
    runs: dict[str, list[dict[str, object]]] = {name: [] for name in opts.phases}
    for run in range(1, opts.repeat + 1):
        print(f"-- run {run} of {opts.repeat}, load {os.getloadavg()[0]:.1f}", flush=True)
        for name in opts.phases:
            runs[name].append(bench_branchml(repo, rows, env, opts, name, PHASES[name], run))
    return {name: median_of(found) for name, found in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", default="500", help="requests/s for the latency phase; several: 100,200,500")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--no-mlflow", action="store_true")
    parser.add_argument("--httpx", action="store_true", help="the Python load generator even when hey is installed")
    parser.add_argument("--repeat", type=int, default=1, help="runs of every phase; figures are their medians")
    parser.add_argument("--phases", default=",".join(SHORT), help=f"some of {','.join(SHORT)}")
    parser.add_argument("--no-saturation", action="store_true", help="only the fixed-rate latency phases")
    opts = parser.parse_args()
    opts.rates = [float(r) for r in opts.rate.split(",")]
    opts.phases = [SHORT[p] for p in opts.phases.split(",")]
    root = Path(tempfile.mkdtemp(prefix="branchml-bench-serve-"))
    env = {**os.environ, "PYTHONPATH": str(SRC), "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@invalid",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@invalid"}
    try:
        repo, rows = trained_repo(root, env)
        print(f"cpus {os.cpu_count()}, load {os.getloadavg()[0]:.1f}; {opts.seconds:.0f} s per phase", flush=True)
        results = bench_phases(repo, rows, env, opts)
        if not opts.no_mlflow:
            results["mlflow"] = bench_mlflow(repo, rows, env, opts)
        print(f"load {os.getloadavg()[0]:.1f} at the end", flush=True)
        report(results, opts.rates)
        out = Path(__file__).with_name(f"serve-results-{dt.date.today()}.json")
        out.write_text(json.dumps({"options": {k: v for k, v in vars(opts).items()}, "results": results}, indent=2) + "\n")
        print(f"written {out}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def report(results: dict[str, object], rates: list[float]) -> None:
    def at(phase: object, rate: float, key: str) -> float:
        assert isinstance(phase, dict)
        return float(phase[f"at_{rate:g}"][key])

    for on, off in (("logging on", "logging off"), ("logging on, --fsync", "logging off"),
                    ("logging on, 2 workers", "logging off, 2 workers")):
        a, b = results.get(on), results.get(off)
        if not isinstance(a, dict) or not isinstance(b, dict):
            continue
        if "saturation_rps" in a and "saturation_rps" in b:
            print(f"{on} / {off}: server CPU per request x{a['cpu_ms_per_request'] / b['cpu_ms_per_request']:.2f} "
                  f"({a['cpu_ms_per_request'] - b['cpu_ms_per_request']:+.3f} ms; main process "
                  f"{a['main_process_cpu_ms_per_request'] - b['main_process_cpu_ms_per_request']:+.3f} ms), "
                  f"throughput x{a['saturation_rps'] / b['saturation_rps']:.2f}")
        for rate in rates:
            # per run, on minus off (the same minute of the machine), then the median of those differences
            pairs = list(zip(a.get("runs", [a]), b.get("runs", [b])))
            p99 = [at(x, rate, "p99_ms") - at(y, rate, "p99_ms") for x, y in pairs]
            print(f"  {on} - {off} at {rate:g}/s: p50 {at(a, rate, 'p50_ms') - at(b, rate, 'p50_ms'):+.2f} ms, "
                  f"p99 median {at(a, rate, 'p99_ms'):.2f} - {at(b, rate, 'p99_ms'):.2f} = "
                  f"{at(a, rate, 'p99_ms') - at(b, rate, 'p99_ms'):+.2f} ms; per run "
                  f"{', '.join(f'{d:+.2f}' for d in p99)} (median {statistics.median(p99):+.2f})")
    peer, on_ = results.get("mlflow"), results.get("logging on")
    if isinstance(peer, dict) and isinstance(on_, dict) and "saturation_rps" in on_:
        print(f"branchml (logging on) / mlflow: server CPU per request x{on_['cpu_ms_per_request'] / peer['cpu_ms_per_request']:.2f}, "
              f"throughput x{on_['saturation_rps'] / peer['saturation_rps']:.2f}")
        for rate in rates:
            print(f"  at {rate:g}/s: p99 x{at(on_, rate, 'p99_ms') / at(peer, rate, 'p99_ms'):.2f}")
    elif peer:
        print(f"mlflow: not measured ({peer})")


if __name__ == "__main__":
    main()
