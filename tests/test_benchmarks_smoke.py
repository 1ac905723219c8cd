"""The benchmark harness still runs (tiny sizes; the figures themselves come from `make bench`)."""

from __future__ import annotations

from benchmarks.bench_signals import memory_per_answer, stage_costs, throughput
from benchmarks.workloads import generated_answers


def test_signal_benchmarks_run_on_small_inputs():
    texts = generated_answers(300)
    assert throughput(texts, repeats=1) > 0
    stages = stage_costs(texts)
    assert all(v > 0 for v in stages.values()) and len(stages) >= 5
    total, per_answer = memory_per_answer(window=400)
    assert total > per_answer > 0
