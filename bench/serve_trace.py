"""Where a serving p99 comes from: each slow answer next to what the server was doing at that moment.

    python bench/serve_trace.py --seconds 8 --rate 500     # logging off, commits in a thread, in a child
    python bench/serve_trace.py --seconds 8 --rate 500 --flags=--fsync

The server runs in a child process, the same app `branchml serve` runs, with instrumentation wrapped
around it (this file only; nothing in the package changes): every request's time inside the server
(from the parsed request to the last body byte handed to the transport), every batch commit and
background journal flush (start, end, CPU of the committing thread), and the event loop's lag (a
1 ms ticker; lateness over 2 ms is recorded). bench/pace.py sends the load and keeps each request's
due time and latency; all times are on the one system-wide monotonic clock (perf_counter), so each
of the slowest 1% of answers can be matched with what overlapped it.

Printed per phase: p50/p99/p99.9 at the client and inside the server, the share of the run during
which a batch commit was running, and the share of the slow answers that overlapped one (much more
than that duty cycle means the commits cause the tail); the same for loop lag, journal flushes, the
cyclic GC's collections (`gc.callbacks`, per generation) and journal appends over 1 ms; and each
journal append's time (waiting included) against the `os.write` inside it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "src"))

import pace  # noqa: E402
import serve as serve_bench  # noqa: E402  (bench/serve.py: the trained repository, the request body)

Span = tuple[float, float]


def child(repo: Path, out: Path, mode: str, fsync: bool) -> None:
    """The server, instrumented; spans are written to `out` when SIGTERM stops it. `mode`: off (no
    logging), thread (batches committed by the Logger's thread, as before serving run 5), process."""
    import uvicorn

    from branchml.monitor import branch, committer, journal
    from branchml.monitor import logger as logger_module
    from branchml.repo import Repo
    from branchml.serve import server
    from branchml.serve.app import ServeOptions, create_app
    from branchml.serve.split import Router

    spans: dict[str, list[Any]] = {"request": [], "commit": [], "sync": [], "lag": [], "gc": [], "append": [], "write": []}
    commit_batch, commit_in_child, sync = branch.commit_batch, committer.Committer.commit, journal.Journal.sync
    append_lines, write = journal.Journal.append_lines, journal.Journal._write
    gc_started: list[float] = []

    def gc_timed(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_started[:] = [time.perf_counter()]
        elif gc_started:
            spans["gc"].append((gc_started[0], time.perf_counter(), info["generation"]))

    def timed(commit: Any) -> Any:
        def timed_commit(*args: Any, **kwargs: Any) -> str:
            start, cpu = time.perf_counter(), time.thread_time()
            try:
                return str(commit(*args, **kwargs))
            finally:
                spans["commit"].append((start, time.perf_counter(), time.thread_time() - cpu))
        return timed_commit

    def timed_sync(self: journal.Journal) -> None:
        start = time.perf_counter()
        try:
            sync(self)
        finally:
            spans["sync"].append((start, time.perf_counter()))

    def timed_append(self: journal.Journal, lines: list[str]) -> list[int]:
        start = time.perf_counter()
        try:
            return append_lines(self, lines)
        finally:
            spans["append"].append((start, time.perf_counter()))

    def timed_write(self: journal.Journal, data: bytes) -> None:
        start = time.perf_counter()
        try:
            write(self, data)
        finally:
            spans["write"].append((start, time.perf_counter()))

    journal.Journal._write = timed_write  # type: ignore[method-assign]
    gc.callbacks.append(gc_timed)
    journal.Journal.append_lines = timed_append  # type: ignore[method-assign]
    branch.commit_batch = timed(commit_batch)  # in the Logger's thread (the package before serving run 5)
    committer.Committer.commit = timed(commit_in_child)  # type: ignore[method-assign]  (in the committer process)
    journal.Journal.sync = timed_sync  # type: ignore[method-assign]
    if mode == "thread":
        logger_module.Committer = lambda cwd: None  # type: ignore[assignment,misc,return-value]  (no child: the thread commits)
    os.chdir(repo)
    options = ServeOptions(env=f"trace-{mode}", log=mode != "off", fsync=fsync)
    app = create_app(Repo.find(repo), Router("bench-1", (), ()), options)

    async def traced(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await app(scope, receive, send)
        start = time.perf_counter()

        async def sent(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                spans["request"].append((start, time.perf_counter()))
        await app(scope, receive, sent)

    async def ticker() -> None:
        while True:
            due = time.perf_counter() + 0.001
            await asyncio.sleep(0.001)
            late = time.perf_counter() - due
            if late > 0.002:
                spans["lag"].append((due, due + late))

    class Traced(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            asyncio.get_running_loop().create_task(ticker())

    srv = Traced(uvicorn.Config(traced, log_level="warning", access_log=False))
    sock = server.listen("127.0.0.1", 0)
    print(f"on http://127.0.0.1:{sock.getsockname()[1]}", file=sys.stderr, flush=True)
    with server._graceful_exit(srv):  # absorbs the SIGTERM uvicorn raises again after its shutdown
        srv.run(sockets=[sock])
    out.write_text(json.dumps(spans))


def overlaps(span: Span, others: list[Span]) -> bool:
    return any(s <= span[1] and e >= span[0] for s, e, *_ in others)


def duty(spans: list[Any], begin: float, end: float) -> float:
    """Share of [begin, end] covered by spans (they do not overlap one another)."""
    return sum(max(0.0, min(e, end) - max(s, begin)) for s, e, *_ in spans) / (end - begin)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def phase(repo: Path, rows: list[list[float]], env: dict[str, str], opts: argparse.Namespace, mode: str) -> dict[str, Any]:
    out = repo.parent / f"trace-{mode}.json"
    err = repo.parent / "trace-server.err"
    args = [sys.executable, __file__, "--child", str(repo), str(out), mode, "1" if opts.fsync else "0"]
    proc, url = serve_bench.start(args, repo, env, err)
    samples: list[tuple[float, float]] = []
    try:
        port = int(url.rsplit(":", 1)[1])
        asyncio.run(pace.run("127.0.0.1", port, "/invocations", serve_bench.body(rows, 0), opts.rate, 1.0))  # warm-up
        cpu0 = os.times()
        summary = asyncio.run(pace.run("127.0.0.1", port, "/invocations", serve_bench.body(rows, 0), opts.rate,
                                       opts.seconds, samples))
        summary["load"] = os.getloadavg()[0]
        summary["generator_cpu_s"] = sum(os.times()[:2]) - sum(cpu0[:2])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    spans = json.loads(out.read_text())
    return analyse(samples, spans, summary)


def analyse(samples: list[tuple[float, float]], spans: dict[str, list[Any]], summary: dict[str, float]) -> dict[str, Any]:
    begin, end = samples[0][0], max(due + ms / 1000 for due, ms in samples)
    latencies = [ms for _, ms in samples]
    cut = pct(latencies, 0.99)
    slow = [(due, due + ms / 1000) for due, ms in samples if ms >= cut]
    inside = [(e - s) * 1000 for s, e in spans["request"] if begin <= s <= end]
    busy = [s for s in spans["request"] if begin <= s[0] <= end and overlaps(s, spans["commit"])]
    quiet = [s for s in spans["request"] if begin <= s[0] <= end and not overlaps(s, spans["commit"])]
    syncing = [(e - s) * 1000 for s, e in spans["request"] if begin <= s <= end and overlaps((s, e), spans["sync"])]
    unsynced = [(e - s) * 1000 for s, e in spans["request"] if begin <= s <= end and not overlaps((s, e), spans["sync"])]
    commits = [c for c in spans["commit"] if begin <= c[0] <= end]
    result: dict[str, Any] = {
        **summary,
        "client_p50_ms": pct(latencies, 0.5), "client_p99_ms": cut, "client_p999_ms": pct(latencies, 0.999),
        "server_p50_ms": pct(inside, 0.5), "server_p99_ms": pct(inside, 0.99),
        "server_p99_during_commit_ms": pct([(e - s) * 1000 for s, e in busy], 0.99) if busy else None,
        "server_p99_outside_commit_ms": pct([(e - s) * 1000 for s, e in quiet], 0.99) if quiet else None,
        "server_p99_during_sync_ms": pct(syncing, 0.99) if syncing else None,
        "server_p99_outside_sync_ms": pct(unsynced, 0.99) if unsynced else None,
        "sync_ms_max": max([(e - s) * 1000 for s, e in spans["sync"] if begin <= s <= end], default=0.0),
        "commits": len(commits),
        "commit_ms": statistics.median([(e - s) * 1000 for s, e, _ in commits]) if commits else None,
        "commit_cpu_ms": statistics.median([c * 1000 for _, _, c in commits]) if commits else None,
    }
    gcs = [g for g in spans["gc"] if begin <= g[0] <= end]
    result["gc_ms_max"] = max([(e - s) * 1000 for s, e, _ in gcs], default=0.0)
    result["gc_counts"] = [sum(1 for g in gcs if g[2] == n) for n in range(3)]
    result["gc_max_per_generation"] = [max([(e - s) * 1000 for s, e, g in gcs if g == n], default=0.0) for n in range(3)]
    writes = [(e - s) * 1000 for s, e in spans["write"] if begin <= s <= end]
    result["write_p99_ms"] = pct(writes, 0.99) if writes else None
    result["writes_over_1ms"] = sum(1 for w in writes if w > 1.0)
    result["write_ms_max"] = max(writes, default=0.0)
    appends = [(e - s) * 1000 for s, e in spans["append"] if begin <= s <= end]
    result["append_p99_ms"] = pct(appends, 0.99) if appends else None
    result["append_ms_max"] = max(appends, default=0.0)
    result["appends_over_1ms"] = sum(1 for a in appends if a > 1.0)
    for kind in ("commit", "sync", "lag", "gc", "append_slow"):
        if kind == "append_slow":
            spans[kind] = [a for a in spans["append"] if (a[1] - a[0]) > 0.001]
        result[f"{kind}_duty"] = duty(spans[kind], begin, end)
        result[f"slow_during_{kind}"] = sum(overlaps(s, spans[kind]) for s in slow) / len(slow)
    result["lag_events"] = len([s for s in spans["lag"] if begin <= s[0] <= end])
    result["lag_max_ms"] = max([(e - s) * 1000 for s, e in spans["lag"] if begin <= s <= end], default=0.0)
    return result


def show(name: str, r: dict[str, Any]) -> None:
    def ms(key: str) -> str:
        return "-" if r[key] is None else f"{r[key]:.2f}"

    print(f"{name}: load {r['load']:.1f}, reached {r['reached_rps']:.0f}/s, generator late p99 {r['send_late_p99_ms']:.2f} ms")
    print(f"  client  p50 {ms('client_p50_ms')}  p99 {ms('client_p99_ms')}  p99.9 {ms('client_p999_ms')} ms")
    print(f"  server  p50 {ms('server_p50_ms')}  p99 {ms('server_p99_ms')} ms; p99 during a commit "
          f"{ms('server_p99_during_commit_ms')}, outside {ms('server_p99_outside_commit_ms')}")
    print(f"  server p99 during a journal flush {ms('server_p99_during_sync_ms')}, outside {ms('server_p99_outside_sync_ms')}; "
          f"longest flush {r['sync_ms_max']:.1f} ms")
    print(f"  commits {r['commits']} (median {ms('commit_ms')} ms wall, {ms('commit_cpu_ms')} ms thread CPU)")
    print(f"  gc: {r['gc_counts']} collections per generation, longest {r['gc_ms_max']:.1f} ms; journal append "
          f"p99 {ms('append_p99_ms')} ms, longest {r['append_ms_max']:.1f} ms, {r['appends_over_1ms']} over 1 ms")
    print(f"  gc longest per generation {[round(g, 1) for g in r['gc_max_per_generation']]} ms; the write itself "
          f"(os.write, one writer at a time) p99 {ms('write_p99_ms')} ms, longest {r['write_ms_max']:.1f} ms, "
          f"{r['writes_over_1ms']} over 1 ms")
    for kind in ("commit", "sync", "lag", "gc", "append_slow"):
        print(f"  {kind:<6} running {r[f'{kind}_duty'] * 100:5.1f}% of the time; "
              f"{r[f'slow_during_{kind}'] * 100:5.1f}% of the slowest 1% overlapped one")
    print(f"  loop lag over 2 ms: {r['lag_events']} times, worst {r['lag_max_ms']:.1f} ms", flush=True)


def summary(found: dict[str, list[dict[str, Any]]]) -> None:
    """Medians over the runs: client p99, its difference from logging off in the same run, the
    server process's CPU per commit, and how often the slowest 1% overlapped a commit."""
    print(f"medians of {len(next(iter(found.values())))} run(s):")
    off = found.get("off")
    for mode, runs in found.items():
        line = f"  {mode:<8} client p99 {statistics.median(r['client_p99_ms'] for r in runs):7.2f} ms"
        if off and mode != "off":
            diffs = [r["client_p99_ms"] - o["client_p99_ms"] for r, o in zip(runs, off)]
            line += f", minus off in the same run {statistics.median(diffs):+7.2f} ms ({', '.join(f'{d:+.1f}' for d in diffs)})"
        if mode != "off":
            cpu = [r["commit_cpu_ms"] for r in runs if r["commit_cpu_ms"] is not None]
            line += (f"; server thread CPU per commit {statistics.median(cpu):.2f} ms" if cpu else "") + \
                f"; slowest 1% during a commit {statistics.median(r['slow_during_commit'] for r in runs) * 100:.0f}%" + \
                f" (commits running {statistics.median(r['commit_duty'] for r in runs) * 100:.1f}% of the time)"
        print(line, flush=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4], sys.argv[5] == "1")
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--fsync", action="store_true")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--modes", default="off,thread,process",
                        help="off: no logging; thread: commits in the server's Logger thread (before run 5); process: in a child")
    opts = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="branchml-bench-trace-"))
    env = {**os.environ, "PYTHONPATH": str(BENCH.parent / "src"), "GIT_AUTHOR_NAME": "bench",
           "GIT_AUTHOR_EMAIL": "bench@invalid", "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@invalid"}
    try:
        repo, rows = serve_bench.trained_repo(root, env)
        modes = opts.modes.split(",")
        found: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
        for n in range(opts.repeat):
            for mode in modes:
                found[mode].append(phase(repo, rows, env, opts, mode))
                show(f"run {n + 1}, logging {mode}", found[mode][-1])
        summary(found)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
