"""What the host pays: a real FastAPI + LangChain server with and without collapse-otel.

One uvicorn worker (``benchmarks.host_app``) pinned to one core, the load generator
(``benchmarks.host_load``) in another process pinned to the other core. For each app row and
each pair, one server process without collapse-otel and one with ``instrument()`` (in
alternating order, so drift of the shared machine falls on both sides), each:

1. warm-up (closed loop, not counted);
2. capacity: closed loop, requests/s (the queue is then drained, not counted);
3. open loop at 60% of the pair's capacity without collapse-otel (the same rate both ways):
   p50/p99 latency from each request's due time, and the server process's CPU time (every
   thread, /proc) per request, after the analysis queue is drained.

Ratios are with / without per pair; the table gives their median and every pair. Rows:
``chain`` (prompt | fake chat model | parser, 100-word WikiText-2 answers), ``cpu5ms`` (the
same after 5 ms of the app's own CPU work per request) and ``agent`` (a LangGraph graph with
3 LLM calls per turn). ``python -m benchmarks.bench_host [--quick]``; environment overrides
BENCH_HOST_PAIRS, BENCH_HOST_SECONDS, BENCH_HOST_CAPACITY_SECONDS, BENCH_HOST_ROWS.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from .host_app import ROWS

LOAD_FRACTION = 0.6
TARGETS = {"p99": "<= 1.15", "capacity": ">= 0.90"}
ROW_TITLES = {"chain": "LangChain chain", "cpu5ms": "chain + 5 ms app CPU",
              "agent": "LangGraph agent, 3 LLM calls"}
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cores() -> tuple[int | None, int | None]:
    """(server core, load generator core): the last and the first core of the machine."""
    n = os.cpu_count() or 1
    if not hasattr(os, "sched_setaffinity"):
        return None, None
    return n - 1, 0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of every thread of ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _load_average() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


class _Server:
    def __init__(self, row: str, mode: str, cpu: int | None) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-host-"))
        port_file = self.tmp / "port"
        cmd = [sys.executable, "-m", "benchmarks.host_app", "--row", row, "--mode", mode,
               "--port-file", str(port_file)]
        if cpu is not None:
            cmd += ["--cpu", str(cpu)]
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(cmd, cwd=Path(__file__).resolve().parents[1], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 180
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"host app exited: {self.proc.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError("host app did not start within 180 s")
            if port_file.exists():
                self.port = int(port_file.read_text())
                try:
                    self.get("/ask?i=0")
                    break
                except OSError:
                    pass
            time.sleep(0.05)

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=300) as r:
            return json.loads(r.read())

    def cpu(self) -> float:
        return _cpu_seconds(self.proc.pid)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(60)
        shutil.rmtree(self.tmp, ignore_errors=True)


def _load(port: int, cpu: int | None, mode: str, seconds: float, rate: float = 0.0,
          conns: int = 16) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.host_load", "--port", str(port), "--mode", mode,
           "--seconds", str(seconds), "--rate", str(rate), "--conns", str(conns)]
    if cpu is not None:
        cmd += ["--cpu", str(cpu)]
    out = subprocess.run(cmd, cwd=Path(__file__).resolve().parents[1], capture_output=True,
                         check=True, timeout=seconds * 3 + 120)
    return json.loads(out.stdout)


def _phase(row: str, mode: str, seconds: float, capacity_seconds: float,
           rate: float | None) -> dict:
    """One server process: warm-up, capacity, then the open loop at ``rate`` (None: 60% of
    the capacity just measured)."""
    server_cpu, load_cpu = _cores()
    server = _Server(row, mode, server_cpu)
    try:
        _load(server.port, load_cpu, "closed", max(0.5, capacity_seconds / 3))   # warm-up
        capacity = _load(server.port, load_cpu, "closed", capacity_seconds)
        before = server.get("/_bench/flush")
        rate = rate if rate is not None else LOAD_FRACTION * capacity["rps"]
        cpu0 = server.cpu()
        opened = _load(server.port, load_cpu, "open", seconds, rate=rate)
        flushed = server.get("/_bench/flush")
        cpu = server.cpu() - cpu0
    finally:
        server.close()
    return {"capacity": capacity["rps"], "rate": rate, "p50": opened["p50_ms"],
            "p99": opened["p99_ms"], "cpu_ms": cpu * 1e3 / max(1, opened["done"]),
            "errors": opened["errors"] + capacity["errors"], "lag_p99": opened["lag_p99_ms"],
            "dropped": flushed["dropped"], "load": _load_average(), "done": opened["done"],
            "records": flushed["records"] - before["records"],
            "analysis_ms": (flushed["analysis_seconds"] - before["analysis_seconds"]) * 1e3
            / max(1, flushed["records"] - before["records"])}


def measure(row: str, pairs: int, seconds: float, capacity_seconds: float) -> list[dict]:
    """Per pair: {"off": phase, "on": phase}; the order alternates between pairs."""
    out = []
    for i in range(pairs):
        pair: dict[str, dict] = {}
        if i % 2 == 0:
            pair["off"] = _phase(row, "off", seconds, capacity_seconds, None)
            pair["on"] = _phase(row, "on", seconds, capacity_seconds, pair["off"]["rate"])
        else:
            # the with-phase goes first: its rate comes from the previous pair's capacity
            rate = out[-1]["off"]["rate"]
            pair["on"] = _phase(row, "on", seconds, capacity_seconds, rate)
            pair["off"] = _phase(row, "off", seconds, capacity_seconds, rate)
        out.append(pair)
    return out


RATIOS = (  # (key, label, target)
    ("p99", "p99 latency", TARGETS["p99"]),
    ("p50", "p50 latency", ""),
    ("cpu_ms", "CPU per request", ""),
    ("capacity", "unthrottled capacity", TARGETS["capacity"]),
)


def ratios(pairs: list[dict]) -> dict[str, list[float]]:
    return {key: [p["on"][key] / p["off"][key] for p in pairs] for key, _, _ in RATIOS}


def rows_for(row: str, pairs: list[dict]) -> list[dict]:
    r = ratios(pairs)
    off = {key: statistics.median(p["off"][key] for p in pairs)
           for key in ("p50", "p99", "cpu_ms", "capacity", "rate")}
    load = statistics.median(p[m]["load"] for p in pairs for m in ("off", "on"))
    dropped = sum(p["on"]["dropped"] for p in pairs)
    analysis = statistics.median(p["on"]["analysis_ms"] for p in pairs)
    errors = sum(p[m]["errors"] for p in pairs for m in ("off", "on"))
    units = {"p99": f"{off['p99']:.1f} ms", "p50": f"{off['p50']:.1f} ms",
             "cpu_ms": f"{off['cpu_ms']:.2f} ms", "capacity": f"{off['capacity']:.0f} req/s"}
    out = []
    for key, label, target in RATIOS:
        each = ", ".join(f"{v:.2f}" for v in r[key])
        note = f"pairs {each}; without: {units[key]}"
        if key == "cpu_ms":
            note += f"; analysis {analysis:.2f} ms wall per record on the worker"
        if key == "p99":
            note += (f"; open loop {off['rate']:.0f} req/s; load avg {load:.1f}; "
                     f"dropped {dropped}, errors {errors}")
        out.append({"name": f"host {ROW_TITLES[row]}: {label}, with / without",
                    "value": statistics.median(r[key]), "unit": "x", "target": target,
                    "note": note})
    return out


def run(pairs: int | None = None, seconds: float | None = None,
        capacity_seconds: float | None = None, rows: tuple[str, ...] | None = None) -> list[dict]:
    env = os.environ
    pairs = pairs or int(env.get("BENCH_HOST_PAIRS", 3))
    seconds = seconds or float(env.get("BENCH_HOST_SECONDS", 30))
    capacity_seconds = capacity_seconds or float(env.get("BENCH_HOST_CAPACITY_SECONDS",
                                                         max(1.0, seconds / 3)))
    rows = rows or tuple(env.get("BENCH_HOST_ROWS", ",".join(ROWS)).split(","))
    out: list[dict] = []
    for row in rows:
        out.extend(rows_for(row, measure(row, pairs, seconds, capacity_seconds)))
    return out


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    result = run(pairs=1, seconds=2.0, capacity_seconds=1.0) if quick else run()
    for row in result:
        print(f"{row['name']}: {row['value']:.3f}{row['unit']} (target {row['target'] or '-'}; "
              f"{row['note']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
