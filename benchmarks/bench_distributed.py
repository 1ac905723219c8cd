"""The audit and the offline compare over partitions on a local Dask cluster: rows per second
on 1, 2 and 4 worker processes (one thread each) against one process, and each worker's peak
RSS (reset between the audit and the compare).

The corpus is one JSONL version of generated 100-word rows (four sources, a tenth of them
synthetic), a 500-row holdout and the hashes of 2,000 own answers; diversity is off, since its
sample of at most 1,000 rows per source is a fixed cost on the driver, not per row. Each worker
first audits 300 rows in 4 KiB partitions (imports and first calls, paid once per worker). Workers
are not pinned to the benchmark's one core: the suite lifts the pin for the cluster and
restores it after. On a 2-core machine 4 workers share 2 cores, so they cannot beat 2.
The compare judges two JSONL sides of generated answers (COMPARE_ROWS each, the candidate
with a fifth of them templated) end to end: reading, analysis, windows and the gate with its
200-split permutation tests; its rows per second count the answers of both sides.
``python -m benchmarks.bench_distributed [ROWS]`` runs it alone (80,000 rows by default).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from .workloads import generated_answers

ROWS = 80_000
COMPARE_ROWS = 20_000
BLOCK_MIB = 2
COMPARE_BLOCK_MIB = 1
WORKERS = (1, 2, 4)


def _corpus(tmp: Path, rows: int) -> tuple[Path, Path, set[int]]:
    from collapse_otel.state.answer_hashes import answer_hash

    texts = generated_answers(rows, seed=7)
    sources = ("web", "books", "forum")
    path = tmp / "v1.jsonl"
    with path.open("w") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"text": t, "source": "synthetic" if i % 10 == 0 else sources[i % 3]})
                    + "\n")
    holdout = tmp / "holdout.jsonl"
    holdout.write_text("".join(json.dumps({"text": t}) + "\n"
                               for t in generated_answers(500, seed=8)))
    return path, holdout, {answer_hash(t) for t in texts[:2000]}


def _compare_sides(tmp: Path, rows: int) -> list[Path]:
    from .workloads import templated_answers

    base = generated_answers(rows, seed=11)
    cand = generated_answers(rows - rows // 5, seed=12) + templated_answers(rows // 5, seed=13)
    paths = []
    for name, texts in (("baseline", base), ("candidate", cand)):
        path = tmp / f"{name}.jsonl"
        with path.open("w") as f:
            for i, t in enumerate(texts):
                f.write(json.dumps({"answer": t, "prompt": f"question {i % 500}",
                                    "completion_tokens": len(t.split())}) + "\n")
        paths.append(path)
    return paths


def _compare(paths: list[Path], client=None) -> str:
    """The JSON report of the comparison: on the client's cluster, or in this process."""
    from collapse_otel.compare import report_json
    from collapse_otel.compare.distributed import read_sides_distributed
    from collapse_otel.compare.engine import CompareOptions
    from collapse_otel.compare.gate import run_gate
    from collapse_otel.compare.inputs import Selection, read_side

    opts = CompareOptions()
    sel = [Selection(), Selection(flag="--candidate-release")]
    if client is None:
        sides = [read_side(str(p), s) for p, s in zip(paths, sel, strict=True)]
    else:
        sides = read_sides_distributed([str(p) for p in paths], sel, opts,
                                       blocksize=COMPARE_BLOCK_MIB * 2**20)
    return report_json.render(run_gate(*sides, opts))


def _reset_peak() -> bool:
    """Start the peak RSS (VmHWM) again from the current RSS (Linux clear_refs 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def _peak_rss_mib() -> float:
    """The process's own peak RSS (VmHWM: unlike ru_maxrss, not inherited from the parent
    that started the worker)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def run(rows: int = ROWS) -> list[dict]:
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:   # the optional extra is not installed
        print(f"skipping bench_distributed: {exc}", file=sys.stderr)
        return []
    from collapse_otel.audit.distributed import run_audit_distributed
    from collapse_otel.audit.engine import AuditOptions, run_audit
    from collapse_otel.audit.inputs import read_holdout, read_version

    opts = AuditOptions(diversity=None)
    out: list[dict] = []
    pinned = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    with tempfile.TemporaryDirectory() as tmp:
        path, holdout_path, own = _corpus(Path(tmp), rows)
        warm = Path(tmp) / "warm.jsonl"   # imports and first-call costs, paid once per worker
        with path.open() as f:
            warm.write_text("".join(line for _, line in zip(range(300), f, strict=False)))
        holdout = read_holdout(holdout_path, "text")
        start, cpu = time.perf_counter(), _cpu_seconds()
        single = run_audit([read_version(path, opts.columns)], opts, holdout=holdout,
                           own_hashes=own)
        seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
        out.append({"name": "audit, one process", "value": rows / seconds, "unit": "rows/s",
                    "note": f"{rows:,} rows, {os.cpu_count()} cores, load "
                            f"{os.getloadavg()[0]:.1f}, {rows / cpu:,.0f} rows per CPU-s"})
        sides = _compare_sides(Path(tmp), COMPARE_ROWS)
        start, cpu = time.perf_counter(), _cpu_seconds()
        single_report = _compare(sides)
        seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
        out.append({"name": "compare, one process", "value": 2 * COMPARE_ROWS / seconds,
                    "unit": "rows/s", "note": f"2 x {COMPARE_ROWS:,} answers, load "
                    f"{os.getloadavg()[0]:.1f}, {2 * COMPARE_ROWS / cpu:,.0f} rows per CPU-s "
                    f"({cpu:.1f} CPU-s)"})
        if pinned is not None:
            os.sched_setaffinity(0, range(os.cpu_count() or 1))   # the workers' own cores
        try:
            for n in WORKERS:
                with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
                        Client(cluster) as client:
                    client.wait_for_workers(n)
                    run_audit_distributed([str(warm)], opts, holdout=holdout, own_hashes=own,
                                          blocksize=4096)   # tiny blocks: every worker warms
                    load = os.getloadavg()[0]
                    before = client.run(_cpu_seconds)
                    start = time.perf_counter()
                    result = run_audit_distributed([str(path)], opts, holdout=holdout,
                                                   own_hashes=own,
                                                   blocksize=BLOCK_MIB * 2**20)
                    seconds = time.perf_counter() - start
                    after = client.run(_cpu_seconds)
                    rss = client.run(_peak_rss_mib)
                    compared = _compare_on(client, sides)
                cpu = sum(after[w] - before[w] for w in after)
                if result != single:
                    raise AssertionError(f"{n} workers: the audit differs from one process")
                parts = -(-path.stat().st_size // (BLOCK_MIB * 2**20))
                out.append({"name": f"audit, dask, {n} worker{'s' * (n > 1)}",
                            "value": rows / seconds, "unit": "rows/s",
                            "note": f"{parts} partitions, equal to one process, load {load:.1f}, "
                                    f"{rows / cpu:,.0f} rows per worker CPU-s"})
                out.append({"name": f"audit, dask, {n} worker{'s' * (n > 1)}: peak RSS "
                                    "per worker", "value": max(rss.values()), "unit": "MiB",
                            "note": "max over workers (VmHWM), imports included"})
                out += _compare_rows(n, compared, single_report)
        finally:
            if pinned is not None:
                os.sched_setaffinity(0, pinned)
    return out


def _compare_on(client, sides: list[Path]) -> dict:
    """The compare on the cluster, after a small warm-up run: seconds, worker CPU, peaks."""
    tmp = sides[0].parent
    warm = []
    for p in sides:
        with p.open() as f:
            path = tmp / f"warm-{p.name}"
            path.write_text("".join(line for _, line in zip(range(200), f, strict=False)))
            warm.append(path)
    _compare(warm, client)
    reset = all(client.run(_reset_peak).values())
    load = os.getloadavg()[0]
    before = client.run(_cpu_seconds)
    start, driver = time.perf_counter(), _cpu_seconds()
    report = _compare(sides, client)
    seconds, driver = time.perf_counter() - start, _cpu_seconds() - driver
    after = client.run(_cpu_seconds)
    return {"seconds": seconds, "cpu": sum(after[w] - before[w] for w in after),
            "driver": driver,
            "rss": max(client.run(_peak_rss_mib).values()), "reset": reset, "load": load,
            "report": report, "parts": sum(-(-p.stat().st_size // (COMPARE_BLOCK_MIB * 2**20))
                                           for p in sides)}


def _compare_rows(n: int, run: dict, single_report: str) -> list[dict]:
    if run["report"] != single_report:
        raise AssertionError(f"{n} workers: the comparison differs from one process")
    name = f"compare, dask, {n} worker{'s' * (n > 1)}"
    rows = 2 * COMPARE_ROWS
    return [{"name": name, "value": rows / run["seconds"], "unit": "rows/s",
             "note": f"{run['parts']} partitions, report equal to one process, load "
                     f"{run['load']:.1f}, {rows / run['cpu']:,.0f} rows per worker CPU-s, "
                     f"driver {run['driver']:.1f} CPU-s"},
            {"name": f"{name}: peak RSS per worker", "value": run["rss"], "unit": "MiB",
             "note": "max over workers (VmHWM" + (", reset after the audit)" if run["reset"]
                                                   else ", audit included)")}]


if __name__ == "__main__":
    for row in run(int(sys.argv[1]) if len(sys.argv) > 1 else ROWS):
        print(f"{row['name']}: {row['value']:,.1f} {row['unit']} ({row.get('note', '')})")
