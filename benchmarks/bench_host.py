"""What the host pays: a real FastAPI + LangChain server without collapse-otel, with its
analysis on a worker thread (the in-process design), and with its analysis in a child process.

One uvicorn worker (``benchmarks.host_app``) pinned to one core, the load generator
(``benchmarks.host_load``) in another process pinned to the other core. For each app row and
each pair, one server process per design in a rotating order (so drift of the shared machine falls
on every side): ``off`` (no collapse-otel), ``on`` (``instrument()``: the analysis on a worker
thread of the server) and ``proc`` (``instrument(analysis="process")``: the analysis in a child
process, which inherits the server's core). Each:

1. warm-up (closed loop, not counted);
2. capacity: closed loop, requests/s (the queue is then drained, not counted);
3. open loop at 60% of the pair's capacity without collapse-otel (the same rate every way):
   p50/p99 latency from each request's due time, and CPU time (every thread, /proc) per
   request, after the analysis is drained: the server process's, and the server's plus its
   analysis process's.

Ratios are design / without per pair; the table gives their median and every pair. Rows:
``chain`` (prompt | fake chat model | parser, 100-word WikiText-2 answers), ``cpu5ms`` (the
same after 5 ms of the app's own CPU work per request) and ``agent`` (a LangGraph graph with
3 LLM calls per turn). A fourth server, ``noop``, attaches a do-nothing inline handler the
way ``instrument()`` attaches collapse-otel's: what LangChain's callback machinery costs by
itself, so the table shows LangChain's share beside collapse-otel's.
``python -m benchmarks.bench_host [--quick]``; environment overrides BENCH_HOST_PAIRS,
BENCH_HOST_SECONDS, BENCH_HOST_CAPACITY_SECONDS, BENCH_HOST_ROWS, BENCH_HOST_DESIGNS
(comma-separated, of noop, on, proc).
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


def _cpu_of(pid: int | None) -> float:
    try:
        return _cpu_seconds(pid) if pid else 0.0
    except (FileNotFoundError, ProcessLookupError):
        return 0.0


def _phase(row: str, mode: str, seconds: float, capacity_seconds: float,
           rate: float | None) -> dict:
    """One server process: warm-up, capacity, then the open loop at ``rate`` (None: 60% of
    the capacity just measured)."""
    server_cpu, load_cpu = _cores()
    server = _Server(row, mode, server_cpu)
    try:
        _load(server.port, load_cpu, "closed", max(0.5, capacity_seconds / 3))   # warm-up
        start = server.get("/_bench/flush")
        capacity = _load(server.port, load_cpu, "closed", capacity_seconds)
        before = server.get("/_bench/flush")
        rate = rate if rate is not None else LOAD_FRACTION * capacity["rps"]
        child = before["analysis_pid"]
        cpu0, child0 = server.cpu(), _cpu_of(child)
        opened = _load(server.port, load_cpu, "open", seconds, rate=rate)
        flushed = server.get("/_bench/flush")
        cpu, child_cpu = server.cpu() - cpu0, _cpu_of(child) - child0
    finally:
        server.close()
    done = max(1, opened["done"])
    records = flushed["records"] - before["records"]
    return {"capacity": capacity["rps"], "rate": rate, "p50": opened["p50_ms"],
            "p99": opened["p99_ms"], "cpu_ms": cpu * 1e3 / done,
            "cpu_total_ms": (cpu + child_cpu) * 1e3 / done,
            "errors": opened["errors"] + capacity["errors"], "lag_p99": opened["lag_p99_ms"],
            "dropped": flushed["dropped"] - before["dropped"],
            "dropped_capacity": before["dropped"] - start["dropped"],
            "capacity_requests": capacity.get("done", 0),
            "load": _load_average(), "done": opened["done"], "records": records,
            "analysis_ms": (flushed["analysis_seconds"] - before["analysis_seconds"]) * 1e3
            / max(1, records)}


# a do-nothing handler (LangChain's own callback cost), in-process (worker thread), separate
# process
DESIGNS = ("noop", "on", "proc")
DESIGN_TITLES = {"noop": "no-op handler", "on": "in-process", "proc": "separate process"}
ORDERS = (("off", "noop", "on", "proc"), ("proc", "on", "noop", "off"),
          ("on", "off", "proc", "noop"), ("noop", "proc", "off", "on"))


def measure(row: str, pairs: int, seconds: float, capacity_seconds: float,
            designs: tuple[str, ...] = DESIGNS) -> list[dict]:
    """Per pair: {"off": phase, and one per design}; the order rotates between pairs.
    The open-loop rate is 60% of the pair's own capacity without collapse-otel when that
    phase runs first, else the previous pair's."""
    out: list[dict] = []
    for i in range(pairs):
        order = [m for m in ORDERS[i % len(ORDERS)] if m == "off" or m in designs]
        if i == 0 and order[0] != "off":
            order.remove("off")
            order.insert(0, "off")
        pair: dict[str, dict] = {}
        rate = out[-1]["off"]["rate"] if out else None
        for mode in order:
            if mode == "off" and order[0] == "off":
                pair["off"] = _phase(row, "off", seconds, capacity_seconds, None)
                rate = pair["off"]["rate"]
            else:
                pair[mode] = _phase(row, mode, seconds, capacity_seconds, rate)
        out.append(pair)
    return out


RATIOS = (  # (key, label, target)
    ("p99", "p99 latency", TARGETS["p99"]),
    ("p50", "p50 latency", ""),
    ("cpu_ms", "server-process CPU per request", ""),
    ("cpu_total_ms", "server + analysis-process CPU per request", ""),
    ("capacity", "unthrottled capacity", TARGETS["capacity"]),
)


def ratios(pairs: list[dict], design: str = "on") -> dict[str, list[float]]:
    return {key: [p[design][key] / p["off"][key] for p in pairs] for key, _, _ in RATIOS}


def rows_for(row: str, pairs: list[dict]) -> list[dict]:
    off = {key: statistics.median(p["off"][key] for p in pairs)
           for key in ("p50", "p99", "cpu_ms", "cpu_total_ms", "capacity", "rate")}
    units = {"p99": f"{off['p99']:.1f} ms", "p50": f"{off['p50']:.1f} ms",
             "cpu_ms": f"{off['cpu_ms']:.2f} ms", "cpu_total_ms": f"{off['cpu_total_ms']:.2f} ms",
             "capacity": f"{off['capacity']:.0f} req/s"}
    out = []
    for design in (d for d in DESIGNS if d in pairs[0]):
        r = ratios(pairs, design)
        load = statistics.median(p[m]["load"] for p in pairs for m in ("off", design))
        dropped = sum(p[design]["dropped"] for p in pairs)
        at_capacity = sum(p[design]["dropped_capacity"] for p in pairs)
        analysis = statistics.median(p[design]["analysis_ms"] for p in pairs)
        errors = sum(p[m]["errors"] for p in pairs for m in ("off", design))
        for key, label, target in RATIOS:
            each = ", ".join(f"{v:.2f}" for v in r[key])
            note = f"pairs {each}; without: {units[key]}"
            if key == "cpu_total_ms":
                note += f"; analysis {analysis:.2f} ms wall per record"
            if key == "p99":
                note += (f"; open loop {off['rate']:.0f} req/s; load avg {load:.1f}; "
                         f"dropped {dropped}, errors {errors}")
            if key == "capacity":
                note += f"; answers dropped in the capacity phases {at_capacity}"
            out.append({"name": f"host {ROW_TITLES[row]}: {label}, "
                                f"{DESIGN_TITLES[design]} / without",
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
    designs = tuple(env.get("BENCH_HOST_DESIGNS", ",".join(DESIGNS)).split(","))
    out: list[dict] = []
    for row in rows:
        out.extend(rows_for(row, measure(row, pairs, seconds, capacity_seconds, designs)))
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
