"""The load generator `bench_host` runs in its own process, pinned to its own core.

A small asyncio HTTP/1.1 keep-alive client (raw streams: a few tens of microseconds per
request, so the generator is not the bottleneck on a shared core). Two modes, printed as JSON:

- ``open``: request k is due at t0 + k / rate whatever happened before (open loop); a slow
  response never delays the next send, it opens another connection. Latency runs from the
  due time on the clock, so time spent waiting for a connection or for the generator itself
  counts (no coordinated omission). ``lag_p99_ms`` says how late the generator sent.
- ``closed``: ``--conns`` connections each send the next request as soon as the previous
  one is answered: the unthrottled capacity in requests/s.

``python -m benchmarks.host_load --port P --mode open --rate 300 --seconds 30 --cpu 0``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

MAX_CONNS = 512


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def get(self, path: str) -> int:
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status


async def _connect(port: int) -> _Conn:
    return _Conn(*await asyncio.open_connection("127.0.0.1", port))


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


async def open_loop(port: int, rate: float, seconds: float) -> dict:
    idle: list[_Conn] = []
    opened = 0
    latencies: list[float] = []
    lags: list[float] = []
    errors = 0
    clock = time.perf_counter

    async def one(k: int, due: float) -> None:
        nonlocal opened, errors
        conn = idle.pop() if idle else None
        try:
            if conn is None:
                opened += 1
                conn = await _connect(port)
            status = await conn.get(f"/ask?i={k}")
            latencies.append(clock() - due)
            if status != 200:
                errors += 1
            idle.append(conn)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            errors += 1

    tasks: set[asyncio.Task] = set()
    n = int(rate * seconds)
    t0 = clock() + 0.05
    for k in range(n):
        due = t0 + k / rate
        delay = due - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        lags.append(clock() - due)
        if len(tasks) >= MAX_CONNS:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        task = asyncio.create_task(one(k, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=max(10.0, seconds))
        for task in pending:
            task.cancel()
        errors += len(pending)
    for conn in idle:
        conn.writer.close()
    return {"sent": n, "done": len(latencies), "errors": errors, "conns": opened,
            "p50_ms": _pct(latencies, 0.50) * 1e3, "p99_ms": _pct(latencies, 0.99) * 1e3,
            "lag_p99_ms": _pct(lags, 0.99) * 1e3, "seconds": seconds, "rate": rate}


async def closed_loop(port: int, conns: int, seconds: float) -> dict:
    done = errors = 0
    clock = time.perf_counter
    start = clock()
    deadline = start + seconds

    async def worker() -> None:
        nonlocal done, errors
        conn = await _connect(port)
        k = 0
        while clock() < deadline:
            if await conn.get(f"/ask?i={k}") == 200:
                done += 1
            else:
                errors += 1
            k += 1
        conn.writer.close()

    await asyncio.gather(*(worker() for _ in range(conns)))
    elapsed = clock() - start
    return {"done": done, "errors": errors, "seconds": elapsed, "rps": done / elapsed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=("open", "closed"), required=True)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--conns", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--cpu", type=int, default=None)
    args = parser.parse_args(argv)
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    if args.mode == "open":
        result = asyncio.run(open_loop(args.port, args.rate, args.seconds))
    else:
        result = asyncio.run(closed_loop(args.port, args.conns, args.seconds))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
