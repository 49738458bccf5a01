"""The ten audit questions timed on a generated repository, and `branchml diff` against `git diff`.

    python bench/audit.py                        # 1,000 runs, 10,000 commits, 20 customers, 100 uploads
    python bench/audit.py --runs 200 --csv-mb 64 # a quick run

The repository is written with `git fast-import` in four passes (raw uploads, cleaning pulls, split
pulls, then stable branches with runs, tags, tracking records on main, monitoring logs and filler
commits on dev/model), so every `Data-From` trailer names a real commit. Each question is asked
through the CLI (a new process, as a user would) twice; the second ("warm") time is reported.
Then two versions of one CSV (1% of rows changed) are compared by `branchml diff` and by
`git diff --no-index` of the plain files, in the same run.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EPOCH = 1_700_000_000


class FastImport:
    """One `git fast-import` pass; marks are exported so the next pass can name real commits."""

    def __init__(self, repo: Path) -> None:
        self.repo, self.parts, self.mark, self.time = repo, [], 0, EPOCH

    def commit(self, ref: str, message: str, files: dict[str, bytes], parent: str | None = None) -> int:
        self.mark += 1
        self.time += 60
        out = [f"commit {ref}\nmark :{self.mark}\ncommitter Bench <bench@example.com> {self.time} +0000\n".encode()]
        out.append(b"data %d\n%s\n" % (len(message.encode()), message.encode()))
        if parent:
            out.append(f"from {parent}\n".encode())
        for path, data in files.items():
            out.append(b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(data), data))
        self.parts.append(b"".join(out))
        return self.mark

    def reset(self, ref: str, mark: int) -> None:
        self.parts.append(f"reset {ref}\nfrom :{mark}\n\n".encode())

    def run(self) -> dict[int, str]:
        marks = self.repo / f".marks-{time.monotonic_ns()}"
        subprocess.run(["git", "fast-import", "--quiet", f"--export-marks={marks}"], cwd=self.repo,
                       input=b"".join(self.parts), check=True)
        found = {int(m[1:]): sha for m, sha in (line.split() for line in marks.read_text().splitlines())}
        marks.unlink()
        self.parts.clear()
        return found


def build(repo: Path, runs: int, commits: int, customers: int, uploads: int) -> dict[str, str]:
    subprocess.run([sys.executable, "-m", "branchml", "init", str(repo)], check=True, capture_output=True)
    rng = random.Random(7)
    raw = FastImport(repo)
    upload_marks = [raw.commit("refs/heads/data/raw", f"Upload {n}\n\nData-Source: vendor {n % 9} batch {n}",
                               {f"data/uploads/{n}/rows.csv": _csv(rng, 50)}) for n in range(uploads)]
    raw_shas = raw.run()
    clean = FastImport(repo)
    clean_marks = [clean.commit("refs/heads/data/clean", f"Pull raw {n}\n\nData-From: data/raw@{raw_shas[m]}",
                                {f"data/uploads/{n}/rows.csv": _csv(rng, 48)}) for n, m in enumerate(upload_marks)]
    clean_shas = clean.run()
    split = FastImport(repo)
    split_marks = [split.commit("refs/heads/data/split", f"Split {n}\n\nData-From: data/clean@{clean_shas[m]}",
                                {"data/manifest.csv": _manifest(n)}) for n, m in enumerate(clean_marks)]
    split_shas = split.run()
    stable = FastImport(repo)
    per_customer = max(1, runs // customers)
    tags: list[tuple[str, int]] = []
    for c in range(customers):
        for n in range(1, per_customer + 1):
            source = split_shas[split_marks[min(len(split_marks) - 1, n * len(split_marks) // per_customer)]]
            pull = stable.commit(f"refs/heads/stable/c{c}", f"Pull split\n\nData-From: data/split@{source}",
                                 {"data/train.csv": _csv(rng, 20)})
            tag = f"c{c}-{n}"
            run = stable.commit(f"refs/heads/stable/c{c}", f"Train {tag}\n\nRun-Tag: {tag}\nCode-From: {pull}",
                                {"metrics.json": json.dumps({"accuracy": rng.random()}).encode(),
                                 "params.json": json.dumps({"seed": n}).encode()})
            stable.reset(f"refs/tags/{tag}", run)
            tags.append((tag, run))
    for _ in range(max(0, commits - len(tags) * 3 - uploads * 3)):
        stable.commit("refs/heads/dev/model", "code change", {"src/model.py": f"# {rng.random()}\n".encode()})
    logs = {f"logs/{tag}/2026-01-01/part-0.jsonl": b'{"tag": "%s"}\n' % tag.encode() for tag, _ in tags[::10]}
    stable.commit("refs/heads/monitor/prod", "logs", logs)
    shas = stable.run()
    main = FastImport(repo)
    has_main = subprocess.run(["git", "rev-parse", "-q", "--verify", "refs/heads/main"], cwd=repo, capture_output=True).returncode == 0
    for number, (tag, mark) in enumerate(tags):
        record = {"tag": tag, "branch": f"stable/{tag.rsplit('-', 1)[0]}", "customer": tag.rsplit("-", 1)[0],
                  "code_commit": shas[mark], "commit": shas[mark], "command": ["python", "train.py"], "steps": [],
                  "metrics": {"accuracy": 0.5}, "params": {}, "started": "2026-01-01T00:00:00+00:00"}
        main.commit("refs/heads/main", f"Track run {tag}\n\nRun-Tag: {tag}",
                    {f"tracking/runs/{tag}.json": json.dumps(record).encode()},
                    parent="refs/heads/main^0" if has_main and number == 0 else None)
    main.run()
    return {"tag": tags[len(tags) // 2][0], "other": tags[len(tags) // 2 + 1][0], "upload": raw_shas[upload_marks[3]],
            "customer": "c0", "branch": "stable/c0"}


def _csv(rng: random.Random, rows: int) -> bytes:
    return ("id,x\n" + "".join(f"{rng.randrange(10**9)},{rng.random():.6f}\n" for _ in range(rows))).encode()


def _manifest(n: int) -> bytes:
    return ("example_id,source_path,split,content_hash\n" + "".join(
        f"{i},data/uploads/{i % (n + 1)}/rows.csv,{('train', 'val', 'test')[i % 3]},h{i}\n" for i in range(50))).encode()


QUESTIONS = [
    ("1 what data trained X", ["why", "{tag}", "--json"]),
    ("2 which code trained X", ["show", "{tag}", "--json"]),
    ("3 which tags used upload Y", ["used-by", "{upload}", "--json"]),
    ("4 what runs at C now / on D", ["audit", "running", "{customer}", "--json"]),
    ("5 monitoring logs of X", ["why", "{tag}", "--json"]),
    ("6 what changed X -> Y", ["diff", "{tag}", "{other}", "--json"]),
    ("7 split changed under a stable branch", ["audit", "split", "{branch}", "--json"]),
    ("8 who uploaded what", ["audit", "uploads", "--json"]),
    ("9 retrain because of upload Y", ["audit", "retrain", "{upload}", "--json"]),
]


def ask(repo: Path, args: list[str], names: dict[str, str]) -> float:
    argv = [sys.executable, "-m", "branchml", *(a.format(**names) for a in args)]
    times = []
    for _ in range(2):
        start = time.perf_counter()
        subprocess.run(argv, cwd=repo, capture_output=True)  # exit 1 is an answer too (audit split)
        times.append(time.perf_counter() - start)
    return times[-1]


def diff_bench(tmp: Path, mb: int) -> dict[str, float]:
    repo = tmp / "diff"
    subprocess.run([sys.executable, "-m", "branchml", "init", str(repo)], check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "branchml", "track", "data/**"], cwd=repo, check=True, capture_output=True)
    rows = mb * (1 << 20) // 32
    (repo / "data").mkdir()
    old, new = repo / "data/t.csv", tmp / "new.csv"
    with open(old, "w") as a, open(new, "w") as b:
        a.write("id,value,label\n")
        b.write("id,value,label\n")
        for i in range(rows):
            line = f"{i},{i * 7919 % 1000003},{'x' * 6}\n"
            a.write(line)
            b.write(line if i % 100 else f"{i},{i},changed\n")
    plain_old = tmp / "old.csv"
    plain_old.write_bytes(old.read_bytes())
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "v1")
    new.replace(old)
    _git(repo, "commit", "-qam", "v2")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "branchml", "diff", "HEAD~1", "HEAD", "data/t.csv", "--key", "id", "--json"],
                   cwd=repo, check=True, capture_output=True)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run(["git", "diff", "--no-index", "--stat", str(plain_old), str(old)], capture_output=True)
    theirs = time.perf_counter() - start
    return {"mb": mb, "branchml_diff_s": round(ours, 2), "git_diff_no_index_s": round(theirs, 2), "ratio": round(ours / theirs, 2)}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--commits", type=int, default=10_000)
    parser.add_argument("--customers", type=int, default=20)
    parser.add_argument("--uploads", type=int, default=100)
    parser.add_argument("--csv-mb", type=int, default=1024)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="branchml-bench-audit-") as tmp:
        repo = Path(tmp) / "repo"
        start = time.perf_counter()
        names = build(repo, options.runs, options.commits, options.customers, options.uploads)
        count = subprocess.run(["git", "rev-list", "--all", "--count"], cwd=repo, capture_output=True, text=True).stdout.strip()
        print(f"generated {count} commits, {options.runs} runs in {time.perf_counter() - start:.1f} s")
        results = {label: round(ask(repo, args, names), 3) for label, args in QUESTIONS}
        for label, seconds in results.items():
            print(f"{label:<42} {seconds:6.3f} s")
        print("10 does X reproduce: `branchml rerun X` runs the training itself; its time is the training's")
        diff = diff_bench(Path(tmp), options.csv_mb)
        print(f"diff of two {diff['mb']} MiB CSVs (1% rows changed): branchml {diff['branchml_diff_s']} s, "
              f"git diff --no-index {diff['git_diff_no_index_s']} s, ratio {diff['ratio']}")
        out = Path(__file__).with_name(f"results-audit-{time.strftime('%Y%m%d')}.json")
        out.write_text(json.dumps({"questions": results, "diff": diff, "commits": count}, indent=2) + "\n")


if __name__ == "__main__":
    main()
