"""An open-loop HTTP load at an even rate: request i is sent at t0 + i/rate, whatever the answers do.

Why not `hey -q`: hey limits each of its `-c` workers to `q` requests/s with a ticker per worker,
and the workers start together, so the load arrives in bursts of `c` requests every `c/rate`
seconds (50 at once every 100 ms for 500/s with 50 workers). A server then spends each burst
draining a queue, and the measured p50 is half a burst's service time, not the server's latency.

This generator keeps a pool of kept-alive connections (one more is opened when all are busy),
writes pre-built request bytes on the schedule and reads answers with a minimal HTTP/1.1 parser
(status line, Content-Length): a few tens of microseconds of CPU per request, so it disturbs the
server it shares the cores with much less than httpx would. Latency is measured from the moment
the request was due (an open loop: a late send counts against the server's figure too), and the
generator's own lateness is reported apart.
"""

from __future__ import annotations

import asyncio
import statistics
import time


class Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.waiter: asyncio.Future[int] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        head = self.buffer[:end].decode("latin-1").lower()
        length = int(head.split("content-length:", 1)[1].split("\r\n", 1)[0]) if "content-length:" in head else 0
        if len(self.buffer) < end + 4 + length:
            return
        self.buffer = self.buffer[end + 4 + length:]
        waiter, self.waiter = self.waiter, None
        waiter.set_result(int(head[9:12]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True  # e.g. the server's keep-alive timeout on an idle connection
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(exc or "closed"))

    def send(self, request: bytes) -> asyncio.Future[int]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.waiter


def request_bytes(host: str, port: int, path: str, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def run(host: str, port: int, path: str, body: bytes, rate: float, seconds: float,
              samples: list[tuple[float, float]] | None = None) -> dict[str, float]:
    """p50/p99 (ms), the rate reached, errors, the generator's own lateness; `samples`, when given, gets
    (due time on the perf_counter clock, latency in ms) of each answered request (bench/serve_trace.py)."""
    loop = asyncio.get_running_loop()
    request = request_bytes(host, port, path, body)
    idle: list[Connection] = []
    latencies: list[float] = []
    late: list[float] = []
    errors = 0

    async def one(due: float) -> None:
        nonlocal errors
        while idle and idle[-1].closed:
            idle.pop()
        conn = idle.pop() if idle else (await loop.create_connection(Connection, host, port))[1]
        late.append((time.perf_counter() - due) * 1000)
        try:
            status = await asyncio.wait_for(conn.send(request), 60)
        except (ConnectionError, TimeoutError):
            errors += 1
            return
        latencies.append((time.perf_counter() - due) * 1000)
        if samples is not None:
            samples.append((due, latencies[-1]))
        errors += status != 200
        idle.append(conn)

    count = int(rate * seconds)
    t0 = time.perf_counter() + 0.1
    tasks = []
    for i in range(count):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    for conn in idle:
        assert conn.transport is not None
        conn.transport.close()
    latencies.sort()
    late.sort()
    return {"p50_ms": statistics.median(latencies), "p99_ms": latencies[int(len(latencies) * 0.99) - 1],
            "reached_rps": len(latencies) / elapsed, "errors": float(errors), "send_late_p99_ms": late[int(len(late) * 0.99) - 1],
            "connections": float(len(idle))}
