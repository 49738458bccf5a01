"""`branchml remote migrate` against `branchml push` to the same target, in one run.

    python bench/remote_migrate.py [--mb 256] [--no-ssh]

One random file of --mb MiB is committed and pushed to a folder remote (FROM). Then, each into an
empty target: `branchml push` from the clone that has the data (the reference: what a team would
do instead of migrating, if it still had every byte locally), and `branchml remote migrate FROM TO`
with and without reading TO back. Targets: a folder on the same disk, and an SFTP folder through
a throwaway sshd on loopback (tests/sshd_support.py; skipped when it cannot start). Times are
wall-clock seconds; RSS is the peak of the largest process of the command, from /usr/bin/time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
BML = [sys.executable, "-m", "branchml"]
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
for _key in ("GIT_AUTHOR", "GIT_COMMITTER"):
    os.environ.setdefault(f"{_key}_NAME", "bench")
    os.environ.setdefault(f"{_key}_EMAIL", "bench@invalid")


def run(args: list[str], cwd: Path) -> tuple[float, float]:
    """(seconds, peak RSS MiB) of one command; stops on failure."""
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", *args], cwd=cwd, capture_output=True)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"{args} failed: {proc.stderr.decode(errors='replace')[-2000:]}")
    return seconds, int(proc.stderr.decode().strip().splitlines()[-1]) / 1024


def project(tmp: Path, mb: int) -> Path:
    repo = tmp / "proj"
    run([*BML, "init", str(repo)], tmp)
    run([*BML, "track", "data/**"], repo)
    run([*BML, "remote", "add", "origin", str(tmp / "from"), "--local"], repo)
    (repo / "data").mkdir()
    with open(repo / "data" / "big.bin", "wb") as f:
        for _ in range(mb):
            f.write(os.urandom(1 << 20))
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "data"], repo)
    run([*BML, "push", "origin"], repo)
    return repo


def targets(tmp: Path, ssh: bool, servers: list[Any]) -> list[tuple[str, str]]:
    """(kind, URL pattern) of each target; a started sshd goes into `servers` (stopped by the caller)."""
    out = [("folder", str(tmp / "{}"))]
    if ssh:
        from sshd_support import start_sshd

        try:
            server = start_sshd(tmp / "sshd")
        except RuntimeError as exc:
            print(f"sftp: skipped ({exc})")
            return out
        servers.append(server)
        os.environ["HOME"] = str(server.home)  # paramiko's ~/.ssh: the server's client key and host key
        out.append(("sftp", server.url(tmp / "sftp") + "/{}"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=256)
    parser.add_argument("--no-ssh", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bml-migrate-bench-") as name:
        tmp = Path(name)
        repo = project(tmp, args.mb)
        print(f"{args.mb} MiB, one file; seconds (peak RSS MiB)")
        print(f"{'target':8} {'push':>16} {'migrate':>16} {'migrate, no read-back':>22}")
        servers: list[Any] = []
        try:
            for kind, pattern in targets(tmp, not args.no_ssh, servers):
                measure(repo, kind, pattern)
        finally:
            for server in servers:
                server.stop()


def measure(repo: Path, kind: str, pattern: str) -> None:
    push = _push(repo, pattern.format("push"))
    full = run([*BML, "remote", "migrate", "origin", pattern.format("full")], repo)
    listing = run([*BML, "remote", "migrate", "origin", pattern.format("quick"), "--no-read-back"], repo)
    cells = [f"{s:7.1f} ({r:5.0f})" for s, r in (push, full, listing)]
    print(f"{kind:8} {cells[0]:>16} {cells[1]:>16} {cells[2]:>22}   migrate/push {full[0] / push[0]:.2f}")


def _push(repo: Path, url: str) -> tuple[float, float]:
    """`branchml push` to a remote of its own (added locally for the measure)."""
    name = f"t{abs(hash(url)) % 10_000}"
    run([*BML, "remote", "add", name, url, "--local"], repo)
    return run([*BML, "push", name], repo)


if __name__ == "__main__":
    main()
