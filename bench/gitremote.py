"""The Git remote as blob store: push and clone of 1 GiB and of its 1%-changed version, in one run.

    python bench/gitremote.py [--mb 1024] [--no-ssh]

Peers, each against a bare repo on the same disk, reached over file:// and over SSH on loopback
(a throwaway sshd, tests/sshd_support.py; skipped when it cannot start):
- branchml with no blob remote: the chunks go to `refs/branchml/*` of the Git remote, a plain
  bare repo (`branchml`) and one set up with `branchml install --server` (`bml+srv`);
- Git LFS with its own transfer to the same server (file:// uses LFS's standalone file transfer;
  over SSH it needs `git-lfs-transfer` on the server, skipped when absent);
- DVC with a local remote (the same disk), and an SSH remote when the dvc-ssh plugin is installed.

Steps per peer: push v1 (one random file of --mb MiB), fresh clone of v1 with files materialised,
push v2 (1% of the file rewritten in 10 places), fresh clone of v2. Times are wall-clock seconds;
RSS is the peak of the largest single process of each command's tree (git, its hooks, branchml,
git-lfs, dvc), from /usr/bin/time. The commit (chunking, `git lfs` clean, `dvc add`) is not timed.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BML = [sys.executable, "-m", "branchml"]
BRANCH = "dev/bench"
TESTS = Path(__file__).resolve().parents[1] / "tests"
SRC = Path(__file__).resolve().parents[1] / "src"
for _key, _value in (("GIT_AUTHOR_NAME", "bench"), ("GIT_AUTHOR_EMAIL", "bench@invalid"),
                     ("GIT_COMMITTER_NAME", "bench"), ("GIT_COMMITTER_EMAIL", "bench@invalid")):
    os.environ.setdefault(_key, _value)
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))  # this checkout

def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """(seconds, peak RSS MiB of the largest process in the tree) of one command; stops on failure."""
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", *args], cwd=cwd, capture_output=True,
                          env={**os.environ, **(env or {})})
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"{args} in {cwd} failed: {proc.stderr.decode(errors='replace')[-2000:]}")
    return seconds, int(proc.stderr.decode().strip().splitlines()[-1]) / 1024


def quiet(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    run(args, cwd, env)


def make_data(path: Path, mb: int) -> None:
    with open(path, "wb") as f:
        for _ in range(mb):
            f.write(os.urandom(1 << 20))


def change_one_percent(path: Path, mb: int) -> None:
    """Rewrite 1% of the file in 10 places (a retrained model, an appended-to dataset)."""
    rng = random.Random(1)
    size = mb << 20
    with open(path, "r+b") as f:
        for _ in range(10):
            f.seek(rng.randrange(0, size - (size // 1000)))
            f.write(os.urandom(size // 1000))


class Peer:
    def __init__(self, name: str, init: Callable[[Path], None], add: list[list[str]], push: list[str],
                 clone: Callable[[str, Path], list[list[str]]], server_setup: list[list[str]] | None = None) -> None:
        self.name, self.init, self.add, self.push, self.clone = name, init, add, push, clone
        self.server_setup = server_setup or []


def _bml_init(repo: Path) -> None:
    quiet([*BML, "init", str(repo)], repo.parent)
    quiet([*BML, "track", "data/**"], repo)


def _lfs_init(repo: Path) -> None:
    repo.mkdir(parents=True)
    quiet(["git", "init", "-q", "-b", "main"], repo)
    quiet(["git", "lfs", "install", "--local"], repo)
    quiet(["git", "lfs", "track", "data/**"], repo)


def _dvc_init(remote_url: str) -> Callable[[Path], None]:
    def init(repo: Path) -> None:
        repo.mkdir(parents=True)
        quiet(["git", "init", "-q", "-b", "main"], repo)
        quiet(["dvc", "init", "-q"], repo)
        quiet(["dvc", "remote", "add", "-d", "store", remote_url], repo)
        quiet(["git", "add", "-A"], repo)
        quiet(["git", "commit", "-qm", "dvc"], repo)
    return init


GIT_ADD = [["git", "add", "-A"], ["git", "commit", "-qm", "data"]]
DVC_ADD = [["dvc", "add", "-q", "data/big.bin"], ["git", "add", "-A"], ["git", "commit", "-qm", "data"]]


def peers(root: Path, transport: str, ssh_url: Callable[[Path], str] | None) -> list[Peer]:
    out = [Peer("branchml", _bml_init, GIT_ADD, ["git", "push", "-q", "origin", BRANCH],
                lambda url, dest: [[*BML, "clone", "-b", BRANCH, url, str(dest)]]),
           # the same with `branchml install --server` on the bare repo (packs kept as received, no delta search)
           Peer("bml+srv", _bml_init, GIT_ADD, ["git", "push", "-q", "origin", BRANCH],
                lambda url, dest: [[*BML, "clone", "-b", BRANCH, url, str(dest)]], [[*BML, "install", "--server"]])]
    if transport == "file" or shutil.which("git-lfs-transfer"):
        out.append(Peer("git-lfs", _lfs_init, GIT_ADD, ["git", "push", "-q", "origin", BRANCH],
                        lambda url, dest: [["git", "clone", "-q", "-b", BRANCH, url, str(dest)]]))
    else:
        print("  git-lfs   skipped: Git LFS over SSH needs git-lfs-transfer on the server (not installed)")
    dvc_remote = root / f"dvc-{transport}-store"
    if transport == "file" or _has_dvc_ssh():
        url = str(dvc_remote) if transport == "file" else (ssh_url(dvc_remote) if ssh_url else "")
        out.append(Peer("dvc", _dvc_init(url), DVC_ADD, ["sh", "-c", f"dvc push -q && git push -q origin {BRANCH}"],
                        lambda url, dest: [["git", "clone", "-q", "-b", BRANCH, url, str(dest)], ["dvc", "pull", "-q"]]))
    else:
        print("  dvc       skipped: DVC's SSH remote needs the dvc-ssh plugin (not installed)")
    return out


def _has_dvc_ssh() -> bool:
    try:
        import dvc_ssh  # noqa: F401  (optional: only to know whether DVC can use an SSH remote)
    except ImportError:
        return False
    return True


def bench_peer(peer: Peer, root: Path, data: Path, mb: int, url_of: Callable[[Path], str],
               env: dict[str, str]) -> dict[str, tuple[float, float]]:
    base = root / peer.name
    src, server = base / "src", base / "server.git"
    base.mkdir(parents=True)
    peer.init(src)
    quiet(["git", "init", "-q", "--bare", "-b", "main", str(server)], root)
    for step in peer.server_setup:
        quiet(step, server)
    if peer.server_setup:  # over SSH the hooks run in sshd's environment: make this checkout importable there
        for hook in (server / "hooks").iterdir():
            text = hook.read_text()
            if "branchml hook" in text:
                hook.write_text(text.replace("exec ", f"PYTHONPATH={SRC} exec ", 1))
    quiet(["git", "remote", "add", "origin", url_of(server)], src)
    quiet(["git", "switch", "-qc", BRANCH], src)  # data belongs on a dev/* branch (a server's role rules)
    (src / "data").mkdir(exist_ok=True)
    shutil.copy(data, src / "data" / "big.bin")
    results: dict[str, tuple[float, float]] = {}
    for version in ("v1", "v2"):
        if version == "v2":
            change_one_percent(src / "data" / "big.bin", mb)
        for step in peer.add:
            quiet(step, src, env)
        results[f"push {version}"] = run(peer.push, src, env)
        dest = base / f"clone-{version}"
        steps = peer.clone(url_of(server), dest)
        total, rss = 0.0, 0.0
        for i, step in enumerate(steps):
            seconds, peak = run(step, root if i == 0 else dest, env)
            total, rss = total + seconds, max(rss, peak)
        assert (dest / "data" / "big.bin").read_bytes() == (src / "data" / "big.bin").read_bytes(), peer.name
        results[f"clone {version}"] = (total, rss)
        shutil.rmtree(dest)
    shutil.rmtree(base, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=1024)
    parser.add_argument("--no-ssh", action="store_true")
    parser.add_argument("--no-file", action="store_true", help="SSH only")
    parser.add_argument("--peers", help="comma-separated subset: branchml,bml+srv,git-lfs,dvc")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "big.bin"
        make_data(data, args.mb)
        transports: list[tuple[str, Callable[[Path], str], dict[str, str]]] = [
            ("file", lambda p: p.resolve().as_uri(), {})] if not args.no_file else []
        server = None
        if not args.no_ssh:
            sys.path.insert(0, str(TESTS))
            from sshd_support import start_sshd  # the tests' throwaway sshd on loopback

            try:
                server = start_sshd(root / "sshd")
                transports.append(("ssh", server.url, {"GIT_SSH_COMMAND": server.ssh_command}))
            except (RuntimeError, OSError) as exc:
                print(f"ssh: skipped ({exc})")
        try:
            for transport, url_of, env in transports:
                print(f"\n{args.mb} MiB over {transport}://   seconds (peak RSS MiB)")
                table = {}
                for peer in peers(root, transport, server.url if server else None):
                    if args.peers and peer.name not in args.peers.split(","):
                        continue
                    table[peer.name] = bench_peer(peer, root / transport, data, args.mb, url_of, env)
                    row = "  ".join(f"{step} {s:6.1f} ({m:4.0f})" for step, (s, m) in table[peer.name].items())
                    print(f"  {peer.name:9} {row}", flush=True)
                _ratios(table)
        finally:
            if server is not None:
                server.stop()


def _ratios(table: dict[str, dict[str, tuple[float, float]]]) -> None:
    ours = table.get("branchml")
    for name, other in table.items() if ours else ():
        if name != "branchml":
            row = "  ".join(f"{step} {ours[step][0] / other[step][0]:5.2f}" for step in ours)
            print(f"  branchml/{name:7} {row}")


if __name__ == "__main__":
    main()
