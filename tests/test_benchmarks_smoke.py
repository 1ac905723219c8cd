"""The benchmark harness still runs (tiny sizes; the figures themselves come from `make bench`)."""

from __future__ import annotations

from benchmarks import simulation_signals
from benchmarks.bench_signals import memory_per_answer, stage_costs, throughput
from benchmarks.workloads import generated_answers


def test_signal_benchmarks_run_on_small_inputs():
    texts = generated_answers(300)
    assert throughput(texts, repeats=1) > 0
    stages = stage_costs(texts)
    assert all(v > 0 for v in stages.values()) and len(stages) >= 5
    total, per_answer = memory_per_answer(window=400)
    assert total > per_answer > 0


def test_simulation_signals_table_runs_on_a_small_simulation(capsys):
    assert simulation_signals.main(["--generations", "2", "--answers", "150"]) == 0
    out = capsys.readouterr().out
    assert "## replace" in out and "## accumulate" in out and "## summary" in out
    for name, _, _ in simulation_signals.SIGNALS:
        assert out.count(f"| {name} ") == 3, name  # a row in both regime tables and the summary
    assert "| gen2 " in out and "distinct_2" in out


def test_embedder_table_runs_on_a_small_simulation(capsys):
    from benchmarks import embedders

    assert embedders.main(["--embedders", "hashed", "--answers", "150", "--sample", "150",
                           "--generations", "2", "--corpus", "wikitext",
                           "--human-sets", "xsum_gpt-4"]) == 0
    out = capsys.readouterr().out
    assert "| hashed | wikitext | 0 | replace | 2 |" in out and "| hashed | xsum_gpt-4 |" in out
    assert "replace_vendi_step=" in out
