"""`branchml serve` as several processes, its socket, its stop on SIGTERM, and a journal that cannot be written.

Real servers on loopback (a safetensors tag with its own predict, committed through the store), real
signals, a real full disk (a small tmpfs mounted over the journal's folder in a private mount
namespace by `unshare`).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest

from branchml.repo import Repo
from branchml.serve.server import listen
from conftest import bml, git, unshare_prefix
from serve_helpers import (
    LINEAR,
    Server,
    commit_tag,
    linear_tag,
    logged,
    serve_settings,
    split,
)

ROW = [[1.0, 2.0, 3]]


@pytest.fixture(scope="module")
def tagged(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("workers")
    bml(base, "init", "repo")
    repo = base / "repo"
    git(repo, "switch", "-qc", "dev/serve")
    bml(repo, "track", "models/**")
    linear_tag(repo, "lin-1")
    return repo


def test_accepted_connections_send_without_waiting_for_acks():
    """TCP_NODELAY on every accepted connection: without it each kept-alive answer waited ~40 ms for
    the client's delayed ACK (Nagle), which made the server look saturated at ~330 requests/s."""
    sock = listen("127.0.0.1", 0)
    seen: list[int] = []

    async def main() -> None:
        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(accepted, sock=sock)
        _, writer = await asyncio.open_connection("127.0.0.1", sock.getsockname()[1])
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()

    asyncio.run(main())
    assert seen and seen[0] != 0


def test_the_announced_socket_already_takes_connections_before_any_worker_serves():
    """The address line comes before uvicorn starts (one process) or while the workers start (several):
    a socket only bound, not listening, refused the client that read the line in that window (seen as
    `Connection refused` in the worker-replacement test on a loaded machine). The backlog holds them."""
    sock = listen("127.0.0.1", 0)
    try:
        with socket.create_connection(sock.getsockname(), timeout=5) as client:
            accepted, _ = sock.accept()
            accepted.sendall(b"ok")
            assert client.recv(2) == b"ok"
            accepted.close()
    finally:
        sock.close()


def test_sigterm_right_after_the_address_is_printed_stops_with_exit_0(tagged):
    """The address line is the first moment a caller knows the server; a SIGTERM then is not lost."""
    err = tagged.parent / f"early-{uuid.uuid4().hex[:6]}.err"
    proc = subprocess.Popen([sys.executable, "-m", "branchml", "serve", "lin-1", "--port", "0", "--no-log"],
                            cwd=tagged, stdout=subprocess.DEVNULL, stderr=err.open("wb"))
    while "on http://" not in err.read_text():
        assert proc.poll() is None, err.read_text()
        time.sleep(0.001)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0, err.read_text()


def _workers(proc: subprocess.Popen[bytes]) -> list[int]:
    return [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]


def _load(url: str, acked: list[str], stop: threading.Event, worker: int) -> None:
    """Send one-row requests until `stop`; the ids of the answered ones go to `acked`."""
    with httpx.Client(base_url=url, timeout=30) as client:
        while not stop.is_set():
            rid = f"w{worker}-{uuid.uuid4().hex[:8]}"
            try:
                # a new connection each time, so that the kernel spreads requests over both workers
                answer = client.post("/invocations", json=split(ROW), headers={"X-Request-ID": rid, "Connection": "close"})
            except httpx.TransportError:
                continue  # the connection went down with a killed worker: not acknowledged
            if answer.status_code == 200:
                acked.append(rid)


def test_two_workers_log_every_acknowledged_record_once_even_when_one_is_killed(tagged):
    srv = Server(tagged, "lin-1", "--workers", "2", "--env", "multi", "--batch-records", "5", "--batch-seconds", "30")
    first = _workers(srv.proc)
    assert len(first) == 2
    acked: list[str] = []
    stop = threading.Event()
    threads = [threading.Thread(target=_load, args=(srv.url, acked, stop, w)) for w in range(3)]
    [t.start() for t in threads]
    folder = Repo.find(tagged).store_dir / "monitor" / "multi"
    journals = {p.name for p in folder.glob("*.journal")}
    assert len(journals) == 2  # one per worker
    for _ in range(600):
        if len(acked) >= 30 and all((folder / name).stat().st_size for name in journals):
            break  # both workers have answered requests
        time.sleep(0.05)
    victim = first[0]
    subprocess.run(["kill", "-KILL", str(victim)], check=True)  # a real SIGKILL of one worker, mid-load
    while len(now := {p.name for p in folder.glob("*.journal")}) != 2 or now == journals:
        assert srv.proc.poll() is None, srv.log_path.read_text()
        time.sleep(0.05)  # the supervisor starts another, which commits the dead one's journal and opens its own
    count = len(acked)
    while len(acked) < count + 20:
        time.sleep(0.05)
    stop.set()
    [t.join() for t in threads]
    running = _workers(srv.proc)
    srv.stop()  # SIGTERM to the supervisor: every worker stops gracefully, exit 0 (asserted there)
    assert not any(Path(f"/proc/{pid}").exists() for pid in running)
    assert f"worker {victim} was killed by signal 9" in srv.log_path.read_text()
    counts = Counter(r["request_id"] for r in logged(tagged, "lin-1", "multi"))
    assert set(acked) <= set(counts)  # the killed worker's journal was committed by its replacement
    assert max(counts.values()) == 1  # none twice
    on_branch = set(re.findall(r"Monitor-Journal: (\w+)", git(tagged, "log", "--format=%B", "monitor/multi")))
    assert {name.removesuffix(".journal") for name in journals} <= on_branch  # both workers' records, by journal
    assert bml(tagged, "verify", "--branch", "monitor/multi", check=False).returncode == 0


def test_a_worker_killed_while_the_tags_load_is_replaced_and_the_address_printed(tagged):
    """Before: the address line waited for a byte the killed worker never sent, and never came, while
    the replacement served unannounced. The tag's entry point sleeps at import: the kill lands while
    the worker loads."""
    (tagged / "src/slow.py").write_text("import time\n\ntime.sleep(3)  # a slow load: the window for the kill\n" + LINEAR)
    commit_tag(tagged, serve_settings("models/weights.safetensors", "src/slow.py:predict"), "slow-1")
    err = tagged.parent / "slow.err"
    proc = subprocess.Popen([sys.executable, "-m", "branchml", "serve", "slow-1", "--workers", "2", "--port", "0", "--env", "slow"],
                            cwd=tagged, stdout=subprocess.DEVNULL, stderr=err.open("wb"))
    try:
        for _ in range(1000):
            if len(workers := _workers(proc)) == 2:
                break
            time.sleep(0.01)
        os.kill(workers[0], signal.SIGKILL)
        assert "on http://" not in err.read_text()  # still loading
        for _ in range(600):
            if found := re.search(r"on (http://127\.0\.0\.1:\d+)", err.read_text()):
                break
            assert proc.poll() is None, err.read_text()
            time.sleep(0.1)
        assert found, f"no address line: {err.read_text()}"
        assert f"worker {workers[0]} was killed by signal 9 while loading the tags; starting another" in err.read_text()
        answer = httpx.post(found.group(1) + "/invocations", json=split(ROW), headers={"X-Request-ID": "after-reload"})
        assert answer.status_code == 200, answer.text
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, err.read_text()
    assert [r["request_id"] for r in logged(tagged, "slow-1", "slow")] == ["after-reload"]


def test_workers_stop_and_commit_their_logs_when_the_supervisor_is_killed(tagged):
    """A SIGKILL of the supervisor (nothing can catch it) must not leave its workers serving on alone:
    each gets SIGTERM from the kernel, stops gracefully and commits what it acknowledged."""
    srv = Server(tagged, "lin-1", "--workers", "2", "--env", "orphans", "--batch-records", "1000", "--batch-seconds", "30")
    workers = _workers(srv.proc)
    assert len(workers) == 2
    acked = []
    for n in range(12):
        rid = f"o-{n}-{uuid.uuid4().hex[:6]}"
        answer = httpx.post(srv.url + "/invocations", json=split(ROW), headers={"X-Request-ID": rid, "Connection": "close"})
        assert answer.status_code == 200
        acked.append(rid)
    srv.client.close()
    srv.proc.kill()
    srv.proc.wait(60)
    for _ in range(600):
        if not any(Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid) for pid in workers):
            break
        time.sleep(0.1)
    alive = [pid for pid in workers if Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid)]
    for pid in alive:
        subprocess.run(["kill", "-KILL", str(pid)], check=False)  # do not leave them behind either way
    assert not alive, f"workers {alive} outlived their supervisor"
    assert set(acked) <= {r["request_id"] for r in logged(tagged, "lin-1", "orphans")}
    folder = Repo.find(tagged).store_dir / "monitor" / "orphans"
    assert not list(folder.glob("*.journal"))  # each stopped gracefully: its journal committed and removed


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:", 1)[1].split("\n", 1)[0]
    except (FileNotFoundError, IndexError):
        return "zombie"


def test_full_journal_disk_answers_500_and_acknowledges_nothing_it_could_not_write(tagged):
    prefix = unshare_prefix()
    if prefix is None:
        pytest.skip("needs `unshare -m` (util-linux) with mount namespaces allowed, to mount a small tmpfs")
    folder = Repo.find(tagged).store_dir / "monitor" / "full"
    folder.mkdir(parents=True, exist_ok=True)
    mount = f'mount -t tmpfs -o size=16k tmpfs "{folder}" && exec "$@"'
    srv = Server(tagged, "lin-1", "--env", "full", "--batch-seconds", "0.2", wrap=(*prefix, "sh", "-c", mount, "sh"))
    acked, refused = [], []
    for i in range(400):
        answer = srv.score(split(ROW), **{"X-Request-ID": f"full-{i}"})
        if answer.status_code == 200:
            acked.append(f"full-{i}")
        else:
            assert answer.status_code == 500, answer.text
            assert "no space left" in answer.json()["message"] and str(folder) in answer.json()["message"]
            refused.append(f"full-{i}")
            if len(refused) == 3:
                break
    assert acked and len(refused) == 3
    srv.stop()
    assert Counter(r["request_id"] for r in logged(tagged, "lin-1", "full")) == Counter(acked)
