"""Memory: what an answer leaves in a window (100-word and 100,000-character answers), and
the peak RSS of 200 busy streams under the default 512 MiB budget (in a fresh process, so the
figure is that workload's alone)."""

from __future__ import annotations

import gc
import json
import resource
import subprocess
import sys
import time
import tracemalloc

from collapse_otel.config import CollapseConfig
from collapse_otel.engine.aggregator import Aggregator
from collapse_otel.engine.feeding import observe_all
from collapse_otel.records import AnswerRecord

from .workloads import generated_answers


def retained_per_answer(texts: list[str]) -> float:
    """Bytes the aggregator holds per answer (tracemalloc), an empty aggregator subtracted."""
    def measure(records: list[AnswerRecord]) -> int:
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        agg = Aggregator(CollapseConfig(window_answers=10 * len(records) + 2,
                                        refresh_seconds=3600, memory_budget_mb=1 << 20))
        observe_all(agg, records)
        gc.collect()
        out = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        del agg
        return out

    empty = measure([AnswerRecord("one short answer")])
    return (measure([AnswerRecord(t) for t in texts]) - empty) / len(texts)


def long_answers(n: int, chars: int = 100_000) -> list[str]:
    words = " ".join(generated_answers(4000, seed=21)).split()
    step = chars // 6
    return [" ".join(words[(i * 997) % 20_000:][:step])[:chars] for i in range(n)]


def streams_child(streams: int, per_stream: int) -> dict:
    """Run in a subprocess: 200 streams of 100-word answers, default config."""
    texts = generated_answers(20_000, seed=5)
    agg = Aggregator(CollapseConfig(refresh_seconds=3600))
    start = time.perf_counter()
    for round_ in range(per_stream // 250):
        for s in range(streams):
            agg.observe_batch([AnswerRecord(texts[(round_ * 250 + i + s * 37) % 20_000],
                                            release=f"v{s}") for i in range(250)])
    snap = agg.snapshot(max_age=0)
    return {"seconds": time.perf_counter() - start,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "retained_mb": agg.memory.retained / 2**20,
            "budget_mb": agg.memory.budget / 2**20,
            "limited": sum(s.window_memory_limited for s in snap.streams),
            "answers": sum(s.answers_total for s in snap.streams)}


def run() -> list[dict]:
    rows = []
    short = retained_per_answer(generated_answers(10_000, seed=7))
    rows.append(dict(name="memory: retained per 100-word answer (window of 10,000)",
                     value=short, unit="bytes", target="bounded",
                     note="tracemalloc, empty aggregator subtracted"))
    long = retained_per_answer(long_answers(200))
    rows.append(dict(name="memory: retained per 100,000-character answer",
                     value=long, unit="bytes", target="bounded",
                     note="bottom-512 shingle sketch, 4,096-character sample view"))
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_memory", "--child"],
                          capture_output=True, text=True, timeout=1800)
    child = json.loads(proc.stdout.strip().splitlines()[-1])
    rows.append(dict(name="memory: peak RSS, 200 streams x 2,000 answers, default budget",
                     value=child["peak_rss_mb"], unit="MiB",
                     target=f"budget {child['budget_mb']:.0f} MiB + process",
                     note=f"{child['answers']:,} answers in {child['seconds']:.0f} s; windows "
                          f"hold {child['retained_mb']:.0f} MiB (estimate); "
                          f"{child['limited']} of 200 windows cut by the budget"))
    return rows


if __name__ == "__main__":
    if "--child" in sys.argv:
        print(json.dumps(streams_child(200, 2000)))
    else:
        for row in run():
            print(row)
